//! The errors of client-core. [`Error`] is what the public API returns; its variants say what the
//! caller can do about the problem. Internal detail stays in the message.

use fieldsync_protocol::SchemaError;
use fieldsync_protocol::wire::WireError;

/// Everything that can go wrong in client-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job is not on this device.
    #[error("job `{0}` is not on this device")]
    UnknownJob(String),
    /// The reminder is not on this device (it was never sent to this installer, or is done).
    #[error("reminder {0} is not on this device")]
    UnknownReminder(u64),
    /// A scanned or pasted enrollment link does not read; nothing was sent.
    #[error("{0}")]
    BadEnrollmentLink(#[from] fieldsync_protocol::enrollment::LinkError),
    /// The edit breaks a rule of the job document (a forbidden status move, a field the installer
    /// does not own, a value out of range). Nothing was written.
    #[error("edit refused: {0}")]
    Refused(#[from] SchemaError),
    /// The local database failed. Nothing half-written is visible: every operation is one
    /// transaction.
    #[error("local database: {0}")]
    Database(rusqlite::Error),
    /// The phone's storage is full: the operation was not saved, and everything saved before
    /// is intact. Free space (or lower the storage budget's reference content) and try again.
    #[error(
        "the phone's storage is full: this was not saved (everything saved before is intact); free some space and try again"
    )]
    StorageFull,
    /// The local database belongs to another user or a newer app version.
    #[error("the local store cannot be opened: {0}")]
    StoreMismatch(String),
    /// A stored job document could not be loaded.
    #[error("stored document for job `{job}` is unreadable: {reason}")]
    CorruptDocument {
        /// The job.
        job: String,
        /// What failed.
        reason: String,
    },
    /// The server sent something this device cannot use.
    #[error("bad response from the server: {0}")]
    Protocol(String),
    /// The server answered with an error status.
    #[error("the server refused the request ({status}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's explanation.
        message: String,
    },
    /// The server revoked this device (lost, stolen, or retired): the jobs it held have been
    /// wiped from it. Enroll it again to use it.
    #[error("this device has been revoked: {0}")]
    Revoked(String),
    /// The server could not be reached; local work is safe and will sync later.
    #[error("the server cannot be reached: {0}")]
    Offline(String),
    /// The server address is refused before anything is sent: not `https://` (nor `http://` to
    /// this device without the app's explicit opt-in), malformed, or a bad pin or root.
    #[error("the server address is refused: {0}")]
    BadServerUrl(String),
    /// The server's certificate is not trusted (expired, for another name, from an unknown
    /// authority, or not carrying a pinned key): nothing was sent. Retrying will not help; the
    /// connection may be intercepted.
    #[error("{0}")]
    Untrusted(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::StorageFull,
            _ => Error::Database(e),
        }
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::Protocol(e.to_string())
    }
}

/// The result type of client-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
