//! The backend's connections: one writer shared by concurrent write transactions through group
//! commit, and a few read-only connections so that reads never queue behind a write.
//!
//! Group commit: a write transaction runs in a savepoint of the writer's open transaction. When
//! it ends and another write is already waiting for the connection, it leaves the transaction
//! open for that one and waits for the commit instead of committing alone; the last of a group
//! (nobody waiting, the group full, or its first member waiting long enough) commits for all.
//! One commit, one `fsync` and one write of each page the group dirtied serve many rounds, and
//! nobody is told "committed" before the commit that carries their work succeeded.
//!
//! A batch ([`Writer::begin_batch`]) is one thread's transaction held open across many of that
//! thread's transactions (its savepoints); writes from other threads wait until it ends.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::storage::StorageError;

/// How many write transactions one commit carries at most.
const MAX_GROUP: usize = 32;

/// How long a group's first transaction waits at most for others to join it before its commit.
const MAX_GROUP_WAIT: Duration = Duration::from_millis(10);

/// How many read-only connections serve reads side by side.
const READERS: usize = 4;

/// How long a connection waits for a lock another process holds.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many prepared statements each connection keeps. A sync round runs several dozen
/// distinct statements; with rusqlite's default of 16 they pushed each other out of the cache
/// and each was parsed and planned again every round.
const STATEMENT_CACHE: usize = 256;

/// Makes `conn` keep its prepared statements, and keep them valid between uses.
///
/// rusqlite clears a cached statement's parameters when it is handed back, and SQLite expires
/// a statement whose plan was chosen with a parameter's value in mind (here: whether
/// `user_id = ?` can use an index built only over rows with a user), so such a statement was
/// parsed and planned again on every use, an eighth of the server's time in a busy fleet. With
/// the query planner stability guarantee, plans never depend on parameter values.
pub(super) fn keep_statements(conn: &Connection) -> Result<(), StorageError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// The writer connection and the group its open transaction carries.
pub(super) struct Writer {
    state: Mutex<WriterState>,
    /// Write transactions waiting for the connection: while any wait, a finished one leaves the
    /// group open for them.
    waiting: AtomicUsize,
    /// Groups committed (or failed) by a member that ended them.
    groups: AtomicUsize,
    /// The thread whose batch holds a transaction open on the connection. Changed only with
    /// the connection's lock held, and only by that thread, so a thread's own answer to "is
    /// this my batch" cannot change under it.
    batch_owner: Mutex<Option<ThreadId>>,
    /// Wakes writes waiting for a batch to end.
    batch_ended: Condvar,
}

/// The connection and its open group, behind the writer's lock.
pub(super) struct WriterState {
    /// The writer connection.
    pub(super) conn: Connection,
    group: Option<Group>,
}

/// The write transactions the writer's open transaction carries.
struct Group {
    members: usize,
    opened: Instant,
    outcome: Arc<Outcome>,
}

/// How a group's commit ended, for the members waiting on it.
#[derive(Default)]
struct Outcome {
    result: Mutex<Option<Result<(), StorageError>>>,
    done: Condvar,
}

impl Outcome {
    fn set(&self, result: Result<(), StorageError>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<(), StorageError> {
        let mut result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            result = self.done.wait(result).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl WriterState {
    /// Commits the open group, if any, and tells its members how it went.
    fn finish_group(&mut self) {
        if let Some(group) = self.group.take() {
            group.outcome.set(self.end_transaction(true));
        }
    }

    /// Ends the connection's open transaction: commits it when `commit`, otherwise (or when the
    /// commit fails) rolls it back.
    fn end_transaction(&self, commit: bool) -> Result<(), StorageError> {
        let result = match (commit, self.conn.is_autocommit()) {
            (true, false) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(StorageError::from),
            // SQLite rolled the whole transaction back (a full disk, say): nothing to commit.
            (true, true) => Err(StorageError::Database(
                "the database rolled the transaction back".into(),
            )),
            (false, _) => Ok(()),
        };
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result
    }
}

/// A write transaction holding the writer: commits the group if it is dropped before the end
/// (unwinding from a panic, say), so the members waiting on it are never left waiting.
struct Member<'w> {
    state: MutexGuard<'w, WriterState>,
    ended: bool,
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.state.finish_group();
        }
    }
}

impl Writer {
    /// The writer over an open connection.
    pub(super) fn new(conn: Connection) -> Self {
        Writer {
            state: Mutex::new(WriterState { conn, group: None }),
            waiting: AtomicUsize::new(0),
            groups: AtomicUsize::new(0),
            batch_owner: Mutex::new(None),
            batch_ended: Condvar::new(),
        }
    }

