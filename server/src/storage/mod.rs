//! Server storage behind traits, so the domain never sees a database.
//!
//! A backend implements [`Storage`]: it runs a closure inside one read or one write
//! transaction. A transaction offers one trait per area — [`JobStore`] (documents, history,
//! scope), [`DeviceStore`] (users, sessions, enrollment, credentials, devices), [`AuditLog`],
//! [`ServiceStore`] (facts, KPIs, reminders), [`KnowledgeStore`] (manuals, cases, tips) and
//! [`BlobIndex`] (held blobs, uploads, report links), [`FleetStore`] (device reports, syncs,
//! forwarded logs), [`CustomerStore`] (customer records and their search), [`NotificationStore`] (the
//! notification outbox) — each with a `…Mut` twin for writes;
//! [`ReadTx`] and [`WriteTx`] are all of them together. Blob bytes live behind
//! [`blobs::BlobStore`]. Everything a write closure does commits together or not at all, which is how
//! "durable before acknowledged" holds: the sync handler builds its response inside the write
//! transaction and answers only after the commit. The SQLite backend ([`sqlite`]) is the embedded
//! default; every backend must pass the suite in [`conformance`].

pub mod audit;
pub mod blobs;
pub mod bulletin;
pub mod conformance;
pub mod customers;
pub mod documents;
pub mod fleet;
pub mod identity;
pub mod jobs;
pub mod knowledge;
pub mod media;
pub mod notifications;
pub mod postgres;
pub mod service;
pub mod sqlite;

use fieldsync_protocol::Millis;

pub use audit::{AuditEntry, AuditKind, AuditLog, AuditLogMut};
pub use bulletin::Bulletin;
pub use customers::{CustomerRecord, CustomerStore, CustomerStoreMut};
pub use documents::DocumentCache;
pub use fleet::{FleetStore, FleetStoreMut};
pub use identity::{
    Credential, DeviceRecord, DeviceStore, DeviceStoreMut, EnrollmentCode, SCHEDULE_VERSION,
    Session, Shift, TimeOff, User, WorkSchedule,
};
pub use jobs::{Event, EventKind, JobStore, JobStoreMut, NewChange, StoredDocument, StoredJob};
pub use knowledge::{KnowledgeStore, KnowledgeStoreMut};
pub use media::{BlobIndex, BlobIndexMut, BlobRecord, PendingUpload, ReportLink};
pub use notifications::{
    Delivery, DeliveryStatus, NotificationStore, NotificationStoreMut, StoredNotification,
};
pub use service::{
    JobFacts, LadderEntry, ListEntry, ListKind, Reminder, ServiceStore, ServiceStoreMut,
};

/// Why storage failed.
#[derive(Debug, Clone, thiserror::Error)]
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

impl From<::postgres::Error> for StorageError {
    fn from(e: ::postgres::Error) -> Self {
        // The plain message of a database error is only "db error"; its code and text say what.
        match e.as_db_error() {
            Some(db) => StorageError::Database(format!("{} ({})", db.message(), db.code().code())),
            // "error connecting to server" says nothing without its cause (refused, timed out).
            None => StorageError::Database(with_causes(&e)),
        }
    }
}

/// An error's message followed by its causes', each once: client libraries often keep what
/// went wrong ("connection refused", "no such bucket") in a source their message leaves out.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let text = source.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = source.source();
    }
    message
}

/// Everything a read transaction offers: every area's reads.
pub trait ReadTx:
    JobStore
    + DeviceStore
    + AuditLog
    + ServiceStore
    + KnowledgeStore
    + BlobIndex
    + FleetStore
    + CustomerStore
    + NotificationStore
{
}

impl<
    T: JobStore
        + DeviceStore
        + AuditLog
        + ServiceStore
        + KnowledgeStore
        + BlobIndex
        + FleetStore
        + CustomerStore
        + NotificationStore
        + ?Sized,
> ReadTx for T
{
}

/// Everything a write transaction offers: every area's reads and writes.
pub trait WriteTx:
    ReadTx
    + JobStoreMut
    + DeviceStoreMut
    + AuditLogMut
    + ServiceStoreMut
    + KnowledgeStoreMut
    + BlobIndexMut
    + FleetStoreMut
    + CustomerStoreMut
    + NotificationStoreMut
{
}

impl<
    T: ReadTx
        + JobStoreMut
        + DeviceStoreMut
        + AuditLogMut
        + ServiceStoreMut
        + KnowledgeStoreMut
        + BlobIndexMut
        + FleetStoreMut
        + CustomerStoreMut
        + NotificationStoreMut
        + ?Sized,
> WriteTx for T
{
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
    /// Runs `f` so that every write transaction it runs on this storage commits together when
    /// `f` succeeds, or none does (an error, or the process dying midway, leaves nothing). For
    /// one-off work before the server takes requests, such as seeding the demo: other callers
    /// of the same storage meanwhile would join the open transaction.
    fn atomically(
        &self,
        f: &mut dyn FnMut() -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// Proves the database takes writes now: commits a write to a probe row (for the readiness
    /// check; a full disk or a read-only database fails it).
    fn probe_write(&self, now: Millis) -> Result<(), StorageError>;
    /// How many bytes the database takes (for the metrics).
    fn database_bytes(&self) -> Result<u64, StorageError>;
    /// The loaded documents this store keeps (see [`JobStore::documents`]).
    fn documents(&self) -> &DocumentCache;
    /// How the server nodes sharing this storage tell each other what happened, when several
    /// can share it (`None`: this process is the only server).
    fn bulletin(&self) -> Option<std::sync::Arc<dyn Bulletin>> {
        None
    }
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

/// Runs `f` with [`Storage::atomically`] and returns its value.
pub fn atomically<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let mut f = Some(f);
    let mut out = None;
    let result = storage.atomically(&mut || {
        let f = f.take().ok_or(StorageError::Aborted)?;
        keep(&mut out, f())
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
