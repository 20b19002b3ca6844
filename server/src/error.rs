//! The server's error type and how it becomes an HTTP response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::storage::StorageError;

/// Everything a request can fail with. Client errors name the problem; internal errors are
/// logged and answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
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
    /// One field of a submitted form or object is invalid.
    #[error("{message}")]
    InvalidField {
        /// The field, as the API names it (e.g. `customer.name`).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with stored state.
    #[error("{0}")]
    Conflict(String),
    /// Refused with a particular status and code (uploads, downloads, reports); `received`
    /// tells an uploader where to continue.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: StatusCode,
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

impl AppError {
    /// A 400 with a code and a message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl AppError {
    /// A 400 naming the invalid field (code `invalid_field`).
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        AppError::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// A 401 with a code and a message.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    /// A response with `status`, a code and a message.
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError::Refused {
            status,
            code,
            message: message.into(),
            received: None,
        }
    }

    /// A 403 with a code and a message.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Forbidden {
            code,
            message: message.into(),
        }
    }
}

impl From<fieldsync_protocol::SchemaError> for AppError {
    fn from(e: fieldsync_protocol::SchemaError) -> Self {
        AppError::bad_request("invalid_edit", e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            AppError::BadRequest { code, message } => {
                (StatusCode::BAD_REQUEST, *code, message.clone())
            }
            AppError::Unauthorized { code, message } => {
                (StatusCode::UNAUTHORIZED, *code, message.clone())
            }
            AppError::Forbidden { code, message } => {
                (StatusCode::FORBIDDEN, *code, message.clone())
            }
            AppError::TooManyAttempts(seconds) => {
                let body = Json(serde_json::json!({
                    "error": self.to_string(),
                    "code": "too_many_attempts",
                }));
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, seconds.to_string())],
                    body,
                )
                    .into_response();
            }
            AppError::InvalidField { field, message } => {
                let body = Json(serde_json::json!({
                    "error": message,
                    "code": "invalid_field",
                    "field": field,
                }));
                return (StatusCode::BAD_REQUEST, body).into_response();
            }
            AppError::Refused {
                status,
                code,
                message,
                received,
            } => {
                let mut body = serde_json::json!({ "error": message, "code": code });
                if let Some(received) = received {
                    body["received"] = serde_json::json!(received);
                }
                return (*status, Json(body)).into_response();
            }
            AppError::NotFound(message) => (StatusCode::NOT_FOUND, "not_found", message.clone()),
            AppError::Conflict(message) => (StatusCode::CONFLICT, "conflict", message.clone()),
            AppError::Storage(_) | AppError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal server error".to_owned(),
                )
            }
        };
        (
            status,
            Json(serde_json::json!({ "error": message, "code": code })),
        )
            .into_response()
    }
}
