//! The embedded SQLite backend: one file, one writer.
//!
//! The connection is used only from blocking threads (the HTTP layer calls storage through
//! `spawn_blocking`), never on the async executor.

use std::path::Path;
use std::sync::Mutex;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{
    DeviceRecord, Event, EventKind, HistoryEntry, NewChange, ReadTx, Storage, StorageError,
    StoredJob, User, WriteTx,
};

/// Numbered migrations over `PRAGMA user_version`; never edit a shipped one.
const MIGRATIONS: &[&str] = &[
    // 1: the first layout.
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) STRICT;
    CREATE TABLE users (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        region TEXT NOT NULL DEFAULT '',
        skills TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY NOT NULL,
        doc BLOB NOT NULL,
        assignee TEXT,
        status TEXT NOT NULL,
        call_received_at INTEGER NOT NULL,
        summary TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX jobs_by_assignee ON jobs(assignee);
    CREATE INDEX jobs_by_status ON jobs(status);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        kind TEXT NOT NULL CHECK (kind IN ('change', 'enter', 'leave')),
        user_id TEXT,
        origin_device TEXT,
        hash BLOB,
        change BLOB,
        received_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX events_by_job ON events(job_id, seq);
    CREATE INDEX events_by_user ON events(user_id, seq) WHERE user_id IS NOT NULL;
    CREATE UNIQUE INDEX events_change_hash ON events(job_id, hash) WHERE hash IS NOT NULL;
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        actor BLOB NOT NULL,
        last_presented_cursor INTEGER NOT NULL,
        last_issued_cursor INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX devices_by_user ON devices(user_id);
    CREATE TABLE actors (
        actor BLOB PRIMARY KEY NOT NULL,
        device_id TEXT NOT NULL
    ) STRICT;",
];

/// The SQLite storage backend.
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    /// The server's actor for this process (see [`ReadTx::server_actor`]).
    actor: Vec<u8>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl SqliteStorage {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let current = usize::try_from(current).unwrap_or(0);
        if current > MIGRATIONS.len() {
            return Err(StorageError::Database(format!(
                "the database has schema version {current}, newer than this server's {}",
                MIGRATIONS.len()
            )));
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(migration)?;
            if index == 0 {
                let server_id = format!("srv-{}", uuid::Uuid::new_v4().simple());
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('server_id', ?1)",
                    [server_id.as_bytes()],
                )?;
            }
            tx.pragma_update(None, "user_version", to_i64(index as u64 + 1))?;
            tx.commit()?;
        }
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            actor: uuid::Uuid::new_v4().as_bytes().to_vec(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Storage for SqliteStorage {
    fn read_tx(
        &self,
        f: &mut dyn FnMut(&dyn ReadTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        f(&Tx(tx, &self.actor))
    }

    fn write_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut tx = Tx(tx, &self.actor);
        f(&mut tx)?;
        tx.0.commit()?;
        Ok(())
    }
}

struct Tx<'c>(Transaction<'c>, &'c [u8]);

fn summary_from(json: &str) -> Result<JobSummary, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("job summary: {e}")))
}

