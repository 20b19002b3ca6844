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
    AuditEntry, AuditKind, BlobRecord, Credential, DeviceRecord, EnrollmentCode, Event, EventKind,
    NewChange, PendingUpload, ReadTx, Reminder, ReportLink, Session, Storage, StorageError,
    StoredJob, User, WriteTx,
};
use super::{knowledge_sql, service_sql};
use crate::facts::JobFacts;
use crate::kpi::{KpiData, KpiFilter, Period};
use fieldsync_protocol::knowledge::{Case, Manual, ManualSummary};

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
    // 2: identities, device credentials and the audit trail.
    "ALTER TABLE users ADD COLUMN password_hash TEXT;
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id),
        csrf TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE enrollment_codes (
        code_hash BLOB PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id),
        created_by TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    ) STRICT;
    CREATE TABLE credentials (
        device_id TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL REFERENCES users(id),
        token_hash BLOB NOT NULL UNIQUE,
        enrolled_at INTEGER NOT NULL,
        enrolled_by TEXT NOT NULL,
        revoked_at INTEGER,
        flagged_at INTEGER
    ) STRICT;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        user_id TEXT,
        device_id TEXT,
        actor TEXT,
        change_hash TEXT,
        fields TEXT NOT NULL DEFAULT '[]',
        device_time INTEGER,
        server_time INTEGER NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE INDEX audit_by_job ON audit(job_id, id);
    CREATE INDEX audit_by_kind ON audit(kind, id);
    CREATE INDEX audit_violations_by_device ON audit(device_id) WHERE kind = 'violation';",
    // 3: the service facts projection (KPIs) and the stored reminders.
    service_sql::MIGRATION,
    // 4: blobs, uploads, manuals, cases, field tips and report links.
    knowledge_sql::MIGRATION,
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

