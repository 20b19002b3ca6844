//! Server storage behind one trait, so the sync and dispatch logic never sees a database.
//!
//! A backend implements [`Storage`]: it runs a closure inside one read or one write
//! transaction. Everything a write closure does commits together or not at all, which is how
//! "durable before acknowledged" holds: the sync handler builds its response inside the write
//! transaction and answers only after the commit. The SQLite backend ([`sqlite`]) is the embedded
//! default; every backend must pass the suite in [`conformance`].

pub mod conformance;
pub mod sqlite;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;
use serde::{Deserialize, Serialize};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The transaction was rolled back because its closure failed.
    #[error("transaction aborted")]
    Aborted,
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Database(e.to_string())
    }
}

/// A job as stored: the Automerge document and its projection row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The whole document (`Automerge::save`).
    pub doc: Vec<u8>,
    /// The projection derived from it.
    pub summary: JobSummary,
}

/// What an entry in the server's history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An Automerge change to a job.
    Change,
    /// A job entered a user's scope (assigned to them).
    Enter,
    /// A job left a user's scope (reassigned or unassigned).
    Leave,
}

impl EventKind {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Change => "change",
            EventKind::Enter => "enter",
            EventKind::Leave => "leave",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Result<Self, StorageError> {
        match s {
            "change" => Ok(EventKind::Change),
            "enter" => Ok(EventKind::Enter),
            "leave" => Ok(EventKind::Leave),
            other => Err(StorageError::Corrupt(format!(
                "unknown event kind `{other}`"
            ))),
        }
    }
}

/// One entry of the server's history. `seq` grows by one per entry across all jobs; a device's
/// cursor is the last `seq` it has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the history.
    pub seq: u64,
    /// The job.
    pub job_id: String,
    /// What happened.
    pub kind: EventKind,
    /// For scope events, whose scope.
    pub user: Option<String>,
    /// For changes, the device that uploaded it (`None` for the server's own changes).
    pub origin_device: Option<String>,
    /// For changes, the change bytes.
    pub change: Option<Vec<u8>>,
}

/// One entry of a job's history, as the job page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Position in the server's history.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// The device that uploaded a change, or the user a scope event concerns; none for the
    /// server's own changes.
    pub by: Option<String>,
    /// Server time.
    pub at: Millis,
}

/// A change to append to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The change hash.
    pub hash: [u8; 32],
    /// The change bytes.
    pub bytes: Vec<u8>,
}

/// A device the server has seen, and where it is in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device id.
    pub device_id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// Its Automerge actor id.
    pub actor: Vec<u8>,
    /// The cursor it presented last (what it acknowledged).
    pub last_presented_cursor: u64,
    /// The cursor the server issued to it last.
    pub last_issued_cursor: u64,
    /// When it last synced (server clock).
    pub last_seen: Millis,
}

/// A person who uses Fieldsync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user id (also what `assignee` holds).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `installer`, `dispatcher`, `supervisor`, `head_of_engineering` or `admin`.
    pub role: String,
    /// Home region.
    #[serde(default)]
    pub region: String,
    /// Skills (product families, kinds of work).
    #[serde(default)]
    pub skills: Vec<String>,
}

