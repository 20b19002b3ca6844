//! How a failure becomes an HTTP response: the one mapping from domain errors to status codes.
//! Every error body is `{"error": message, "code": code, "params": {…}, "request_id": id}`,
//! plus `field` for `invalid_field` and `received` for refused uploads.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::error::{DomainError, ErrorCode, Refusal};

/// A failed request: a domain error on its way to becoming a response. Handlers return it;
/// `?` turns any domain or storage error into one.
#[derive(Debug)]
pub struct AppError(pub DomainError);

impl<E: Into<DomainError>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl AppError {
    /// A 400 with a code and a message.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError(DomainError::bad_request(code, message))
    }

    /// A 403 with a code and a message.
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError(DomainError::forbidden(code, message))
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            DomainError::BadRequest { .. } | DomainError::InvalidField { .. } => {
                StatusCode::BAD_REQUEST
            }
            DomainError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            DomainError::Forbidden { .. } => StatusCode::FORBIDDEN,
            DomainError::TooManyAttempts(_) | DomainError::TooManyRequests(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
            DomainError::Conflict { .. } => StatusCode::CONFLICT,
            DomainError::Refused { reason, .. } => match reason {
                Refusal::NotFound => StatusCode::NOT_FOUND,
                Refusal::Conflict => StatusCode::CONFLICT,
                Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                Refusal::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            },
            DomainError::Storage(_) | DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = &self.0;
        let message = match error {
            DomainError::Storage(_) | DomainError::Internal(_) => {
                tracing::error!(error = %error, "request failed");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = serde_json::json!({
            "error": message,
            "code": error.code().as_str(),
            "params": error.params(),
        });
        if let Some(id) = super::current_request_id() {
            body["request_id"] = serde_json::json!(id);
        }
        match error {
            DomainError::InvalidField { field, .. } => body["field"] = serde_json::json!(field),
            DomainError::Refused {
                received: Some(received),
                ..
            } => body["received"] = serde_json::json!(received),
            DomainError::TooManyAttempts(seconds) | DomainError::TooManyRequests(seconds) => {
                return (
                    status,
                    [(header::RETRY_AFTER, seconds.to_string())],
                    Json(body),
                )
                    .into_response();
            }
            _ => {}
        }
        (status, Json(body)).into_response()
    }
}