    /// The connection as it is, for the thread whose batch is open on it (and for tests).
    pub(super) fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn owner(&self) -> MutexGuard<'_, Option<ThreadId>> {
        self.batch_owner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the calling thread holds a batch open.
    pub(super) fn in_batch(&self) -> bool {
        *self.owner() == Some(thread::current().id())
    }

    /// The connection once no other thread's batch holds it.
    fn lock_outside_batches(&self) -> MutexGuard<'_, WriterState> {
        let me = thread::current().id();
        let mut state = self.lock();
        while self.owner().is_some_and(|owner| owner != me) {
            state = self
                .batch_ended
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
        state
    }

    /// Opens a batch for the calling thread: commits any open group and begins a transaction
    /// that the thread's transactions join as savepoints until [`Writer::end_batch`].
    pub(super) fn begin_batch(&self) -> Result<(), StorageError> {
        let mut state = self.lock_outside_batches();
        state.finish_group();
        state.conn.execute_batch("BEGIN IMMEDIATE")?;
        *self.owner() = Some(thread::current().id());
        Ok(())
    }

    /// Ends the calling thread's batch: commits it when `commit`, otherwise (or when the commit
    /// fails) rolls it back, then lets other threads' writes go on.
    pub(super) fn end_batch(&self, commit: bool) -> Result<(), StorageError> {
        let result = self.lock().end_transaction(commit);
        *self.owner() = None;
        self.batch_ended.notify_all();
        result
    }

    /// Runs `f` as one write transaction of a group: `f` opens and ends its own savepoint on the
    /// connection. Returns once the group's commit carrying `f`'s work succeeded, or with the
    /// error of `f` or of the commit.
    pub(super) fn write(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let state = self.lock_outside_batches();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut member = Member {
            state,
            ended: false,
        };
        if member.state.group.is_none() {
            if !member.state.conn.is_autocommit() {
                // A transaction with no group and no batch: left by a rollback that failed.
                // Nothing in it was acknowledged.
                let _ = member.state.conn.execute_batch("ROLLBACK");
            }
            member.state.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        let WriterState { conn, group } = &mut *member.state;
        let group = group.get_or_insert_with(|| Group {
            members: 0,
            opened: Instant::now(),
            outcome: Arc::default(),
        });
        let result = f(conn);
        group.members += 1;
        let outcome = group.outcome.clone();
        let commit_now = self.waiting.load(Ordering::SeqCst) == 0
            || group.members >= MAX_GROUP
            || group.opened.elapsed() >= MAX_GROUP_WAIT
            // The database ended the transaction itself: whoever joins next must not start a
            // new one under the old group's name.
            || conn.is_autocommit();
        if commit_now {
            member.state.finish_group();
            self.groups.fetch_add(1, Ordering::Relaxed);
        }
        member.ended = true;
        drop(member);
        result?;
        outcome.wait()
    }
}

/// A read-only connection to the database at `path`.
pub(super) fn open_read_only(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    keep_statements(&conn)?;
    super::service::register_functions(&conn)?;
    Ok(conn)
}

/// Read-only connections, each taken by one read transaction at a time.
pub(super) struct Readers {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl Readers {
    /// Opens the read-only connections to the database at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, StorageError> {
        let idle = (0..READERS)
            .map(|_| open_read_only(path))
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Readers {
            idle: Mutex::new(idle),
            returned: Condvar::new(),
        })
    }

