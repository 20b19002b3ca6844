//! Opening the local SQLite database and migrating its schema.
//!
//! Migrations are numbered over `PRAGMA user_version`; a shipped migration is never edited, a
//! new one is appended. A test checks that a database upgraded step by step equals a fresh one.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The migrations, in order. Index `i` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: documents, projection, outbox, refusals, metadata.
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT;
    CREATE TABLE docs (
        job_id TEXT PRIMARY KEY NOT NULL,
        chunk_count INTEGER NOT NULL DEFAULT 0,
        left_scope INTEGER NOT NULL DEFAULT 0,
        needs_resync INTEGER NOT NULL DEFAULT 0,
        last_push_refused INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE TABLE doc_chunks (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES docs(job_id) ON DELETE CASCADE,
        bytes BLOB NOT NULL
    ) STRICT;
    CREATE INDEX doc_chunks_job ON doc_chunks(job_id, id);
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY NOT NULL REFERENCES docs(job_id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        appointment_start INTEGER,
        appointment_end INTEGER,
        summary TEXT NOT NULL
    ) STRICT;
    CREATE INDEX jobs_by_appointment ON jobs(appointment_start, status);
    CREATE INDEX jobs_by_status ON jobs(status, appointment_start);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES docs(job_id),
        hash BLOB NOT NULL UNIQUE,
        change BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        parked INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX outbox_job ON outbox(job_id);
    CREATE TABLE refusals (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        changes INTEGER NOT NULL,
        at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX refusals_job ON refusals(job_id);
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY NOT NULL,
        mime TEXT NOT NULL,
        bytes BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE TABLE job_blobs (
        job_id TEXT NOT NULL REFERENCES docs(job_id) ON DELETE CASCADE,
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        PRIMARY KEY (job_id, sha256)
    ) STRICT;
    CREATE INDEX job_blobs_blob ON job_blobs(sha256);",
    // 2: reference knowledge (manuals, cases, field tips, the search index) and each blob's
    // state in a row of its own, so marking a blob uploaded or used never rewrites its bytes
    // (`blobs.uploaded` is no longer read).
    "CREATE TABLE blob_state (
        sha256 TEXT PRIMARY KEY NOT NULL REFERENCES blobs(sha256) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('captured', 'reference')),
        size INTEGER NOT NULL,
        uploaded INTEGER NOT NULL DEFAULT 0,
        last_used INTEGER NOT NULL
    ) STRICT;
    INSERT INTO blob_state (sha256, kind, size, uploaded, last_used)
        SELECT sha256, 'captured', length(bytes), uploaded, created_at FROM blobs;
    CREATE INDEX blob_state_for_eviction ON blob_state(last_used)
        WHERE kind = 'reference' OR uploaded = 1;
    CREATE INDEX blob_state_unsent ON blob_state(kind, uploaded);
    CREATE TABLE manuals (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        title TEXT NOT NULL,
        complete INTEGER NOT NULL DEFAULT 0,
        installed_at INTEGER NOT NULL,
        PRIMARY KEY (model, version)
    ) STRICT;
    CREATE TABLE manual_sections (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        position INTEGER NOT NULL,
        section_id TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (model, version, position)
    ) STRICT;
    CREATE TABLE manual_attachments (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        position INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (model, version, position)
    ) STRICT;
    CREATE INDEX manual_attachments_blob ON manual_attachments(sha256);
    CREATE TABLE cases (
        job_id TEXT PRIMARY KEY NOT NULL,
        model TEXT NOT NULL,
        symptom TEXT NOT NULL,
        cause TEXT NOT NULL,
        fix TEXT NOT NULL,
        completed_at INTEGER NOT NULL,
        engineer TEXT NOT NULL,
        cursor INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX cases_by_model ON cases(model, cursor);
    CREATE TABLE case_cursors (
        model TEXT PRIMARY KEY NOT NULL,
        cursor INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE tips_docs (
        model TEXT PRIMARY KEY NOT NULL,
        doc BLOB NOT NULL
    ) STRICT;
    CREATE TABLE tip_outbox (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        change BLOB NOT NULL
    ) STRICT;
    CREATE VIRTUAL TABLE knowledge_fts USING fts5(
        title, body, kind UNINDEXED, reference UNINDEXED, model UNINDEXED,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO knowledge_fts (knowledge_fts, rank) VALUES ('rank', 'bm25(4.0, 1.0)');",
    // 3: warnings and errors the phone logged, forwarded to the office with its next sync.
    "CREATE TABLE device_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL
    ) STRICT;",
    // 4: the reminders addressed to the installer.
    crate::reminders::MIGRATION,
    // 5: the customers of the jobs on the phone.
    crate::customers::MIGRATION,
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Statements run through the connection's cache of prepared statements: parsing and planning
/// a statement costs more than running most of them, and a sync round runs dozens.
pub(crate) trait CachedStatements {
    /// [`Connection::execute`], prepared once per connection.
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// [`Connection::query_row`], prepared once per connection.
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>;
}

impl CachedStatements for Connection {
    fn execute_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: rusqlite::Params,
        F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Opens (creating if needed) and migrates the database at `path`.
pub fn open(path: &std::path::Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    migrate(&mut conn, SCHEMA_VERSION)?;
    Ok(conn)
}

/// Connection settings: WAL so readers never block the writer, `synchronous = FULL` so a
/// committed edit survives a power cut (an installer's work is durable before the app says
/// "saved"), foreign keys on, and a busy timeout instead of immediate "database is locked".
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", 2)?;
    conn.pragma_update(None, "mmap_size", 256i64 << 20)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A sync round runs a few dozen distinct statements: rusqlite's default cache of 16 would
    // parse and plan them again every round.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

/// Migrates up to `target` (tests migrate step by step).
pub(crate) fn migrate(conn: &mut Connection, target: usize) -> Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let current = usize::try_from(current).unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(Error::StoreMismatch(format!(
            "the database has schema version {current}, newer than this app's {SCHEMA_VERSION}"
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(migration)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn upgraded_database_equals_fresh_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut stepwise = Connection::open(dir.path().join("old.db")).expect("open");
        configure(&stepwise).expect("configure");
        for step in 1..=SCHEMA_VERSION {
            migrate(&mut stepwise, step).expect("migrate one step");
        }
        let fresh = open(&dir.path().join("fresh.db")).expect("open fresh");
        assert_eq!(schema_of(&stepwise), schema_of(&fresh));
        // Opening again is a no-op.
        drop(fresh);
        let again = open(&dir.path().join("fresh.db")).expect("reopen");
        assert_eq!(schema_of(&again), schema_of(&stepwise));
    }

    #[test]
    fn newer_database_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("newer.db");
        let conn = open(&path).expect("open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION as i64 + 1)
            .expect("bump");
        drop(conn);
        let error = open(&path).expect_err("newer schema").to_string();
        assert!(error.contains("newer"), "{error}");
    }
}
