//! SQLite for the fleet: device reports, syncs and forwarded logs.

use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, Tx, to_i64, to_u64};
use crate::storage::StorageError;
use crate::storage::fleet::{
    DeviceLogEntry, FleetStore, FleetStoreMut, KEPT_LOG, KEPT_SYNCS, StoredReport, SyncEntry,
};

/// Migration 6: the fleet's tables.
pub(super) const MIGRATION: &str = "
    CREATE TABLE device_reports (
        device_id TEXT PRIMARY KEY NOT NULL,
        report TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        clock_skew_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE device_syncs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        pushed INTEGER NOT NULL,
        outbox_depth INTEGER
    ) STRICT;
    CREATE INDEX device_syncs_by_device ON device_syncs(device_id, id);
    CREATE TABLE device_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    ) STRICT;
    CREATE INDEX device_logs_by_device ON device_logs(device_id, id);";

fn corrupt(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("device report: {e}"))
}

impl FleetStore for Tx<'_> {
    fn device_report(&self, device_id: &str) -> Result<Option<StoredReport>, StorageError> {
        let row = self
            .0
            .query_row_cached(
                "SELECT report, received_at, clock_skew_ms FROM device_reports WHERE device_id = ?1",
                [device_id],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(json, received_at, clock_skew_ms)| {
            Ok(StoredReport {
                report: serde_json::from_str(&json).map_err(corrupt)?,
                received_at,
                clock_skew_ms,
            })
        })
        .transpose()
    }

    fn device_syncs(&self, device_id: &str, limit: u64) -> Result<Vec<SyncEntry>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT at, pushed, outbox_depth FROM device_syncs WHERE device_id = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![device_id, to_i64(limit)], |r| {
            Ok(SyncEntry {
                at: r.get(0)?,
                pushed: to_u64(r.get(1)?),
                outbox_depth: r.get::<_, Option<i64>>(2)?.map(to_u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn device_log(&self, device_id: &str, limit: u64) -> Result<Vec<DeviceLogEntry>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT at, received_at, level, message FROM device_logs WHERE device_id = ?1
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![device_id, to_i64(limit)], |r| {
            Ok(DeviceLogEntry {
                at: r.get(0)?,
                received_at: r.get(1)?,
                level: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

impl FleetStoreMut for Tx<'_> {
    fn record_sync(
        &mut self,
        device_id: &str,
        entry: &SyncEntry,
        report: Option<&StoredReport>,
    ) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO device_syncs (device_id, at, pushed, outbox_depth) VALUES (?1, ?2, ?3, ?4)",
            params![
                device_id,
                entry.at,
                to_i64(entry.pushed),
                entry.outbox_depth.map(to_i64)
            ],
        )?;
        self.0.execute_cached(
            "DELETE FROM device_syncs WHERE device_id = ?1 AND id NOT IN
               (SELECT id FROM device_syncs WHERE device_id = ?1 ORDER BY id DESC LIMIT ?2)",
            params![device_id, to_i64(KEPT_SYNCS)],
        )?;
        let Some(stored) = report else {
            return Ok(());
        };
        let json = serde_json::to_string(&stored.report).map_err(corrupt)?;
        self.0.execute_cached(
            "INSERT INTO device_reports (device_id, report, received_at, clock_skew_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (device_id) DO UPDATE SET report = excluded.report,
               received_at = excluded.received_at, clock_skew_ms = excluded.clock_skew_ms",
            params![device_id, json, stored.received_at, stored.clock_skew_ms],
        )?;
        for line in &stored.report.log {
            self.0.execute_cached(
                "INSERT INTO device_logs (device_id, at, received_at, level, message)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    device_id,
                    line.at,
                    stored.received_at,
                    line.level,
                    line.message
                ],
            )?;
        }
        self.0.execute_cached(
            "DELETE FROM device_logs WHERE device_id = ?1 AND id NOT IN
               (SELECT id FROM device_logs WHERE device_id = ?1 ORDER BY id DESC LIMIT ?2)",
            params![device_id, to_i64(KEPT_LOG)],
        )?;
        Ok(())
    }
}
