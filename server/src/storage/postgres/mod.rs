//! The PostgreSQL backend: one database that several server nodes share.
//!
//! Like SQLite's connections, the pool's connections are used only from blocking threads (the
//! blocking client drives its own small runtime, which must not run inside an async task).
//!
//! Transactions (ADR 0014):
//! - A read runs in `REPEATABLE READ, READ ONLY`: every statement of it sees the same
//!   snapshot, as a SQLite read transaction does.
//! - A write first takes the transaction-scoped advisory lock [`WRITE_LOCK`], on every node
//!   alike, then runs in `READ COMMITTED`. Writes are serial across the whole deployment, so
//!   the history's `seq` is handed out in commit order: a device that has read up to `seq` n
//!   can never later find a smaller `seq` committed by a slower transaction (a sequence alone
//!   hands numbers out in the order transactions ask, not in the order they commit, and a
//!   cursor would skip the late one for ever). Because a write sees every commit before it,
//!   two nodes merging the same job both succeed: the second merges into what the first
//!   stored, and neither can overwrite the other's document, projection or heads.
//! - Reads never wait for writes (MVCC), and the writers' lock is held only for the
//!   transaction, so a node that dies mid-round releases it with its connection.

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use ::postgres::types::ToSql;
use ::postgres::{Client, Config, NoTls, Row, Statement};
use fieldsync_protocol::job::JobSummary;
use r2d2::{ManageConnection, Pool, PooledConnection};

use crate::storage::{Bulletin, DocumentCache, ReadTx, Storage, StorageError, WriteTx};
pub use import::{Imported, import_sqlite};

mod audit;
mod bulletin;
mod customers;
mod fleet;
mod identity;
mod import;
mod jobs;
mod knowledge;
mod notifications;
mod service;

/// The advisory lock every write transaction holds until it ends (see the module's docs).
/// Advisory lock keys are one 64-bit space per database; this is "fieldsyn" in ASCII.
const WRITE_LOCK: i64 = 0x6669_656c_6473_796e;

/// The session-scoped advisory lock under which a node migrates, so that nodes starting
/// together never run the same migration twice.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;

/// How many connections one node keeps at most. Storage work runs on at most 24 blocking
/// threads, and writes are serial anyway.
const POOL_SIZE: u32 = 16;

/// How long a transaction waits for a free connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// Numbered migrations, recorded in `schema_version`; never edit a shipped one.
fn migrations() -> Vec<String> {
    vec![
        // 1: the layout of SQLite's migrations 1–9, in PostgreSQL's types.
        [
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
             CREATE TABLE probe (id BIGINT PRIMARY KEY CHECK (id = 1), at BIGINT NOT NULL);",
            identity::SCHEMA,
            jobs::SCHEMA,
            audit::SCHEMA,
            service::SCHEMA,
            knowledge::SCHEMA,
            fleet::SCHEMA,
        ]
        .concat(),
        // 2: failed sign-ins, counted by every node (SQLite's migration 10).
        "CREATE TABLE sign_in_failures (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id TEXT COLLATE \"C\" NOT NULL,
            network TEXT COLLATE \"C\" NOT NULL,
            at BIGINT NOT NULL
        );
        CREATE INDEX sign_in_failures_by_account ON sign_in_failures(user_id, network, at);
        CREATE INDEX sign_in_failures_by_time ON sign_in_failures(at);"
            .to_owned(),
        // 3: who acknowledged a reminder (SQLite's migration 11).
        "ALTER TABLE reminders ADD COLUMN acknowledged_by TEXT COLLATE \"C\";".to_owned(),
        // 4: customer records (SQLite's migration 12).
        customers::SCHEMA.to_owned(),
        // 5: the return-visit clock and its satisfaction (SQLite's migration 13).
        "ALTER TABLE job_facts ADD COLUMN return_visit_by BIGINT;
         ALTER TABLE job_facts ADD COLUMN return_visit_at BIGINT;
         ALTER TABLE job_facts ADD COLUMN customer_rating BIGINT;"
            .to_owned(),
        // 6: the notification outbox (SQLite's migration 14).
        notifications::SCHEMA.to_owned(),
        // 7: the open reminders to one installer (SQLite's migration 15).
        "CREATE INDEX reminders_open_to_user ON reminders(to_user) WHERE acknowledged_at IS NULL;"
            .to_owned(),
        // 8: each job as its customer's history shows it (SQLite's migration 16).
        customers::HISTORY.to_owned(),
        // 9: engineers' working weeks and time off (SQLite's migration 17).
        identity::SCHEDULES.to_owned(),
        // 10: the managed lists of regions and problem categories (SQLite's migration 18).
        service::LISTS.to_owned(),
    ]
}

