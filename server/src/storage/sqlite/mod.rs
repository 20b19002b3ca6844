//! The embedded SQLite backend: one file, one writer, a few readers.
//!
//! The connections are used only from blocking threads (the HTTP layer calls storage through
//! `spawn_blocking`), never on the async executor. Write transactions share the writer through
//! group commit; reads run on read-only connections of their own (see [`connections`]).

use std::path::Path;

use fieldsync_protocol::job::JobSummary;
use rusqlite::{Connection, Savepoint, Transaction, TransactionBehavior};

use crate::storage::{Credential, DocumentCache, ReadTx, Storage, StorageError, WriteTx};
use connections::{BUSY_TIMEOUT, Readers, Writer, keep_statements};

mod audit;
mod connections;
mod customers;
mod fleet;
mod identity;
mod jobs;
mod knowledge;
mod notifications;
mod service;

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
    service::MIGRATION,
    // 4: blobs, uploads, manuals, cases, field tips and report links.
    knowledge::MIGRATION,
    // 5: the row the readiness check writes.
    "CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL) STRICT;",
    // 6: the fleet: device reports, syncs and forwarded logs.
    fleet::MIGRATION,
    // 7: whether a job is in a user's scope is one seek (only scope events carry a user).
    "CREATE INDEX events_scope ON events(job_id, user_id, seq) WHERE user_id IS NOT NULL;",
    // 8: documents stored incrementally: a snapshot in its own table (so the job row, rewritten
    // on every edit, no longer carries it) covering the job's changes up to `through_seq`;
    // the changes after it in `events` are the document's tail.
    jobs::INCREMENTAL_DOCUMENTS,
    // 9: the escalation ladder looks only at jobs that changed or fall due.
    service::LADDER,
    // 10: failed sign-ins in the database, so that every server node counts them.
    "CREATE TABLE sign_in_failures (
        id INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        network TEXT NOT NULL,
        at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sign_in_failures_by_account ON sign_in_failures(user_id, network, at);
    CREATE INDEX sign_in_failures_by_time ON sign_in_failures(at);",
    // 11: who acknowledged a reminder.
    "ALTER TABLE reminders ADD COLUMN acknowledged_by TEXT;",
    // 12
    customers::MIGRATION,
    // 13
    service::RETURN_VISITS,
    // 14
    notifications::MIGRATION,
    // 15: each sync lists the open reminders addressed to the device's installer.
    "CREATE INDEX reminders_open_to_user ON reminders(to_user) WHERE acknowledged_at IS NULL;",
    // 16
    customers::HISTORY,
    // 17: engineers' working weeks and time off.
    identity::SCHEDULES,
    // 18: the managed lists of regions and problem categories.
    service::LISTS,
];

/// The SQLite storage backend.
pub struct SqliteStorage {
    /// Read-only connections for read transactions. Declared before the writer so that they
    /// close first: the last connection to close checkpoints the write-ahead log into the
    /// database file, and only the writer can, so a stopped server leaves one whole file.
    readers: Readers,
    /// The one connection that writes.
    writer: Writer,
    /// The server's actor for this process (see [`ReadTx::server_actor`]).
    actor: Vec<u8>,
    /// Loaded documents kept between transactions.
    documents: DocumentCache,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").finish_non_exhaustive()
    }
}

/// A stored integer as a count (negative values, which are never written, read as 0).
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A count as a stored integer (saturating).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

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

