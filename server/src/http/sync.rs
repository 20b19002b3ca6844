//! The phone's side of the API: the sync round (`POST /v1/sync`, CBOR) and the live event
//! stream (`GET /v1/events`, server-sent events) that tells online devices and consoles when
//! something changed for them.

use std::convert::Infallible;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fieldsync_protocol::wire::{self, SyncRequest, WireError};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};

use crate::domain::auth::Principal;
use crate::domain::sync;
use crate::http::error::AppError;
use crate::http::extract::{Authorized, need};
use crate::state::{AppState, Live};

/// The sync route (with the ordinary request limit).
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/sync", post(sync_handler))
}

/// The event stream: long-lived, so outside the request time limit.
pub fn stream_routes() -> Router<AppState> {
    Router::new().route("/v1/events", get(events))
}

async fn sync_handler(
    State(state): State<AppState>,
    caller: Authorized<need::Sync>,
    body: Bytes,
) -> Result<Response, AppError> {
    let request: SyncRequest = wire::decode(&body).map_err(|e| match e {
        WireError::UnsupportedVersion { .. } => {
            AppError::bad_request("unsupported_version", e.to_string())
        }
        WireError::Malformed(_) => AppError::bad_request("malformed_message", e.to_string()),
    })?;
    if let Principal::Device(credential) = &caller.principal
        && (credential.device_id != request.device || credential.user_id != request.user)
    {
        return Err(AppError::forbidden(
            "forged_identity",
            format!(
                "the credential is device `{}` of `{}`, not device `{}` of `{}`",
                credential.device_id, credential.user_id, request.device, request.user
            ),
        ));
    }
    let now = state.now();
    let outcome = state
        .blocking(move |state| sync::handle(state.storage.as_ref(), &request, state.limits, now))
        .await?;
    if !outcome.nudge.is_empty() {
        state.changed(outcome.nudge, Vec::new());
    }
    Ok((
        [(header::CONTENT_TYPE, wire::CONTENT_TYPE)],
        wire::encode(&outcome.response),
    )
        .into_response())
}

/// Live events: a device hears about its own user's jobs and reminders; the office hears about
/// everything. A stream ends when the server shuts down, and a device's when it is revoked.
async fn events(
    State(state): State<AppState>,
    caller: Authorized<need::DeviceOr<need::WatchAll>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let (only, device) = match caller.principal {
        Principal::Device(credential) => (Some(credential.user_id), Some(credential.device_id)),
        Principal::Office { .. } => (None, None),
    };
    // Each item: `Some(event)` to send, `None` to end the stream.
    let stream = BroadcastStream::new(state.live.subscribe()).filter_map(move |live| {
        let event = match live {
            Ok(Live::Revoked(revoked)) => {
                return (device.as_ref() == Some(&revoked)).then_some(None);
            }
            Ok(Live::Changed { users, jobs }) => {
                if only.as_ref().is_some_and(|user| !users.contains(user)) {
                    return None;
                }
                let data = serde_json::json!({ "jobs": &*jobs }).to_string();
                Event::default().event("changed").data(data)
            }
            Ok(Live::Reminder(reminder)) => {
                if only
                    .as_ref()
                    .is_some_and(|user| reminder.to_user.as_ref() != Some(user))
                {
                    return None;
                }
                Event::default()
                    .event("reminder")
                    .json_data(&*reminder)
                    .ok()?
            }
            // Missed events (a slow reader). A device's stream ends: one of them may have been
            // its revocation, and reconnecting checks the credential again. The office hears
            // "changed" and refreshes.
            Err(_) if device.is_some() => return Some(None),
            Err(_) => Event::default().event("changed").data("{\"jobs\":[]}"),
        };
        Some(Some(Ok(event)))
    });
    let hello = tokio_stream::once(Some(Ok(Event::default().event("ready").data("listening"))));
    // The stream ends when the server shuts down.
    let closing = WatchStream::new(state.closing.subscribe())
        .filter(|closing| *closing)
        .map(|_| None);
    let stream = hello.chain(stream).merge(closing).map_while(|event| event);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
