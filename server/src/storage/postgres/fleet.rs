//! PostgreSQL for the fleet: device reports, syncs and forwarded logs.

use super::{Tx, to_i64, to_u64};
use crate::storage::StorageError;
use crate::storage::fleet::{
    DeviceLogEntry, FleetStore, FleetStoreMut, KEPT_LOG, KEPT_SYNCS, StoredReport, SyncEntry,
};

/// The fleet's layout: SQLite's after its migration 6. Device ids sort bytewise
/// (`COLLATE "C"`), as in SQLite.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE device_reports (
        device_id TEXT COLLATE "C" PRIMARY KEY,
        report TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        clock_skew_ms BIGINT NOT NULL
    );
    CREATE TABLE device_syncs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id TEXT COLLATE "C" NOT NULL,
        at BIGINT NOT NULL,
        pushed BIGINT NOT NULL,
        outbox_depth BIGINT
    );
    CREATE INDEX device_syncs_by_device ON device_syncs(device_id, id);
    CREATE TABLE device_logs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id TEXT COLLATE "C" NOT NULL,
        at BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX device_logs_by_device ON device_logs(device_id, id);
"#;

/// A stored report that does not decode, or a report that does not encode.
fn corrupt(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt(format!("device report: {e}"))
}

impl FleetStore for Tx<'_> {
    fn device_report(&self, device_id: &str) -> Result<Option<StoredReport>, StorageError> {
        let row = self.query_opt(
            "SELECT report, received_at, clock_skew_ms FROM device_reports WHERE device_id = $1",
            &[&device_id],
        )?;
        row.map(|r| {
            Ok(StoredReport {
                report: serde_json::from_str(r.try_get(0)?).map_err(corrupt)?,
                received_at: r.try_get(1)?,
                clock_skew_ms: r.try_get(2)?,
            })
        })
        .transpose()
    }

    fn device_syncs(&self, device_id: &str, limit: u64) -> Result<Vec<SyncEntry>, StorageError> {
        let rows = self.query(
            "SELECT at, pushed, outbox_depth FROM device_syncs WHERE device_id = $1
             ORDER BY id DESC LIMIT $2",
            &[&device_id, &to_i64(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(SyncEntry {
                    at: r.try_get(0)?,
                    pushed: to_u64(r.try_get(1)?),
                    outbox_depth: r.try_get::<_, Option<i64>>(2)?.map(to_u64),
                })
            })
            .collect()
    }

    fn device_log(&self, device_id: &str, limit: u64) -> Result<Vec<DeviceLogEntry>, StorageError> {
        let rows = self.query(
            "SELECT at, received_at, level, message FROM device_logs WHERE device_id = $1
             ORDER BY id DESC LIMIT $2",
            &[&device_id, &to_i64(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DeviceLogEntry {
                    at: r.try_get(0)?,
                    received_at: r.try_get(1)?,
                    level: r.try_get(2)?,
                    message: r.try_get(3)?,
                })
            })
            .collect()
    }
}

impl FleetStoreMut for Tx<'_> {
    fn record_sync(
        &mut self,
        device_id: &str,
        entry: &SyncEntry,
        report: Option<&StoredReport>,
    ) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO device_syncs (device_id, at, pushed, outbox_depth)
             VALUES ($1, $2, $3, $4)",
            &[
                &device_id,
                &entry.at,
                &to_i64(entry.pushed),
                &entry.outbox_depth.map(to_i64),
            ],
        )?;
        self.execute(
            "DELETE FROM device_syncs WHERE device_id = $1 AND id NOT IN
               (SELECT id FROM device_syncs WHERE device_id = $1 ORDER BY id DESC LIMIT $2)",
            &[&device_id, &to_i64(KEPT_SYNCS)],
        )?;
        let Some(stored) = report else {
            return Ok(());
        };
        let json = serde_json::to_string(&stored.report).map_err(corrupt)?;
        self.execute(
            "INSERT INTO device_reports (device_id, report, received_at, clock_skew_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (device_id) DO UPDATE SET report = excluded.report,
               received_at = excluded.received_at, clock_skew_ms = excluded.clock_skew_ms",
            &[
                &device_id,
                &json,
                &stored.received_at,
                &stored.clock_skew_ms,
            ],
        )?;
        for line in &stored.report.log {
            self.execute(
                "INSERT INTO device_logs (device_id, at, received_at, level, message)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &device_id,
                    &line.at,
                    &stored.received_at,
                    &line.level,
                    &line.message,
                ],
            )?;
        }
        self.execute(
            "DELETE FROM device_logs WHERE device_id = $1 AND id NOT IN
               (SELECT id FROM device_logs WHERE device_id = $1 ORDER BY id DESC LIMIT $2)",
            &[&device_id, &to_i64(KEPT_LOG)],
        )?;
        Ok(())
    }
}