/// How many prepared statements a connection keeps; the server's statements are a fixed set of
/// texts well below it, so the bound only guards against a text built from data by mistake.
const STATEMENTS_KEPT: usize = 512;

/// A pooled connection and the statements it has prepared, by their SQL. Preparing a
/// statement costs a round trip to the database; a statement used again does not.
pub(crate) struct Connection {
    client: Client,
    statements: std::collections::HashMap<String, Statement>,
}

impl Connection {
    /// `sql` prepared on this connection, once.
    fn statement(&mut self, sql: &str) -> Result<Statement, StorageError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.statements.len() >= STATEMENTS_KEPT {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Makes and checks the pool's connections.
#[derive(Debug)]
struct Connector(Config);

impl ManageConnection for Connector {
    type Connection = Connection;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<Connection, ::postgres::Error> {
        Ok(Connection {
            client: self.0.connect(NoTls)?,
            statements: std::collections::HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), ::postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.client.is_closed()
    }
}

/// The pool's connections.
type Pooled = PooledConnection<Connector>;

/// The PostgreSQL storage backend.
pub struct PostgresStorage {
    /// The connections; taken out only when the storage is dropped (see its `Drop`).
    pool: Option<Pool<Connector>>,
    /// The transaction [`Storage::atomically`] holds open, with the thread that holds it.
    batch: Mutex<Option<(ThreadId, Pooled)>>,
    /// The server's actor for this process (see [`crate::storage::JobStore::server_actor`]).
    actor: Vec<u8>,
    /// Loaded documents kept between transactions. Another node's writes change a job's heads,
    /// so a copy cached here is never taken for a document it is not.
    documents: DocumentCache,
    /// What this node and the others sharing the database tell each other.
    bulletin: Arc<bulletin::PgBulletin>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// the key=value form) and migrates it.
    pub fn connect(url: &str) -> Result<Self, StorageError> {
        let config = Config::from_str(url).map_err(|e| {
            StorageError::Database(format!("not a PostgreSQL connection string: {e}"))
        })?;
        Self::open(config)
    }

    /// Connects with `config` and migrates the database.
    pub fn open(config: Config) -> Result<Self, StorageError> {
        if config.get_ssl_mode() == ::postgres::config::SslMode::Require {
            return Err(StorageError::Database(
                "sslmode=require: this server does not speak TLS to PostgreSQL yet; keep the \
                 database on a private network and leave sslmode out"
                    .into(),
            ));
        }
        let mut client = config.connect(NoTls)?;
        migrate(&mut client, &migrations())?;
        drop(client);
        let bulletin = Arc::new(bulletin::PgBulletin::new(config.clone()));
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(POOL_WAIT)
            .build(Connector(config))
            .map_err(|e| StorageError::Database(format!("connection pool: {e}")))?;
        Ok(PostgresStorage {
            pool: Some(pool),
            batch: Mutex::new(None),
            actor: uuid::Uuid::new_v4().as_bytes().to_vec(),
            documents: DocumentCache::default(),
            bulletin,
        })
    }

    fn connection(&self) -> Result<Pooled, StorageError> {
        self.pool
            .as_ref()
            .ok_or_else(|| StorageError::Database("the storage is closed".into()))?
            .get()
            .map_err(|e| StorageError::Database(format!("no database connection: {e}")))
    }

    fn batch(&self) -> std::sync::MutexGuard<'_, Option<(ThreadId, Pooled)>> {
        self.batch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in a transaction of its own on a pooled connection, or in a savepoint of the
    /// batch when this thread runs [`Storage::atomically`].
    fn run(
        &self,
        begin: &str,
        f: &mut dyn FnMut(&mut Tx<'_>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        {
            let mut batch = self.batch();
            if let Some((owner, conn)) = batch.as_mut()
                && *owner == thread::current().id()
            {
                return self.scoped(conn, "SAVEPOINT tx", "RELEASE SAVEPOINT tx", f, true);
            }
        }
        let mut conn = self.connection()?;
        self.scoped(&mut conn, begin, "COMMIT", f, false)
    }

    /// Runs `f` between `begin` and `end`, undoing it when `f` or `end` fails.
    fn scoped(
        &self,
        conn: &mut Connection,
        begin: &str,
        end: &str,
        f: &mut dyn FnMut(&mut Tx<'_>) -> Result<(), StorageError>,
        savepoint: bool,
    ) -> Result<(), StorageError> {
        conn.client.batch_execute(begin)?;
        let mut tx = Tx {
            conn: RefCell::new(&mut *conn),
            actor: &self.actor,
            documents: &self.documents,
        };
        let result = f(&mut tx).and_then(|()| Ok(conn.client.batch_execute(end)?));
        if result.is_err() {
            let undo = if savepoint {
                "ROLLBACK TO SAVEPOINT tx; RELEASE SAVEPOINT tx"
            } else {
                "ROLLBACK"
            };
            // A connection whose rollback failed is broken; the pool checks it before reuse.
            let _ = conn.client.batch_execute(undo);
        }
        result
    }
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        // Closing a blocking client runs its own small runtime, which panics on a thread that
        // drives async tasks; the last holder of the storage may be such a task (the
        // scheduler's, when the server stops). The connections close on a thread of their own.
        let pool = self.pool.take();
        let batch = self.batch().take();
        if tokio::runtime::Handle::try_current().is_ok() {
            let closing = thread::spawn(move || drop((pool, batch)));
            let _ = closing.join();
        }
    }
}

/// What opens a write transaction: the writers' lock first (see the module's docs).
fn begin_write() -> String {
    format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
}

/// Brings the database's layout up to this server's, one migration per transaction.
fn migrate(client: &mut Client, migrations: &[String]) -> Result<(), StorageError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])?;
    let result = migrate_locked(client, migrations);
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK]);
    result
}