/// Reads inside one transaction.
pub trait ReadTx {
    /// A random id made when the database was created; it tells devices which database they
    /// talk to.
    fn server_id(&self) -> Result<String, StorageError>;
    /// The server's Automerge actor id for changes dispatch makes: new for every process (every
    /// open of the store), so a database restored from a backup never reuses the sequence
    /// numbers of changes it lost but phones still hold.
    fn server_actor(&self) -> Result<Vec<u8>, StorageError>;
    /// The device that uploaded changes by `actor`, if any did.
    fn device_for_actor(&self, actor: &[u8]) -> Result<Option<String>, StorageError>;
    /// The highest `seq` in the history (0 when empty).
    fn max_seq(&self) -> Result<u64, StorageError>;
    /// One job.
    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError>;
    /// Every job's projection, oldest call first.
    fn list_jobs(&self) -> Result<Vec<JobSummary>, StorageError>;
    /// History entries after `after` that concern `user`: changes to jobs currently assigned to
    /// them and their scope events, in `seq` order, at most `limit`.
    fn events_for_user(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError>;
    /// The `seq` of the latest time `job_id` entered `user`'s scope.
    fn latest_entry(&self, job_id: &str, user: &str) -> Result<Option<u64>, StorageError>;
    /// Whether the job was ever in the user's scope.
    fn ever_in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError>;
    /// A device.
    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError>;
    /// Every user.
    fn users(&self) -> Result<Vec<User>, StorageError>;
    /// The history of one job: (seq, kind, origin device, server time), oldest first.
    fn job_history(&self, job_id: &str) -> Result<Vec<HistoryEntry>, StorageError>;
}

/// Writes inside one transaction.
pub trait WriteTx: ReadTx {
    /// Stores a job's document and projection and appends its new changes to the history.
    fn put_job(
        &mut self,
        job: &StoredJob,
        origin_device: Option<&str>,
        changes: &[NewChange],
        now: Millis,
    ) -> Result<(), StorageError>;
    /// Appends a scope event.
    fn record_scope(
        &mut self,
        job_id: &str,
        user: &str,
        kind: EventKind,
        now: Millis,
    ) -> Result<(), StorageError>;
    /// Creates or updates a device.
    fn put_device(&mut self, device: &DeviceRecord) -> Result<(), StorageError>;
    /// Records that `actor` belongs to `device_id` (the first device seen with it keeps it).
    fn record_actor(&mut self, actor: &[u8], device_id: &str) -> Result<(), StorageError>;
    /// Creates or updates a user.
    fn put_user(&mut self, user: &User) -> Result<(), StorageError>;
}

/// A storage backend.
pub trait Storage: Send + Sync + 'static {
    /// Runs `f` in a read transaction.
    fn read_tx(
        &self,
        f: &mut dyn FnMut(&dyn ReadTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// Runs `f` in a write transaction, committed when `f` returns `Ok` and rolled back
    /// otherwise.
    fn write_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
}

/// Runs `f` in a read transaction and returns its value.
pub fn read<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce(&dyn ReadTx) -> Result<T, E>,
) -> Result<T, E> {
    let mut f = Some(f);
    let mut out = None;
    let result = storage.read_tx(&mut |tx| {
        let f = f.take().ok_or(StorageError::Aborted)?;
        keep(&mut out, f(tx))
    });
    finish(out, result)
}

/// Runs `f` in a write transaction and returns its value; an error from `f` rolls back.
pub fn write<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce(&mut dyn WriteTx) -> Result<T, E>,
) -> Result<T, E> {
    let mut f = Some(f);
    let mut out = None;
    let result = storage.write_tx(&mut |tx| {
        let f = f.take().ok_or(StorageError::Aborted)?;
        keep(&mut out, f(tx))
    });
    finish(out, result)
}

/// Keeps the closure's result for the caller; a failed closure tells the backend to roll back.
fn keep<T, E>(out: &mut Option<Result<T, E>>, value: Result<T, E>) -> Result<(), StorageError> {
    let failed = value.is_err();
    *out = Some(value);
    if failed {
        Err(StorageError::Aborted)
    } else {
        Ok(())
    }
}

/// The closure's own error wins over the `Aborted` it caused; otherwise the backend's result.
fn finish<T, E: From<StorageError>>(
    out: Option<Result<T, E>>,
    result: Result<(), StorageError>,
) -> Result<T, E> {
    match (out, result) {
        (Some(Err(e)), _) => Err(e),
        (_, Err(e)) => Err(e.into()),
        (Some(Ok(value)), Ok(())) => Ok(value),
        (None, Ok(())) => Err(StorageError::Aborted.into()),
    }
}
