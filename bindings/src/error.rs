//! The one error type apps see.

use fieldsync_client_core::Error as CoreError;

/// What went wrong, by what the app can do about it. Arrives as an exception in Kotlin, Swift
/// and Python. (The text is in `reason`: Kotlin exceptions already have a `message`.)
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldsyncError {
    /// The job is not on this device (never synced, or it left the installer's scope).
    #[error("not found: {reason}")]
    NotFound {
        /// Which job.
        reason: String,
    },
    /// The edit breaks a rule (a status move the installer may not make, a field dispatch owns,
    /// a value out of range). Nothing was saved; show the message.
    #[error("not allowed: {reason}")]
    NotAllowed {
        /// Why.
        reason: String,
    },
    /// The server cannot be reached. Local work is saved and will sync later.
    #[error("offline: {reason}")]
    Offline {
        /// The network error.
        reason: String,
    },
    /// The offline lease has locked the store: the phone has not reached the server for too
    /// long. Sync to unlock it; work not yet sent is kept.
    #[error("locked: {reason}")]
    Locked {
        /// What to tell the user.
        reason: String,
    },
    /// The server's certificate is not trusted (expired, for another name, from an unknown
    /// authority, or not carrying a pinned key). Nothing was sent; retrying will not help: tell
    /// the user the connection may be intercepted, and keep working offline.
    #[error("untrusted server: {reason}")]
    Untrusted {
        /// Why.
        reason: String,
    },
    /// The server refused the request.
    #[error("server error {status}: {reason}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The server's explanation.
        reason: String,
    },
    /// The server revoked this device; the jobs it held have been wiped. Enroll it again.
    #[error("revoked: {reason}")]
    Revoked {
        /// The server's explanation.
        reason: String,
    },
    /// The phone's storage is full. Nothing of this operation was saved; everything saved
    /// before is intact. Ask the user to free space.
    #[error("storage full: {reason}")]
    StorageFull {
        /// What to tell the user.
        reason: String,
    },
    /// The local store cannot be used (a different user's store, a newer app's database, a
    /// corrupt document, a failing disk).
    #[error("local store: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
}

impl From<CoreError> for FieldsyncError {
    fn from(error: CoreError) -> Self {
        let reason = error.to_string();
        match error {
            CoreError::UnknownJob(_) => FieldsyncError::NotFound { reason },
            CoreError::Refused(_) => FieldsyncError::NotAllowed { reason },
            CoreError::Offline(_) => FieldsyncError::Offline { reason },
            CoreError::BadServerUrl(_) => FieldsyncError::NotAllowed { reason },
            CoreError::Untrusted(_) => FieldsyncError::Untrusted { reason },
            CoreError::Revoked(_) => FieldsyncError::Revoked { reason },
            CoreError::Server { status, message } => FieldsyncError::Server {
                status,
                reason: message,
            },
            CoreError::Protocol(_) => FieldsyncError::Server { status: 0, reason },
            CoreError::StorageFull => FieldsyncError::StorageFull { reason },
            CoreError::Database(_)
            | CoreError::StoreMismatch(_)
            | CoreError::CorruptDocument { .. } => FieldsyncError::Storage { reason },
        }
    }
}