fn migrate_locked(client: &mut Client, migrations: &[String]) -> Result<(), StorageError> {
    // `IF NOT EXISTS` on an existing table is a notice, not news: keep it out of the log.
    client.batch_execute("SET client_min_messages = warning")?;
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
           version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let current: i64 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
        .try_get(0)?;
    let known = migrations.len() as i64;
    if current > known {
        return Err(StorageError::Database(format!(
            "the database has schema version {current}, newer than this server's {known}"
        )));
    }
    for (index, migration) in migrations.iter().enumerate().skip(current as usize) {
        let mut tx = client.transaction()?;
        tx.batch_execute(migration)?;
        if index == 0 {
            let server_id = format!("srv-{}", uuid::Uuid::new_v4().simple());
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('server_id', $1)",
                &[&server_id.as_bytes()],
            )?;
        }
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(index as i64 + 1)],
        )?;
        tx.commit()?;
    }
    Ok(())
}

impl Storage for PostgresStorage {
    fn read_tx(
        &self,
        f: &mut dyn FnMut(&dyn ReadTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.run(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            &mut |tx| f(tx),
        )
    }

    fn write_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.run(&begin_write(), &mut |tx| f(tx))
    }

    fn atomically(
        &self,
        f: &mut dyn FnMut() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let me = thread::current().id();
        let mut conn = self.connection()?;
        conn.client.batch_execute(&begin_write())?;
        {
            let mut batch = self.batch();
            if batch.is_some() {
                let _ = conn.client.batch_execute("ROLLBACK");
                return Err(StorageError::Database(
                    "work is already being done atomically on this storage".into(),
                ));
            }
            *batch = Some((me, conn));
        }
        // Whatever happens in `f` (an error, a panic), the batch ends: committed only on
        // success, rolled back otherwise.
        struct End<'s>(&'s PostgresStorage, bool);
        impl Drop for End<'_> {
            fn drop(&mut self) {
                if let Some((_, mut conn)) = self.0.batch().take()
                    && !self.1
                {
                    let _ = conn.client.batch_execute("ROLLBACK");
                }
            }
        }
        let mut end = End(self, false);
        f()?;
        let (_, mut conn) = self
            .batch()
            .take()
            .ok_or_else(|| StorageError::Database("the batch's connection is gone".into()))?;
        end.1 = true;
        let committed = conn.client.batch_execute("COMMIT");
        if committed.is_err() {
            let _ = conn.client.batch_execute("ROLLBACK");
        }
        Ok(committed?)
    }

    fn probe_write(&self, now: fieldsync_protocol::Millis) -> Result<(), StorageError> {
        self.run(&begin_write(), &mut |tx| {
            tx.execute(
                "INSERT INTO probe (id, at) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                &[&now],
            )?;
            Ok(())
        })
    }

    fn database_bytes(&self) -> Result<u64, StorageError> {
        let mut conn = self.connection()?;
        // The tables of this deployment's schema, with their indexes and large values.
        let bytes: i64 = conn
            .client
            .query_one(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                &[],
            )?
            .try_get(0)?;
        Ok(to_u64(bytes))
    }

    fn documents(&self) -> &DocumentCache {
        &self.documents
    }

    fn bulletin(&self) -> Option<Arc<dyn Bulletin>> {
        Some(self.bulletin.clone())
    }
}