impl SqliteStorage {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref();
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A write runs in a savepoint of a shared group commit: its statement journal stays
        // in memory rather than in a temporary file per savepoint.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        keep_statements(&conn)?;
        service::register_functions(&conn)?;
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
                tx.execute_cached(
                    "INSERT INTO meta (key, value) VALUES ('server_id', ?1)",
                    [server_id.as_bytes()],
                )?;
            }
            tx.pragma_update(None, "user_version", to_i64(index as u64 + 1))?;
            tx.commit()?;
        }
        Self::over(conn, path)
    }

    /// Opens an existing, up-to-date database without write access (a restored snapshot on a
    /// read-only volume, say): reads work, every write fails, and the readiness check says so.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref();
        let conn = connections::open_read_only(path)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if usize::try_from(version).ok() != Some(MIGRATIONS.len()) {
            return Err(StorageError::Database(format!(
                "a read-only database must be at schema version {}, not {version}",
                MIGRATIONS.len()
            )));
        }
        Self::over(conn, path)
    }

    /// The storage over its migrated writer connection to the database at `path`.
    fn over(conn: Connection, path: &Path) -> Result<Self, StorageError> {
        Ok(SqliteStorage {
            readers: Readers::open(path)?,
            writer: Writer::new(conn),
            actor: uuid::Uuid::new_v4().as_bytes().to_vec(),
            documents: DocumentCache::default(),
        })
    }

    /// Whether this thread runs [`Storage::atomically`] (its transactions nest only then).
    fn in_batch(&self) -> bool {
        self.writer.in_batch()
    }
}

impl Storage for SqliteStorage {
    fn read_tx(
        &self,
        f: &mut dyn FnMut(&dyn ReadTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        if self.in_batch() {
            // Work done atomically reads what it wrote so far: on the writer, inside its
            // transaction.
            let mut state = self.writer.lock();
            let tx = Scope::begin(&mut state.conn, true)?;
            return f(&Tx(tx, &self.actor, &self.documents));
        }
        self.readers.with(|conn| {
            let tx = Scope::begin(conn, false)?;
            f(&Tx(tx, &self.actor, &self.documents))
        })
    }

    fn write_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut run = |conn: &mut Connection| {
            let mut tx = Tx(
                Scope::Savepoint(conn.savepoint()?),
                &self.actor,
                &self.documents,
            );
            f(&mut tx)?;
            tx.0.commit()
        };
        if self.in_batch() {
            // A savepoint of the transaction `atomically` holds open.
            return run(&mut self.writer.lock().conn);
        }
        self.writer.write(run)
    }

    fn atomically(
        &self,
        f: &mut dyn FnMut() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        // The outer transaction stays open between the writer's uses: every transaction `f`
        // runs on this thread becomes a savepoint inside it (see `write_tx`); other threads'
        // writes wait for it. The guard rolls it back however `f` ends (an error, a panic).
        struct Batch<'s> {
            writer: &'s Writer,
            open: bool,
        }
        impl Drop for Batch<'_> {
            fn drop(&mut self) {
                if self.open {
                    let _ = self.writer.end_batch(false);
                }
            }
        }
        self.writer.begin_batch()?;
        let mut batch = Batch {
            writer: &self.writer,
            open: true,
        };
        f()?;
        batch.open = false;
        self.writer.end_batch(true)
    }

    fn probe_write(&self, now: fieldsync_protocol::Millis) -> Result<(), StorageError> {
        self.writer.write(|conn| {
            let savepoint = conn.savepoint()?;
            savepoint.execute_cached(
                "INSERT INTO probe (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = ?1",
                [now],
            )?;
            savepoint.commit()?;
            Ok(())
        })
    }

    fn database_bytes(&self) -> Result<u64, StorageError> {
        self.readers.with(|conn| {
            let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
            let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            Ok(to_u64(pages.saturating_mul(size)))
        })
    }

    fn documents(&self) -> &DocumentCache {
        &self.documents
    }
}

/// A transaction, or a savepoint inside the transaction [`Storage::atomically`] holds open.
enum Scope<'c> {
    Transaction(Transaction<'c>),
    Savepoint(Savepoint<'c>),
}

impl<'c> Scope<'c> {
    /// A read transaction, or a savepoint inside the one [`Storage::atomically`] holds open.
    fn begin(conn: &'c mut Connection, in_batch: bool) -> Result<Self, StorageError> {
        if conn.is_autocommit() {
            Ok(Scope::Transaction(conn.transaction()?))
        } else if in_batch {
            Ok(Scope::Savepoint(conn.savepoint()?))
        } else {
            // A transaction left open outside `atomically`: nesting would never commit.
            Err(StorageError::Database(
                "a transaction is open where none should be".into(),
            ))
        }
    }

    fn commit(self) -> Result<(), StorageError> {
        match self {
            Scope::Transaction(tx) => tx.commit()?,
            Scope::Savepoint(savepoint) => savepoint.commit()?,
        }
        Ok(())
    }
}

impl std::ops::Deref for Scope<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Scope::Transaction(tx) => tx,
            Scope::Savepoint(savepoint) => savepoint,
        }
    }
}

