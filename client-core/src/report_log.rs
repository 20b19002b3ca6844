//! What the phone tells the office about itself with each sync (the fleet view): its versions,
//! its clock, its outbox, parked changes, media waiting, free storage, its last error, and the
//! warnings and errors it logged since it last reported, so support can see what went wrong on
//! a phone in a basement without asking the installer.

use fieldsync_protocol::Millis;
use fieldsync_protocol::wire::{self, DeviceReport, LogEntry, MAX_LOG_MESSAGE, MAX_REPORTED_LOG};
use rusqlite::{Connection, Transaction};

use crate::db::CachedStatements;
use crate::error::Result;
use crate::store::{Store, meta_get, meta_set};

/// Log entries kept on the phone at most; the oldest go first.
const MAX_KEPT_LOG: i64 = 200;

/// A warning or an error worth the office's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something that may resolve itself (the network).
    Warn,
    /// Something that needs a person.
    Error,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

impl Store {
    /// Logs a problem for the office (sent with the next sync report) and remembers it as the
    /// last error until a sync succeeds.
    pub fn log_problem(&self, severity: Severity, message: &str, at: Millis) -> Result<()> {
        let message: String = message.chars().take(MAX_LOG_MESSAGE).collect();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute_cached(
            "INSERT INTO device_log (at, level, message) VALUES (?1, ?2, ?3)",
            rusqlite::params![at, severity.as_str(), message],
        )?;
        tx.execute_cached(
            "DELETE FROM device_log WHERE id <= (SELECT MAX(id) FROM device_log) - ?1",
            [MAX_KEPT_LOG],
        )?;
        meta_set(&tx, "last_error", &message)?;
        tx.commit()?;
        Ok(())
    }

    /// Records what the app knows and the library does not: its version and the free storage.
    pub fn set_app_facts(&self, app_version: &str, free_storage_bytes: Option<u64>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        meta_set(&tx, "app_version", app_version)?;
        match free_storage_bytes {
            Some(bytes) => meta_set(&tx, "free_storage_bytes", &bytes.to_string())?,
            None => {
                tx.execute_cached("DELETE FROM meta WHERE key = 'free_storage_bytes'", [])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// The report for a request made at `now`, and the id of the newest log entry it carries.
pub(crate) fn build(conn: &Connection, now: Millis) -> Result<(DeviceReport, i64)> {
    let count =
        |sql: &str| -> Result<i64> { Ok(conn.query_row_cached(sql, [], |row| row.get(0))?) };
    let oldest_outbox_at: Option<i64> = conn.query_row_cached(
        "SELECT MIN(created_at) FROM outbox WHERE parked = 0",
        [],
        |row| row.get(0),
    )?;
    let mut stmt =
        conn.prepare_cached("SELECT id, at, level, message FROM device_log ORDER BY id LIMIT ?1")?;
    let mut newest = 0;
    let log = stmt
        .query_map([MAX_REPORTED_LOG as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                LogEntry {
                    at: row.get(1)?,
                    level: row.get(2)?,
                    message: row.get(3)?,
                },
            ))
        })?
        .map(|row| {
            row.map(|(id, entry)| {
                newest = id;
                entry
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
    let report = DeviceReport {
        app_version: meta_get(conn, "app_version")?.unwrap_or_default(),
        library_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: wire::PROTOCOL_VERSION,
        device_time: now,
        outbox_depth: to_u64(count("SELECT COUNT(*) FROM outbox WHERE parked = 0")?),
        oldest_outbox_at,
        parked: to_u64(count("SELECT COUNT(*) FROM outbox WHERE parked = 1")?),
        pending_media_bytes: to_u64(count(
            "SELECT COALESCE(SUM(size), 0) FROM blob_state WHERE kind = 'captured' AND uploaded = 0",
        )?),
        free_storage_bytes: meta_get(conn, "free_storage_bytes")?.and_then(|v| v.parse().ok()),
        last_error: meta_get(conn, "last_error")?,
        log,
    };
    Ok((report, newest))
}

/// The server has the report: its log entries are forgotten, and the last error with them.
pub(crate) fn delivered(tx: &Transaction<'_>, newest_log_id: i64) -> Result<()> {
    tx.execute_cached("DELETE FROM device_log WHERE id <= ?1", [newest_log_id])?;
    tx.execute_cached("DELETE FROM meta WHERE key = 'last_error'", [])?;
    Ok(())
}