/// A transaction: the connection it runs on, the server's actor and the shared document cache.
///
/// The blocking client needs `&mut` for every statement while the read traits take `&self`;
/// one transaction runs on one thread, so a `RefCell` hands the connection to one statement
/// at a time.
pub(crate) struct Tx<'c> {
    conn: RefCell<&'c mut Connection>,
    actor: &'c [u8],
    documents: &'c DocumentCache,
}

/// A statement's parameters.
pub(crate) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    /// What a statement's failure means for the connection's prepared statements: a
    /// statement the database refuses to run as prepared (its tables changed under it, as when
    /// another node migrated the schema) is prepared again the next time.
    fn settle(conn: &mut Connection, error: ::postgres::Error) -> StorageError {
        if error
            .code()
            .is_some_and(|code| *code == ::postgres::error::SqlState::FEATURE_NOT_SUPPORTED)
        {
            conn.statements.clear();
        }
        error.into()
    }

    /// Every row `sql` returns.
    pub(crate) fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StorageError> {
        let mut conn = self.conn.borrow_mut();
        let statement = conn.statement(sql)?;
        conn.client
            .query(&statement, params)
            .map_err(|e| Self::settle(&mut conn, e))
    }

    /// The one row `sql` returns, if any (more than one is an error).
    pub(crate) fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, StorageError> {
        let mut conn = self.conn.borrow_mut();
        let statement = conn.statement(sql)?;
        conn.client
            .query_opt(&statement, params)
            .map_err(|e| Self::settle(&mut conn, e))
    }

    /// The one row `sql` returns (none or more than one is an error).
    pub(crate) fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, StorageError> {
        let mut conn = self.conn.borrow_mut();
        let statement = conn.statement(sql)?;
        conn.client
            .query_one(&statement, params)
            .map_err(|e| Self::settle(&mut conn, e))
    }

    /// Runs `sql` and returns how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StorageError> {
        let mut conn = self.conn.borrow_mut();
        let statement = conn.statement(sql)?;
        conn.client
            .execute(&statement, params)
            .map_err(|e| Self::settle(&mut conn, e))
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

