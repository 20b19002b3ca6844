//! Jobs and the server's history: the stored documents with their projections, the changes
//! appended to the history, and the scope events that say which user holds which job.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;
use serde::Serialize;

use super::StorageError;
use super::documents::DocumentCache;

/// A job's projection row: what most reads need without touching the document.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The projection derived from the document.
    pub summary: JobSummary,
    /// The document's heads, the sorted 32-byte change hashes concatenated: they identify its
    /// content exactly, so a cached copy with the same heads is the stored document. Empty for
    /// a job stored before heads were recorded.
    pub heads: Vec<u8>,
    /// Bytes of the stored snapshot.
    pub snapshot_bytes: u64,
    /// Bytes of the changes appended since the snapshot.
    pub tail_bytes: u64,
}

/// A job's document as stored: the latest snapshot and the changes appended after it.
///
/// Accepting a change appends it to the history (which the history keeps anyway) instead of
/// writing the whole document again, so an edit costs the same on a job with a long history as
/// on a fresh one; the snapshot is rewritten only now and then (compaction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDocument {
    /// A document chunk (`Automerge::save`); empty when the job was never compacted.
    pub snapshot: Vec<u8>,
    /// The change chunks appended since the snapshot, oldest first.
    pub tail: Vec<Vec<u8>>,
}

impl StoredDocument {
    /// The document as one Automerge file: the snapshot followed by the change chunks, which
    /// every Automerge `load` accepts.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.snapshot;
        for change in self.tail {
            bytes.extend_from_slice(&change);
        }
        bytes
    }
}

/// What an entry in the server's history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

/// A change to append to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The change hash.
    pub hash: [u8; 32],
    /// The change bytes.
    pub bytes: Vec<u8>,
    /// The device that uploaded it (`None` for the server's own changes, which every device in
    /// scope receives, the uploader included).
    pub origin_device: Option<String>,
}

/// Reads of this area inside one transaction.
pub trait JobStore {
    /// A random id made when the database was created; it tells devices which database they
    /// talk to.
    fn server_id(&self) -> Result<String, StorageError>;
    /// The server's Automerge actor id for changes dispatch makes: new for every process (every
    /// open of the store), so a database restored from a backup never reuses the sequence
    /// numbers of changes it lost but phones still hold.
    fn server_actor(&self) -> Result<Vec<u8>, StorageError>;
    /// The highest `seq` in the history (0 when empty).
    fn max_seq(&self) -> Result<u64, StorageError>;
    /// One job's projection row.
    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError>;
    /// One job's document: its snapshot and the changes appended after it.
    fn job_document(&self, job_id: &str) -> Result<Option<StoredDocument>, StorageError>;
    /// Loaded documents kept between transactions, shared by every transaction of this store.
    fn documents(&self) -> &DocumentCache;
    /// Every job's projection, oldest call first.
    fn list_jobs(&self) -> Result<Vec<JobSummary>, StorageError>;
    /// History entries after `after` that concern `user`: changes to jobs in their scope now
    /// (see [`JobStore::in_scope`]) and their scope events, in `seq` order, at most
    /// `limit`.
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
    /// Whether the job is in the user's scope now: its latest scope event for them is an entry.
    fn in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError>;
    /// The jobs in the user's scope now, by id.
    fn jobs_in_scope(&self, user: &str) -> Result<Vec<String>, StorageError>;
    /// The `seq` of the user's latest scope event (0 when none): it changes whenever their
    /// scope does.
    fn latest_scope_seq(&self, user: &str) -> Result<u64, StorageError>;
    /// Closed jobs nobody has changed since `idle_since` that are still in their assignee's
    /// scope, as `(job, assignee)`, at most `limit`: the ones due to leave the phone.
    fn idle_closed_in_scope(
        &self,
        idle_since: Millis,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StorageError>;
}

/// Writes of this area inside one transaction.
pub trait JobStoreMut: JobStore {
    /// Stores a job's projection row and appends its new changes to the history (and so to
    /// its document's tail). With `snapshot`, the document is compacted: the snapshot replaces
    /// the stored one and covers every change appended so far, `changes` included. The row's
    /// `snapshot_bytes` and `tail_bytes` are kept by the store; the values in `job` are ignored.
    fn put_job(
        &mut self,
        job: &StoredJob,
        changes: &[NewChange],
        snapshot: Option<&[u8]>,
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
}