/// A transaction with the server's actor and the shared document cache.
pub(crate) struct Tx<'c>(Scope<'c>, &'c [u8], &'c DocumentCache);

pub(crate) fn summary_from(json: &str) -> Result<JobSummary, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("job summary: {e}")))
}

pub(crate) const CREDENTIAL_COLUMNS: &str = "SELECT device_id, user_id, enrolled_at, enrolled_by, revoked_at, \
     flagged_at FROM credentials";

pub(crate) fn credential_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Credential> {
    Ok(Credential {
        device_id: r.get(0)?,
        user_id: r.get(1)?,
        enrolled_at: r.get(2)?,
        enrolled_by: r.get(3)?,
        revoked_at: r.get(4)?,
        flagged_at: r.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh SQLite store in a directory of its own (kept while the store is used).
    fn fresh() -> (tempfile::TempDir, Box<dyn Storage>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStorage::open(dir.path().join("store.db")).expect("open");
        (dir, Box::new(store))
    }

    /// The conformance suite, one test per check.
    mod conformance {
        crate::storage_conformance_tests!(super::fresh);
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

    /// Upgrading to managed lists makes the regions and categories already in use their
    /// first entries, named by themselves, so nothing stored falls outside its list.
    #[test]
    fn the_lists_start_with_the_values_in_use() {
        use crate::storage::conformance::{change, stored, summary};
        use crate::storage::{JobFacts, ListEntry, ListKind, User};
        use fieldsync_protocol::job::Job;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStorage::open(&path).expect("open");
        super::super::write(&store, |tx| {
            for (id, region) in [("u1", "north"), ("u2", ""), ("u3", "华东")] {
                tx.put_user(&User {
                    id: id.into(),
                    name: id.into(),
                    role: "installer".into(),
                    region: region.into(),
                    skills: Vec::new(),
                })?;
            }
            tx.put_job(&stored(summary("j1", None)), &[change(1)], None, 1)?;
            let mut facts = JobFacts::derive(&Job::default(), None, 1);
            facts.job_id = "j1".into();
            facts.region = "华东".into();
            facts.category = "leak".into();
            tx.put_job_facts(&facts)
        })
        .expect("write");
        drop(store);
        let conn = Connection::open(&path).expect("open raw");
        conn.execute_batch("DROP TABLE list_entries; PRAGMA user_version = 17;")
            .expect("back to 17");
        drop(conn);
        let store = SqliteStorage::open(&path).expect("upgrade");
        let entry = |code: &str| ListEntry {
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            retired: false,
        };
        let lists = super::super::read(&store, |tx| {
            Ok::<_, StorageError>((
                tx.list_entries(ListKind::Region)?,
                tx.list_entries(ListKind::Category)?,
            ))
        })
        .expect("read");
        assert_eq!(
            lists,
            (vec![entry("north"), entry("华东")], vec![entry("leak")])
        );
    }

    /// The tables and indexes whose pages the write-ahead log of the database at `path` holds:
    /// what was written since the log was last emptied. A page goes to the log whole (4 KiB),
    /// so this is what a write costs the disk.
    fn written_btrees(path: &Path) -> std::collections::BTreeSet<String> {
        let log = std::fs::read(path.with_extension("db-wal")).expect("read the log");
        let conn = Connection::open(path).expect("open raw");
        let mut stmt = conn
            .prepare("SELECT pageno, name FROM dbstat")
            .expect("dbstat");
        let owners: std::collections::HashMap<u32, String> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("pages")
            .collect::<Result<_, _>>()
            .expect("pages");
        // The log's layout (sqlite.org/fileformat.html#the_write_ahead_log): a 32-byte header,
        // then frames of a 24-byte header (the page's number first) and the page.
        let word = |at: usize| u32::from_be_bytes(log[at..at + 4].try_into().expect("word"));
        let page_size = word(8) as usize;
        let salts = &log[16..24];
        let mut written = std::collections::BTreeSet::new();
        let mut at = 32;
        while at + 24 + page_size <= log.len() && &log[at + 8..at + 16] == salts {
            written.insert(owners.get(&word(at)).cloned().unwrap_or_default());
            at += 24 + page_size;
        }
        written
    }

    /// What a checklist tick synced from a phone writes: the change (its history entry, its
    /// audit entry), the job's row and the device's round. Not the facts, the product, the
    /// job's holder and status, or the device's user, none of which a tick changes; a device
    /// given to another user is still recorded as theirs.
    #[test]
    fn a_checklist_tick_writes_only_what_it_changes() {
        use crate::domain::dispatch::Dispatch;
        use crate::domain::jobs::{self, Author, NO_FIELDS};
        use crate::domain::sync::{PageLimits, handle};
        use fieldsync_protocol::automerge::ActorId;
        use fieldsync_protocol::job::{
            ChecklistUpdate, Customer, Editor, NewJob, Problem, Role, Site,
        };
        use fieldsync_protocol::wire::{DeviceReport, SyncRequest};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStorage::open(&path).expect("open");
        let now = 1_790_000_000_000;
        let call = NewJob {
            id: "job-1".into(),
            customer: Customer {
                name: "Grace Hopper".into(),
                ..Customer::default()
            },
            site: Site {
                address: "12 Harbour Road".into(),
                ..Site::default()
            },
            problem: Problem {
                category: "leak".into(),
                description: "water under the unit".into(),
            },
            ..NewJob::default()
        };
        super::super::write(&store, |tx| {
            tx.put_user(&crate::storage::User {
                id: "anna".into(),
                name: "Anna".into(),
                role: "installer".into(),
                region: String::new(),
                skills: Vec::new(),
            })
        })
        .expect("user");
        let dispatch = Dispatch::new(&store, "dispatch");
        dispatch.create(call, now).expect("create");
        dispatch
            .assign("job-1", Some("anna"), None, None, now)
            .expect("assign");
        let round = SyncRequest {
            v: 1,
            device: "phone".into(),
            user: "anna".into(),
            actor: vec![7; 16].into(),
            report: Some(DeviceReport::default()),
            ..SyncRequest::default()
        };
        handle(&store, &round, PageLimits::default(), now).expect("first round");
        let empty_the_log = || {
            Connection::open(&path)
                .expect("open raw")
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                .expect("checkpoint");
        };

        empty_the_log();
        let editor = Editor {
            user: "anna".into(),
            device: "phone".into(),
            role: Role::Installer,
        };
        let author = Author {
            user: "anna",
            device: Some("phone"),
            fields: NO_FIELDS,
            binds_actors: true,
            note: "",
        };
        super::super::write(&store, |tx| {
            let tick = ChecklistUpdate {
                done: Some(true),
                ..ChecklistUpdate::default()
            };
            jobs::edit(
                tx,
                "job-1",
                ActorId::from([7; 16]),
                &editor,
                author,
                now + 1,
                |job, _| job.update_checklist_item("diagnose", &tick, now + 1),
            )
        })
        .expect("tick");
        assert_eq!(
            written_btrees(&path),
            [
                "audit",
                "audit_by_job",
                "audit_by_kind",
                "events",
                "events_by_job",
                "events_change_hash",
                "jobs",
                "sqlite_sequence",
            ]
            .map(String::from)
            .into(),
        );

        empty_the_log();
        handle(&store, &round, PageLimits::default(), now + 2).expect("second round");
        assert_eq!(
            written_btrees(&path),
            [
                "device_reports",
                "device_syncs",
                "device_syncs_by_device",
                "devices",
                "sqlite_sequence",
            ]
            .map(String::from)
            .into(),
        );

        let handed_over = crate::storage::DeviceRecord {
            user_id: "ben".into(),
            actor: vec![8; 16],
            ..super::super::read(&store, |tx| tx.device("phone"))
                .expect("read")
                .expect("the device")
        };
        super::super::write(&store, |tx| tx.put_device(&handed_over)).expect("hand over");
        let device = super::super::read(&store, |tx| tx.device("phone")).expect("read");
        assert_eq!(device, Some(handed_over));
    }
}