impl ReadTx for Tx<'_> {
    fn server_id(&self) -> Result<String, StorageError> {
        let bytes: Vec<u8> =
            self.0
                .query_row("SELECT value FROM meta WHERE key = 'server_id'", [], |r| {
                    r.get(0)
                })?;
        String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
    }

    fn server_actor(&self) -> Result<Vec<u8>, StorageError> {
        Ok(self.1.to_vec())
    }

    fn device_for_actor(&self, actor: &[u8]) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .query_row(
                "SELECT device_id FROM actors WHERE actor = ?1",
                [actor],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn max_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 = self
            .0
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        Ok(to_u64(seq))
    }

    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError> {
        let row = self
            .0
            .query_row(
                "SELECT doc, summary FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        row.map(|(doc, summary)| {
            Ok(StoredJob {
                doc,
                summary: summary_from(&summary)?,
            })
        })
        .transpose()
    }

    fn list_jobs(&self) -> Result<Vec<JobSummary>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT summary FROM jobs ORDER BY call_received_at, job_id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|row| summary_from(&row?)).collect()
    }

    fn events_for_user(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT seq, job_id, kind, user_id, origin_device, change FROM events
             WHERE seq > ?1 AND (
               (kind = 'change' AND job_id IN (SELECT job_id FROM jobs WHERE assignee = ?2))
               OR (kind IN ('enter', 'leave') AND user_id = ?2))
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![to_i64(after), user, to_i64(limit as u64)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })?;
        rows.map(|row| {
            let (seq, job_id, kind, user, origin_device, change) = row?;
            Ok(Event {
                seq: to_u64(seq),
                job_id,
                kind: EventKind::parse(&kind)?,
                user,
                origin_device,
                change,
            })
        })
        .collect()
    }

    fn latest_entry(&self, job_id: &str, user: &str) -> Result<Option<u64>, StorageError> {
        let seq: Option<i64> = self.0.query_row(
            "SELECT MAX(seq) FROM events WHERE job_id = ?1 AND user_id = ?2 AND kind = 'enter'",
            [job_id, user],
            |r| r.get(0),
        )?;
        Ok(seq.map(to_u64))
    }

    fn ever_in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError> {
        Ok(self.latest_entry(job_id, user)?.is_some())
    }

    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError> {
        Ok(self
            .0
            .query_row(
                "SELECT device_id, user_id, actor, last_presented_cursor, last_issued_cursor, last_seen
                 FROM devices WHERE device_id = ?1",
                [device_id],
                |r| {
                    Ok(DeviceRecord {
                        device_id: r.get(0)?,
                        user_id: r.get(1)?,
                        actor: r.get(2)?,
                        last_presented_cursor: to_u64(r.get(3)?),
                        last_issued_cursor: to_u64(r.get(4)?),
                        last_seen: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn users(&self) -> Result<Vec<User>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT id, name, role, region, skills FROM users ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (id, name, role, region, skills) = row?;
            let skills = serde_json::from_str(&skills)
                .map_err(|e| StorageError::Corrupt(format!("user skills: {e}")))?;
            Ok(User {
                id,
                name,
                role,
                region,
                skills,
            })
        })
        .collect()
    }

    fn job_history(&self, job_id: &str) -> Result<Vec<HistoryEntry>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT seq, kind, COALESCE(origin_device, user_id), received_at FROM events WHERE job_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([job_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        rows.map(|row| {
            let (seq, kind, who, at) = row?;
            Ok(HistoryEntry {
                seq: to_u64(seq),
                kind: EventKind::parse(&kind)?,
                by: who,
                at,
            })
        })
        .collect()
    }
}

impl WriteTx for Tx<'_> {
    fn put_job(
        &mut self,
        job: &StoredJob,
        origin_device: Option<&str>,
        changes: &[NewChange],
        now: Millis,
    ) -> Result<(), StorageError> {
        let summary = serde_json::to_string(&job.summary)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.0.execute(
            "INSERT INTO jobs (job_id, doc, assignee, status, call_received_at, summary, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (job_id) DO UPDATE SET doc = excluded.doc, assignee = excluded.assignee,
               status = excluded.status, call_received_at = excluded.call_received_at,
               summary = excluded.summary, updated_at = excluded.updated_at",
            params![
                job.summary.id,
                job.doc,
                job.summary.assignee,
                job.summary.status.as_str(),
                job.summary.call_received_at,
                summary,
                now
            ],
        )?;
        let mut stmt = self.0.prepare_cached(
            "INSERT INTO events (job_id, kind, origin_device, hash, change, received_at)
             VALUES (?1, 'change', ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?;
        for change in changes {
            stmt.execute(params![
                job.summary.id,
                origin_device,
                change.hash.as_slice(),
                change.bytes,
                now
            ])?;
        }
        Ok(())
    }

    fn record_scope(
        &mut self,
        job_id: &str,
        user: &str,
        kind: EventKind,
        now: Millis,
    ) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO events (job_id, kind, user_id, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![job_id, kind.as_str(), user, now],
        )?;
        Ok(())
    }

    fn put_device(&mut self, device: &DeviceRecord) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO devices (device_id, user_id, actor, last_presented_cursor, last_issued_cursor, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id, actor = excluded.actor,
               last_presented_cursor = excluded.last_presented_cursor,
               last_issued_cursor = excluded.last_issued_cursor, last_seen = excluded.last_seen",
            params![
                device.device_id,
                device.user_id,
                device.actor,
                to_i64(device.last_presented_cursor),
                to_i64(device.last_issued_cursor),
                device.last_seen
            ],
        )?;
        Ok(())
    }

    fn record_actor(&mut self, actor: &[u8], device_id: &str) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO actors (actor, device_id) VALUES (?1, ?2) ON CONFLICT (actor) DO NOTHING",
            params![actor, device_id],
        )?;
        Ok(())
    }

    fn put_user(&mut self, user: &User) -> Result<(), StorageError> {
        let skills = serde_json::to_string(&user.skills)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.0.execute(
            "INSERT INTO users (id, name, role, region, skills) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,
               region = excluded.region, skills = excluded.skills",
            params![user.id, user.name, user.role, user.region, skills],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let counter = std::sync::atomic::AtomicUsize::new(0);
        let fresh = || -> Box<dyn Storage> {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::new(SqliteStorage::open(dir.path().join(format!("store-{n}.db"))).expect("open"))
        };
        super::super::conformance::run_all(&fresh);
    }

    #[test]
    fn reopening_keeps_identity_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let id = super::super::read(&SqliteStorage::open(&path).expect("open"), |tx| {
            tx.server_id()
        })
        .expect("id");
        let again = super::super::read(&SqliteStorage::open(&path).expect("reopen"), |tx| {
            tx.server_id()
        })
        .expect("id");
        assert_eq!(id, again);
        let conn = Connection::open(&path).expect("open raw");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        let error = SqliteStorage::open(&path).expect_err("newer").to_string();
        assert!(error.contains("newer"), "{error}");
    }
}
