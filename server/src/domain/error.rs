//! What the domain fails with. Each variant says what kind of failure it is, never how a
//! transport shows it: the HTTP layer maps these to status codes in one place
//! (`crate::http::error`).

use crate::storage::StorageError;

/// Why a request for a particular thing (an upload, a download, a report) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// What was asked for does not exist, or the caller may not know that it does.
    NotFound,
    /// The request conflicts with what is stored (a gap in an upload, media still missing).
    Conflict,
    /// The thing is larger than the server accepts.
    TooLarge,
    /// The request is well formed but its content is wrong (bytes that do not hash to the
    /// blob's name).
    Unprocessable,
}

/// Everything a domain operation can fail with. Client errors name the problem with a stable
/// machine-readable code; internal errors are logged and answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request is malformed or breaks a rule.
    #[error("{message}")]
    BadRequest {
        /// A stable machine-readable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No credential, or one that does not (or no longer) work.
    #[error("{message}")]
    Unauthorized {
        /// A stable machine-readable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The caller is known but may not do this.
    #[error("{message}")]
    Forbidden {
        /// A stable machine-readable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Too many attempts; try again after the given number of seconds.
    #[error("too many attempts; try again in {0} seconds")]
    TooManyAttempts(u64),
    /// Too many requests from this device; try again after the given number of seconds.
    #[error("too many requests from this device; try again in {0} seconds")]
    TooManyRequests(u64),
    /// One field of a submitted form or object is invalid.
    #[error("{message}")]
    InvalidField {
        /// The field, as the API names it (e.g. `customer.name`).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The thing asked for does not exist (code `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with stored state (code `conflict`).
    #[error("{0}")]
    Conflict(String),
    /// Refused for a particular reason with its own code (uploads, downloads, reports);
    /// `received` tells an uploader where to continue.
    #[error("{message}")]
    Refused {
        /// Why.
        reason: Refusal,
        /// A stable machine-readable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// For uploads: how many bytes of the blob the server holds.
        received: Option<u64>,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A bug or a corrupt store.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A bad request with a code and a message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A bad request naming the invalid field (code `invalid_field`).
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// An unusable credential, with a code and a message.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    /// A refusal for `reason`, with a code and a message.
    pub fn refused(reason: Refusal, code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Refused {
            reason,
            code,
            message: message.into(),
            received: None,
        }
    }

    /// A known caller who may not do this, with a code and a message.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        DomainError::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// The stable machine-readable code any client can translate.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::BadRequest { code, .. }
            | DomainError::Unauthorized { code, .. }
            | DomainError::Forbidden { code, .. }
            | DomainError::Refused { code, .. } => code,
            DomainError::TooManyAttempts(_) => "too_many_attempts",
            DomainError::TooManyRequests(_) => "too_many_requests",
            DomainError::InvalidField { .. } => "invalid_field",
            DomainError::NotFound(_) => "not_found",
            DomainError::Conflict(_) => "conflict",
            DomainError::Storage(_) | DomainError::Internal(_) => "internal",
        }
    }
}

impl From<fieldsync_protocol::SchemaError> for DomainError {
    fn from(e: fieldsync_protocol::SchemaError) -> Self {
        DomainError::bad_request("invalid_edit", e.to_string())
    }
}