pub(crate) fn summary_from(json: &str) -> Result<JobSummary, StorageError> {
    serde_json::from_str(json).map_err(|e| StorageError::Corrupt(format!("job summary: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    /// Where the tests' PostgreSQL is: `scripts/test.sh` starts a throwaway cluster and sets it.
    const TEST_DATABASE: &str = "FIELDSYNC_TEST_DATABASE_URL";

    /// A schema of its own for one test, dropped when the test ends.
    pub(crate) struct Schema {
        url: String,
        name: String,
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            if let Ok(mut client) = Client::connect(&self.url, NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name));
            }
        }
    }

    /// A fresh, empty PostgreSQL store in a schema of its own on the tests' cluster.
    pub(crate) fn fresh() -> (Schema, PostgresStorage) {
        let url = std::env::var(TEST_DATABASE).unwrap_or_else(|_| {
            panic!(
                "{TEST_DATABASE} is not set: run the tests with scripts/test.sh, which starts \
                 a PostgreSQL cluster for them"
            )
        });
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = Client::connect(&url, NoTls).expect("connect to the tests' PostgreSQL");
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .expect("create schema");
        let mut config = Config::from_str(&url).expect("test database url");
        config.options(&format!("-c search_path={name}"));
        let store = PostgresStorage::open(config).expect("open");
        (Schema { url, name }, store)
    }

    fn boxed() -> (Schema, Box<dyn Storage>) {
        let (schema, store) = fresh();
        (schema, Box::new(store))
    }

    /// The conformance suite, one test per check.
    mod conformance {
        crate::storage_conformance_tests!(super::boxed);
    }

    /// A SQLite database with a little of everything, imported: the same server id, history,
    /// scope and reminders, numbering carrying on after SQLite's, and a second import refused.
    #[test]
    fn an_import_keeps_every_id_and_numbering_carries_on() {
        use crate::storage::{EventKind, ListKind, NewChange, Reminder, StoredJob, read, write};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.sqlite3");
        let sqlite = SqliteStorage::open(&path).expect("sqlite");
        let summary: JobSummary = serde_json::from_value(serde_json::json!({
            "id": "j1", "kind": "repair", "status": "assigned", "assignee": "u1",
            "customer_name": "Ada", "tier": "standard", "region": "north",
            "priority": "normal", "ring": 1, "call_received_at": 1
        }))
        .expect("summary");
        let job = StoredJob {
            summary,
            heads: vec![1; 32],
            snapshot_bytes: 0,
            tail_bytes: 0,
        };
        let change = |n: u8| NewChange {
            hash: [n; 32],
            bytes: vec![n; 8],
            origin_device: Some("d1".into()),
        };
        let reminder = Reminder {
            id: 0,
            job_id: "j1".into(),
            rule: "resolve:ring2".into(),
            to_user: Some("u1".into()),
            to_role: None,
            ring: 2,
            clock: "resolve".into(),
            message: "late".into(),
            created_at: 5,
            acknowledged_at: None,
            acknowledged_by: None,
        };
        let retired = crate::storage::ListEntry {
            code: "west".into(),
            name_zh: "西区".into(),
            name_en: "West".into(),
            retired: true,
        };
        write(&sqlite, |tx| {
            tx.put_job(&job, &[change(1), change(2)], None, 2)?;
            tx.record_scope("j1", "u1", EventKind::Enter, 3)?;
            tx.add_reminder(&reminder)?;
            tx.put_list_entry(ListKind::Region, &retired)?;
            Ok::<_, StorageError>(())
        })
        .expect("fill");
        let before = |store: &dyn Storage| {
            read(store, |tx| {
                Ok::<_, StorageError>((
                    tx.server_id()?,
                    tx.max_seq()?,
                    tx.events_for_user("u1", 0, 100)?,
                    tx.reminders(false)?,
                    tx.job("j1")?,
                    tx.list_entries(ListKind::Region)?,
                ))
            })
            .expect("read")
        };
        let expected = before(&sqlite);
        drop(sqlite);

        let (schema, _) = fresh();
        let url = format!("{}?options=-c%20search_path%3D{}", schema.url, schema.name);
        let imported = import_sqlite(&path, &url).expect("import");
        assert!(imported.tables.contains(&("events", 3)), "{imported:?}");
        let postgres = PostgresStorage::connect(&url).expect("open");
        assert_eq!(before(&postgres), expected);
        write(&postgres, |tx| tx.put_job(&job, &[change(3)], None, 9)).expect("write");
        assert_eq!(
            read(&postgres, |tx| tx.max_seq()).expect("seq"),
            expected.1 + 1,
            "the history carries on after SQLite's last seq"
        );
        let error = import_sqlite(&path, &url)
            .expect_err("not empty")
            .to_string();
        assert!(error.contains("already holds data"), "{error}");
    }

    /// The import copies every table of both layouts, so a new table cannot be forgotten.
    #[test]
    fn the_import_knows_every_table() {
        let (_schema, store) = fresh();
        let mut conn = store.connection().expect("connection");
        let postgres: Vec<String> = conn
            .client
            .query(
                "SELECT table_name::TEXT FROM information_schema.tables
                 WHERE table_schema = current_schema() ORDER BY 1",
                &[],
            )
            .expect("tables")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sqlite3");
        drop(SqliteStorage::open(&path).expect("sqlite"));
        let sqlite: Vec<String> = {
            let conn = rusqlite::Connection::open(&path).expect("open");
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
                .expect("prepare");
            stmt.query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        for tables in [postgres, sqlite] {
            let mut known: Vec<&str> = import::TABLES
                .iter()
                .chain(&["probe", "sqlite_sequence", "schema_version"])
                .copied()
                .filter(|t| tables.iter().any(|have| have == t))
                .collect();
            known.sort_unstable();
            assert_eq!(tables, known);
        }
    }

    /// Every table's columns and every index of a schema, for comparing two layouts.
    fn layout(client: &mut Client, schema: &str) -> Vec<String> {
        let mut columns: Vec<String> = client
            .query(
                "SELECT table_name || '.' || column_name || ' ' || data_type || ' '
                   || is_nullable || ' ' || COALESCE(column_default, '') || ' ' || is_identity
                 FROM information_schema.columns WHERE table_schema = $1",
                &[&schema],
            )
            .expect("columns")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let indexes = client
            .query(
                "SELECT replace(indexdef, $1, 's') FROM pg_indexes WHERE schemaname = $1",
                &[&schema],
            )
            .expect("indexes");
        columns.extend(indexes.iter().map(|row| row.get::<_, String>(0)));
        columns.sort();
        columns
    }

    /// A node whose prepared statements another node's migration changed under it fails each
    /// such statement once per connection, then prepares it again (no restart needed).
    #[test]
    fn a_statement_the_schema_changed_under_is_prepared_again() {
        let (schema, store) = fresh();
        let probe = || {
            store.run("BEGIN", &mut |tx| {
                tx.query("SELECT * FROM probe", &[])?;
                Ok(())
            })
        };
        probe().expect("prepared");
        let mut admin = Client::connect(&schema.url, NoTls).expect("connect");
        admin
            .batch_execute(&format!(
                "ALTER TABLE {}.probe ADD COLUMN note TEXT",
                schema.name
            ))
            .expect("alter");
        for _ in 0..=POOL_SIZE {
            let _ = probe();
        }
        for _ in 0..5 {
            probe().expect("prepared again");
        }
    }

    /// A database made by an older server and upgraded has the layout of a fresh one.
    #[test]
    fn an_upgraded_database_equals_a_fresh_one() {
        let (fresh_schema, _fresh) = fresh();
        let (old_schema, old) = fresh();
        drop(old);
        let mut client = Client::connect(&old_schema.url, NoTls).expect("connect");
        client
            .batch_execute(&format!(
                "DROP SCHEMA {0} CASCADE; CREATE SCHEMA {0}; SET search_path = {0}",
                old_schema.name
            ))
            .expect("empty schema");
        // The layout of the first shipped version, then the server's migrations over it. An
        // engineer's region before the lists existed becomes the first entry of its list.
        migrate(&mut client, &migrations()[..1]).expect("version 1");
        migrate(&mut client, &migrations()[..9]).expect("version 9");
        client
            .batch_execute("INSERT INTO users (id, name, role, region) VALUES ('u1', 'Una', 'installer', '华东')")
            .expect("a user");
        migrate(&mut client, &migrations()).expect("upgrade");
        let seeded: Vec<(String, String, String, bool)> = client
            .query(
                "SELECT code, name_zh, name_en, retired FROM list_entries",
                &[],
            )
            .expect("lists")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        assert_eq!(
            seeded,
            [("华东".into(), "华东".into(), "华东".into(), false)]
        );
        let mut admin = Client::connect(&fresh_schema.url, NoTls).expect("connect");
        assert_eq!(
            layout(&mut admin, &old_schema.name),
            layout(&mut admin, &fresh_schema.name)
        );
    }

    #[test]
    fn nodes_share_identity_and_a_newer_schema_is_refused() {
        let (schema, first) = fresh();
        let id = |store: &PostgresStorage| {
            crate::storage::read(store, |tx| tx.server_id()).expect("server id")
        };
        let mut config = Config::from_str(&schema.url).expect("url");
        config.options(&format!("-c search_path={}", schema.name));
        let second = PostgresStorage::open(config.clone()).expect("a second node");
        assert_eq!(id(&first), id(&second), "one database, one server id");
        let actor = |store: &PostgresStorage| {
            crate::storage::read(store, |tx| tx.server_actor()).expect("actor")
        };
        assert_ne!(actor(&first), actor(&second), "each process its own actor");
        let mut client = config.connect(NoTls).expect("connect");
        client
            .batch_execute("INSERT INTO schema_version (version) VALUES (99)")
            .expect("bump");
        let error = PostgresStorage::open(config)
            .expect_err("newer")
            .to_string();
        assert!(error.contains("newer"), "{error}");
    }
}