    /// Runs `f` on an idle connection, waiting for one if all are taken.
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        /// Gives the connection back however `f` ends.
        struct Taken<'r>(&'r Readers, Option<Connection>);
        impl Drop for Taken<'_> {
            fn drop(&mut self) {
                if let Some(conn) = self.1.take() {
                    self.0
                        .idle
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(conn);
                    self.0.returned.notify_one();
                }
            }
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let conn = loop {
            if let Some(conn) = idle.pop() {
                break conn;
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        };
        drop(idle);
        let mut taken = Taken(self, None);
        f(taken.1.insert(conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement whose plan SQLite would tie to a parameter's value (an index over only the
    /// rows with a user) is prepared once, however often it runs from the cache.
    #[test]
    fn cached_statements_are_prepared_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        drop(super::super::SqliteStorage::open(&path).expect("open"));
        let conn = open_read_only(&path).expect("reader");
        let sql = "SELECT MAX(seq) FROM events WHERE user_id = ?1";
        for user in ["anna", "ben", "anna", "anna"] {
            let seq: Option<i64> = conn
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.query_row([user], |r| r.get(0)))
                .expect("query");
            assert_eq!(seq, None);
        }
        let stmt = conn.prepare_cached(sql).expect("cached");
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "parsed and planned again"
        );
    }

    fn writer(dir: &Path) -> Writer {
        let conn = Connection::open(dir.join("w.db")).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)")
            .expect("table");
        Writer::new(conn)
    }

    fn insert(conn: &mut Connection, v: i64) -> Result<(), StorageError> {
        let savepoint = conn.savepoint()?;
        savepoint.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        if v < 0 {
            return Err(StorageError::Database("refused".into()));
        }
        savepoint.commit()?;
        Ok(())
    }

    fn values(dir: &Path) -> Vec<i64> {
        let conn = Connection::open(dir.join("w.db")).expect("open");
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn concurrent_writes_are_each_committed_once_and_a_failed_one_only_loses_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        let results: Vec<Result<(), StorageError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (-20..200)
                .map(|v| {
                    let writer = &writer;
                    s.spawn(move || writer.write(|conn| insert(conn, v)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 20);
        // Every acknowledged write is on disk, read by another connection.
        assert_eq!(values(dir.path()), (0..200).collect::<Vec<_>>());
        assert!(writer.lock().conn.is_autocommit(), "no group is left open");
    }

    #[test]
    fn writes_waiting_for_the_connection_share_one_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        std::thread::scope(|s| {
            // Everyone queues behind a held connection, as rounds do behind a long one.
            let held = writer.lock();
            let handles: Vec<_> = (0..16)
                .map(|v| {
                    let writer = &writer;
                    s.spawn(move || writer.write(|conn| insert(conn, v)))
                })
                .collect();
            while writer.waiting.load(Ordering::SeqCst) < 16 {
                std::thread::yield_now();
            }
            drop(held);
            for handle in handles {
                handle.join().expect("thread").expect("committed");
            }
        });
        assert_eq!(values(dir.path()).len(), 16);
        let groups = writer.groups.load(Ordering::Relaxed);
        assert!(groups < 16, "16 writes took {groups} commits");
    }

    #[test]
    fn a_panicking_write_leaves_no_group_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        std::thread::scope(|s| {
            let first = s.spawn(|| writer.write(|conn| insert(conn, 1)));
            let second = s.spawn(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    writer.write(|_| panic!("a bug in a transaction"))
                }))
            });
            let third = s.spawn(|| writer.write(|conn| insert(conn, 3)));
            first.join().expect("first").expect("committed");
            assert!(second.join().expect("second").is_err());
            third.join().expect("third").expect("committed");
        });
        assert_eq!(values(dir.path()), vec![1, 3]);
        assert!(writer.lock().conn.is_autocommit(), "no group is left open");
    }

    #[test]
    fn other_threads_write_after_a_batch_never_inside_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        let outside_done = AtomicUsize::new(0);
        writer.begin_batch().expect("begin");
        assert!(writer.in_batch());
        insert(&mut writer.lock().conn, 1).expect("inside the batch");
        std::thread::scope(|s| {
            let outside = s.spawn(|| {
                assert!(!writer.in_batch(), "the batch is another thread's");
                let result = writer.write(|conn| insert(conn, 2));
                outside_done.store(1, Ordering::SeqCst);
                result
            });
            while writer.waiting.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(
                outside_done.load(Ordering::SeqCst),
                0,
                "waits for the batch"
            );
            writer.end_batch(false).expect("roll the batch back");
            outside
                .join()
                .expect("join")
                .expect("written after the batch");
        });
        assert_eq!(
            values(dir.path()),
            vec![2],
            "the batch's write is gone, the other's kept"
        );
        assert!(!writer.in_batch());
    }

    #[test]
    fn readers_see_committed_writes_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let writer = writer(dir.path());
        let readers = Readers::open(&dir.path().join("w.db")).expect("readers");
        writer.write(|conn| insert(conn, 7)).expect("write");
        let state = writer.lock();
        state.conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        state
            .conn
            .execute("INSERT INTO t (v) VALUES (8)", [])
            .expect("insert");
        let seen: i64 = readers.with(|conn| {
            conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .expect("count")
        });
        assert_eq!(seen, 1, "an open transaction is not read");
        state.conn.execute_batch("ROLLBACK").expect("rollback");
    }
}