/// A stored integer as a count (negative values, which are never written, read as 0).
pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A count as a stored integer (saturating).
pub(super) fn to_i64(v: u64) -> i64 {
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
               (kind = 'change' AND job_id IN
                 (SELECT job_id FROM jobs WHERE assignee = ?2 AND status <> 'cancelled'))
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

    fn user(&self, user_id: &str) -> Result<Option<User>, StorageError> {
        let row = self
            .0
            .query_row(
                "SELECT name, role, region, skills FROM users WHERE id = ?1",
                [user_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(name, role, region, skills)| {
            Ok(User {
                id: user_id.to_owned(),
                name,
                role,
                region,
                skills: serde_json::from_str(&skills)
                    .map_err(|e| StorageError::Corrupt(format!("user skills: {e}")))?,
            })
        })
        .transpose()
    }

    fn password_hash(&self, user_id: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .query_row(
                "SELECT password_hash FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>, StorageError> {
        Ok(self
            .0
            .query_row(
                "SELECT user_id, csrf, expires_at FROM sessions WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok(Session {
                        user_id: r.get(0)?,
                        csrf: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn enrollment_code(&self, code_hash: &[u8]) -> Result<Option<EnrollmentCode>, StorageError> {
        Ok(self
            .0
            .query_row(
                "SELECT user_id, created_by, expires_at, used_at FROM enrollment_codes
                 WHERE code_hash = ?1",
                [code_hash],
                |r| {
                    Ok(EnrollmentCode {
                        user_id: r.get(0)?,
                        created_by: r.get(1)?,
                        expires_at: r.get(2)?,
                        used_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn credential_by_token(&self, token_hash: &[u8]) -> Result<Option<Credential>, StorageError> {
        Ok(self
            .0
            .query_row(
                &format!("{CREDENTIAL_COLUMNS} WHERE token_hash = ?1"),
                [token_hash],
                credential_from,
            )
            .optional()?)
    }

    fn credential(&self, device_id: &str) -> Result<Option<Credential>, StorageError> {
        Ok(self
            .0
            .query_row(
                &format!("{CREDENTIAL_COLUMNS} WHERE device_id = ?1"),
                [device_id],
                credential_from,
            )
            .optional()?)
    }

    fn credentials(&self) -> Result<Vec<Credential>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached(&format!("{CREDENTIAL_COLUMNS} ORDER BY device_id"))?;
        let rows = stmt.query_map([], credential_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit(
        &self,
        job_id: Option<&str>,
        kind: Option<AuditKind>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT * FROM (
               SELECT id, job_id, kind, user_id, device_id, actor, change_hash, fields,
                      device_time, server_time, detail
               FROM audit WHERE (?1 IS NULL OR job_id = ?1) AND (?2 IS NULL OR kind = ?2)
               ORDER BY id DESC LIMIT ?3)
             ORDER BY id",
        )?;
        let rows = stmt.query_map(
            params![job_id, kind.map(AuditKind::as_str), to_i64(limit as u64)],
            |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ),
                    (
                        r.get(6)?,
                        r.get::<_, String>(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                    ),
                ))
            },
        )?;
        rows.map(|row| {
            let (
                (id, job_id, kind, user, device, actor),
                (change, fields, device_time, server_time, detail),
            ) = row?;
            Ok(AuditEntry {
                id: to_u64(id),
                job_id,
                kind: AuditKind::parse(&kind)
                    .ok_or_else(|| StorageError::Corrupt(format!("unknown audit kind `{kind}`")))?,
                user,
                device,
                actor,
                change,
                fields: serde_json::from_str(&fields)
                    .map_err(|e| StorageError::Corrupt(format!("audit fields: {e}")))?,
                device_time,
                server_time,
                detail,
            })
        })
        .collect()
    }

    fn violation_count(&self, device_id: &str) -> Result<u64, StorageError> {
        let count: i64 = self.0.query_row(
            "SELECT COUNT(DISTINCT change_hash) FROM audit
             WHERE kind = 'violation' AND device_id = ?1",
            [device_id],
            |r| r.get(0),
        )?;
        Ok(to_u64(count))
    }

    fn job_facts(&self, job_id: &str) -> Result<Option<JobFacts>, StorageError> {
        service_sql::facts(&self.0, job_id)
    }

    fn open_job_facts(&self) -> Result<Vec<JobFacts>, StorageError> {
        service_sql::open_facts(&self.0)
    }

    fn jobs_without_facts(&self) -> Result<Vec<String>, StorageError> {
        service_sql::jobs_without_facts(&self.0)
    }

    fn kpis(
        &self,
        filter: &KpiFilter,
        period: Period,
        now: Millis,
    ) -> Result<KpiData, StorageError> {
        service_sql::kpis(&self.0, filter, period, now)
    }

    fn kpi_dimensions(&self) -> Result<(Vec<String>, Vec<String>), StorageError> {
        service_sql::kpi_dimensions(&self.0)
    }

    fn reminders(&self, open_only: bool) -> Result<Vec<Reminder>, StorageError> {
        service_sql::reminders(&self.0, open_only)
    }

    fn job_reminders(&self, job_id: &str) -> Result<Vec<Reminder>, StorageError> {
        service_sql::job_reminders(&self.0, job_id)
    }

    fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>, StorageError> {
        knowledge_sql::blob(&self.0, sha256)
    }

    fn upload(&self, sha256: &str) -> Result<Option<PendingUpload>, StorageError> {
        knowledge_sql::upload(&self.0, sha256)
    }

    fn blob_jobs(&self, sha256: &str) -> Result<Vec<String>, StorageError> {
        knowledge_sql::blob_jobs(&self.0, sha256)
    }

    fn is_manual_attachment(&self, sha256: &str) -> Result<bool, StorageError> {
        knowledge_sql::is_manual_attachment(&self.0, sha256)
    }

    fn manual_summaries(&self) -> Result<Vec<ManualSummary>, StorageError> {
        knowledge_sql::manual_summaries(&self.0)
    }

    fn latest_manual_version(&self, model: &str) -> Result<Option<u32>, StorageError> {
        knowledge_sql::latest_manual_version(&self.0, model)
    }

    fn manual(&self, model: &str, version: Option<u32>) -> Result<Option<Manual>, StorageError> {
        knowledge_sql::manual(&self.0, model, version)
    }

    fn models_of(&self, user: &str) -> Result<Vec<String>, StorageError> {
        knowledge_sql::models_of(&self.0, user)
    }

    fn jobs_without_product(&self) -> Result<Vec<String>, StorageError> {
        knowledge_sql::jobs_without_product(&self.0)
    }

    fn cases(
        &self,
        model: Option<&str>,
        after: u64,
        limit: u64,
        removed: bool,
    ) -> Result<Vec<Case>, StorageError> {
        knowledge_sql::cases(&self.0, model, after, limit, removed)
    }

    fn tips_doc(&self, model: &str) -> Result<Option<Vec<u8>>, StorageError> {
        knowledge_sql::tips_doc(&self.0, model)
    }

    fn report_link(&self, token_hash: &[u8]) -> Result<Option<ReportLink>, StorageError> {
        knowledge_sql::report_link(&self.0, token_hash)
    }
}

const CREDENTIAL_COLUMNS: &str = "SELECT device_id, user_id, enrolled_at, enrolled_by, revoked_at, \
     flagged_at FROM credentials";

fn credential_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Credential> {
    Ok(Credential {
        device_id: r.get(0)?,
        user_id: r.get(1)?,
        enrolled_at: r.get(2)?,
        enrolled_by: r.get(3)?,
        revoked_at: r.get(4)?,
        flagged_at: r.get(5)?,
    })
}

impl WriteTx for Tx<'_> {
    fn put_job(
        &mut self,
        job: &StoredJob,
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
                change.origin_device,
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

    fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<(), StorageError> {
        self.0.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![user_id, hash],
        )?;
        self.0
            .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        Ok(())
    }

    fn put_session(&mut self, token_hash: &[u8], session: &Session) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash,
                session.user_id,
                session.csrf,
                session.expires_at
            ],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StorageError> {
        self.0
            .execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn put_enrollment_code(
        &mut self,
        code_hash: &[u8],
        code: &EnrollmentCode,
    ) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO enrollment_codes (code_hash, user_id, created_by, expires_at, used_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                code_hash,
                code.user_id,
                code.created_by,
                code.expires_at,
                code.used_at
            ],
        )?;
        Ok(())
    }

    fn use_enrollment_code(&mut self, code_hash: &[u8], now: Millis) -> Result<bool, StorageError> {
        let updated = self.0.execute(
            "UPDATE enrollment_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at IS NULL",
            params![code_hash, now],
        )?;
        Ok(updated == 1)
    }

    fn put_credential(
        &mut self,
        token_hash: &[u8],
        credential: &Credential,
    ) -> Result<(), StorageError> {
        self.0.execute(
            "INSERT INTO credentials (device_id, user_id, token_hash, enrolled_at, enrolled_by,
               revoked_at, flagged_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (device_id) DO UPDATE SET user_id = excluded.user_id,
               token_hash = excluded.token_hash, enrolled_at = excluded.enrolled_at,
               enrolled_by = excluded.enrolled_by, revoked_at = excluded.revoked_at,
               flagged_at = COALESCE(credentials.flagged_at, excluded.flagged_at)",
            params![
                credential.device_id,
                credential.user_id,
                token_hash,
                credential.enrolled_at,
                credential.enrolled_by,
                credential.revoked_at,
                credential.flagged_at
            ],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now: Millis) -> Result<bool, StorageError> {
        let updated = self.0.execute(
            "UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?2) WHERE device_id = ?1",
            params![device_id, now],
        )?;
        Ok(updated == 1)
    }

    fn flag_device(&mut self, device_id: &str, now: Millis) -> Result<(), StorageError> {
        self.0.execute(
            "UPDATE credentials SET flagged_at = COALESCE(flagged_at, ?2) WHERE device_id = ?1",
            params![device_id, now],
        )?;
        Ok(())
    }

    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StorageError> {
        let fields = serde_json::to_string(&entry.fields)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.0
            .prepare_cached(
                "INSERT INTO audit (job_id, kind, user_id, device_id, actor, change_hash, fields,
                   device_time, server_time, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                entry.job_id,
                entry.kind.as_str(),
                entry.user,
                entry.device,
                entry.actor,
                entry.change,
                fields,
                entry.device_time,
                entry.server_time,
                entry.detail
            ])?;
        Ok(())
    }

    fn put_job_facts(&mut self, facts: &JobFacts) -> Result<(), StorageError> {
        service_sql::put_facts(&self.0, facts)
    }

    fn add_reminder(&mut self, reminder: &Reminder) -> Result<Option<Reminder>, StorageError> {
        service_sql::add_reminder(&self.0, reminder)
    }

    fn acknowledge_reminder(&mut self, id: u64, now: Millis) -> Result<bool, StorageError> {
        service_sql::acknowledge_reminder(&self.0, id, now)
    }

    fn put_upload(&mut self, upload: &PendingUpload) -> Result<(), StorageError> {
        knowledge_sql::put_upload(&self.0, upload)
    }

    fn finish_upload(&mut self, blob: &BlobRecord) -> Result<(), StorageError> {
        knowledge_sql::finish_upload(&self.0, blob)
    }

    fn discard_upload(&mut self, sha256: &str) -> Result<(), StorageError> {
        knowledge_sql::discard_upload(&self.0, sha256)
    }

    fn link_job_blob(&mut self, job_id: &str, sha256: &str) -> Result<(), StorageError> {
        knowledge_sql::link_job_blob(&self.0, job_id, sha256)
    }

    fn put_manual(&mut self, manual: &Manual) -> Result<(), StorageError> {
        knowledge_sql::put_manual(&self.0, manual)
    }

    fn put_job_product(
        &mut self,
        job_id: &str,
        model: &str,
        case: Option<&Case>,
    ) -> Result<(), StorageError> {
        knowledge_sql::put_job_product(&self.0, job_id, model, case)
    }

    fn put_tips_doc(&mut self, model: &str, doc: &[u8]) -> Result<(), StorageError> {
        knowledge_sql::put_tips_doc(&self.0, model, doc)
    }

    fn put_report_link(
        &mut self,
        token_hash: &[u8],
        link: &ReportLink,
    ) -> Result<(), StorageError> {
        knowledge_sql::put_report_link(&self.0, token_hash, link)
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
