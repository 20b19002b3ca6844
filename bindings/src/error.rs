//! The one error type apps see.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};

use fieldsync_client_core::{Error as CoreError, Language};

/// What went wrong, by what the app can do about it. Arrives as an exception in Kotlin, Swift
/// and Python. Every variant carries `code`, a stable name of the exact problem (e.g.
/// `transition_not_allowed`, `storage_full`: docs/mobile.md lists them) to switch on or to
/// translate, `params`, its parts by name (`from`, `to`, `field`, …), and `reason`, a message in
/// the device's language (`ClientConfig.locale`; Kotlin exceptions already have a `message`).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldsyncError {
    /// The job is not on this device (never synced, or it left the installer's scope).
    #[error("{reason}")]
    NotFound {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// Which job.
        reason: String,
    },
    /// The edit breaks a rule (a status move the installer may not make, a field dispatch owns,
    /// a value out of range). Nothing was saved; show the message.
    #[error("{reason}")]
    NotAllowed {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// Why.
        reason: String,
    },
    /// The server cannot be reached. Local work is saved and will sync later.
    #[error("{reason}")]
    Offline {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// The network error.
        reason: String,
    },
    /// The offline lease has locked the store: the phone has not reached the server for too
    /// long. Sync to unlock it; work not yet sent is kept.
    #[error("{reason}")]
    Locked {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// What to tell the user.
        reason: String,
    },
    /// The server's certificate is not trusted (expired, for another name, from an unknown
    /// authority, or not carrying a pinned key). Nothing was sent; retrying will not help: tell
    /// the user the connection may be intercepted, and keep working offline.
    #[error("{reason}")]
    Untrusted {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// Why.
        reason: String,
    },
    /// The server refused the request.
    #[error("{reason}")]
    Server {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// The HTTP status.
        status: u16,
        /// The server's explanation.
        reason: String,
    },
    /// The server revoked this device; the jobs it held have been wiped. Enroll it again.
    #[error("{reason}")]
    Revoked {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// The server's explanation.
        reason: String,
    },
    /// The phone's storage is full. Nothing of this operation was saved; everything saved
    /// before is intact. Ask the user to free space.
    #[error("{reason}")]
    StorageFull {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// What to tell the user.
        reason: String,
    },
    /// The local store cannot be used (a different user's store, a newer app's database, a
    /// corrupt document, a failing disk).
    #[error("{reason}")]
    Storage {
        /// The stable code.
        code: String,
        /// The message's parts by name.
        params: HashMap<String, String>,
        /// What failed.
        reason: String,
    },
}

/// The device's language for messages: the last client opened sets it (an app has one).
static LANGUAGE: AtomicU8 = AtomicU8::new(0);

/// Sets the language error messages are written in.
pub(crate) fn set_language(language: Language) {
    let value = match language {
        Language::English => 0,
        Language::Chinese => 1,
    };
    LANGUAGE.store(value, Ordering::Relaxed);
}

/// The language error messages are written in.
pub(crate) fn language() -> Language {
    match LANGUAGE.load(Ordering::Relaxed) {
        1 => Language::Chinese,
        _ => Language::English,
    }
}

impl FieldsyncError {
    /// The store is locked by the offline lease.
    pub(crate) fn locked() -> Self {
        FieldsyncError::Locked {
            code: "locked".into(),
            params: HashMap::new(),
            reason: fieldsync_client_core::locked_message(language()).into(),
        }
    }
}

impl From<CoreError> for FieldsyncError {
    fn from(error: CoreError) -> Self {
        let code = error.code().to_owned();
        let params = error
            .params()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let reason = error.message(language());
        match error {
            CoreError::UnknownJob(_) | CoreError::UnknownReminder(_) => FieldsyncError::NotFound {
                code,
                params,
                reason,
            },
            CoreError::Refused(_)
            | CoreError::BadServerUrl(_)
            | CoreError::BadEnrollmentLink(_) => FieldsyncError::NotAllowed {
                code,
                params,
                reason,
            },
            CoreError::Offline(_) => FieldsyncError::Offline {
                code,
                params,
                reason,
            },
            CoreError::Untrusted(_) => FieldsyncError::Untrusted {
                code,
                params,
                reason,
            },
            CoreError::Revoked(_) => FieldsyncError::Revoked {
                code,
                params,
                reason,
            },
            CoreError::Server { status, .. } => FieldsyncError::Server {
                code,
                params,
                status,
                reason,
            },
            CoreError::Protocol(_) => FieldsyncError::Server {
                code,
                params,
                status: 0,
                reason,
            },
            CoreError::StorageFull => FieldsyncError::StorageFull {
                code,
                params,
                reason,
            },
            CoreError::Database(_)
            | CoreError::StoreMismatch(_)
            | CoreError::CorruptDocument { .. } => FieldsyncError::Storage {
                code,
                params,
                reason,
            },
        }
    }
}
