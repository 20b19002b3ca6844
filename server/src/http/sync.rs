//! The phone's side of the API: the sync round (`POST /v1/sync`, CBOR) and the live event
//! stream (`GET /v1/events`, server-sent events) that tells online devices and consoles when
//! something changed for them.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fieldsync_protocol::wire::{self, SyncRequest, WireError};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};

use crate::domain::DomainError;
use crate::domain::auth::Principal;
use crate::domain::error::ErrorCode;
use crate::domain::sync;
use crate::http::error::AppError;
use crate::http::extract::{Authorized, need};
use crate::state::{AppState, Live, metrics};
use ::metrics::{counter, gauge, histogram};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The sync route (with the ordinary request limit).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync_handler))
}

/// The event stream: long-lived, so outside the request time limit.
pub fn stream_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// A sync request within its device's limit (`429 too_many_requests` otherwise), checked
/// from the request's parts, before its body is read.
struct WithinSyncLimit;

impl axum::extract::FromRequestParts<AppState> for WithinSyncLimit {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        if let Some(Principal::Device(credential)) = parts.extensions.get::<Principal>() {
            state
                .device_limits
                .sync(&credential.device_id)
                .map_err(DomainError::TooManyRequests)?;
        }
        Ok(WithinSyncLimit)
    }
}

/// Device sync round.
///
/// Devices only (permission `Sync`), as the device and user their credential names (`403 forged_identity` otherwise). The contract is docs/sync-protocol.md.
#[utoipa::path(
    post,
    path = "/v1/sync",
    tag = "sync",
    request_body(content = Vec<u8>, content_type = "application/cbor", description = "A CBOR `SyncRequest` (docs/sync-protocol.md)."),
    responses((status = 200, description = "A CBOR `SyncResponse`, sent only after the round committed.", body = Vec<u8>, content_type = "application/cbor"))
)]
async fn sync_handler(
    State(state): State<AppState>,
    caller: Authorized<need::Sync>,
    _: WithinSyncLimit,
    body: Bytes,
) -> Result<Response, AppError> {
    let started = std::time::Instant::now();
    let request: SyncRequest = wire::decode(&body).map_err(|e| match e {
        WireError::UnsupportedVersion { .. } => {
            AppError::bad_request(ErrorCode::UnsupportedVersion, e.to_string())
        }
        WireError::Malformed(_) => {
            AppError::bad_request(ErrorCode::MalformedMessage, e.to_string())
        }
    })?;
    if let Principal::Device(credential) = &caller.principal
        && (credential.device_id != request.device || credential.user_id != request.user)
    {
        return Err(AppError::forbidden(
            ErrorCode::ForgedIdentity,
            format!(
                "the credential is device `{}` of `{}`, not device `{}` of `{}`",
                credential.device_id, credential.user_id, request.device, request.user
            ),
        ));
    }
    let now = state.now();
    let request_device = request.device.clone();
    let mut outcome = state
        .blocking(move |state| sync::handle(state.storage.as_ref(), &request, state.limits, now))
        .await?;
    if !outcome.nudge.is_empty() {
        // The jobs the round changed on the server: pushed changes accepted, and the fallback.
        let jobs = outcome
            .response
            .accepted
            .iter()
            .chain(outcome.response.resync.iter().map(|m| &m.job))
            .cloned()
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect();
        state.changed_by(outcome.nudge.clone(), jobs, Some(&request_device));
    }
    if !outcome.acknowledged.is_empty() {
        // The office's reminder lists show who acknowledged them.
        state.changed(Vec::new(), std::mem::take(&mut outcome.acknowledged));
    }
    outcome.response.lease = Some(state.lease);
    outcome.response.time_zone = Some(state.time_zone.name().to_owned());
    let answer = wire::encode(&outcome.response);
    record_round(&outcome.response, body.len(), answer.len(), started);
    Ok(([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], answer).into_response())
}

/// Counts a sync round for the metrics.
fn record_round(
    response: &fieldsync_protocol::wire::SyncResponse,
    received: usize,
    sent: usize,
    started: std::time::Instant,
) {
    counter!(metrics::SYNC_ROUNDS).increment(1);
    histogram!(metrics::SYNC_ROUND_SECONDS).record(started.elapsed());
    counter!(metrics::SYNC_BYTES, "direction" => "in").increment(received as u64);
    counter!(metrics::SYNC_BYTES, "direction" => "out").increment(sent as u64);
    let pushed = [
        ("accepted", response.accepted.len()),
        ("refused", response.refused.len()),
        ("compensated", response.violations.len()),
    ];
    for (outcome, jobs) in pushed {
        counter!(metrics::PUSHED_JOBS, "outcome" => outcome).increment(jobs as u64);
    }
}

/// Live updates (server-sent events).
///
/// A device hears of its own user's jobs and reminders (permission `Sync`); the office of everything (permission `WatchAll`).
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "live",
    responses((status = 200, description = "Server-sent events: `ready`, then `changed` (`{\"jobs\": [ids]}`) and `reminder` (a reminder as JSON); the stream ends when the server shuts down, and a device's when it is revoked.", content_type = "text/event-stream"))
)]
async fn events(
    State(state): State<AppState>,
    caller: Authorized<need::DeviceOr<need::WatchAll>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let (only, device): (Option<String>, Option<String>) = match caller.principal {
        Principal::Device(credential) => (Some(credential.user_id), Some(credential.device_id)),
        Principal::Office { .. } => (None, None),
    };
    let window = if device.is_some() {
        Duration::from_millis(1)
    } else {
        COALESCE
    };
    // Each item: `Some(event)` to send, `None` to end the stream.
    let listener = match &only {
        Some(user) => state.live.user(user),
        None => state.live.office(),
    };
    let stream = BroadcastStream::new(listener).filter_map(move |live| {
        let event = match live {
            Ok(Live::Revoked(revoked)) => {
                return (device.as_ref() == Some(&revoked)).then_some(None);
            }
            Ok(Live::Changed { users, jobs, cause }) => {
                // A phone's listener hears only its user's events already; the check stays so
                // that a stream never sends another user's jobs whatever the bus does.
                if only.as_ref().is_some_and(|user| !users.contains(user)) {
                    return None;
                }
                // The device that uploaded the change holds it already.
                if device.is_some() && cause.as_deref() == device.as_deref() {
                    return None;
                }
                Item::Changed(jobs.to_vec())
            }
            Ok(Live::Reminder(reminder)) => {
                if only
                    .as_ref()
                    .is_some_and(|user| reminder.to_user.as_ref() != Some(user))
                {
                    return None;
                }
                Item::Send(
                    Event::default()
                        .event("reminder")
                        .json_data(&*reminder)
                        .ok()?,
                )
            }
            // Missed events (a slow reader). A device's stream ends: one of them may have been
            // its revocation, and reconnecting checks the credential again. The office hears
            // "changed" and refreshes.
            Err(_) if device.is_some() => return Some(None),
            Err(_) => Item::Changed(Vec::new()),
        };
        Some(Some(event))
    });
    // A burst of edits across the fleet reaches a console as one `changed` naming every job
    // (at most one every COALESCE); a phone hears each at once.
    let stream = futures_util::StreamExt::flat_map(stream.chunks_timeout(256, window), |items| {
        tokio_stream::iter(coalesce(items))
    });
    let open = OpenStream::new();
    let stream = stream.map(move |event| {
        // Dropped with the stream: the gauge counts the streams still open.
        let _open = &open;
        event
    });
    let hello = tokio_stream::once(Some(Ok(Event::default().event("ready").data("listening"))));
    // The stream ends when the server shuts down.
    let closing = WatchStream::new(state.closing.subscribe())
        .filter(|closing| *closing)
        .map(|_| None);
    let stream = hello.chain(stream).merge(closing).map_while(|event| event);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// One open event stream, for the gauge of open streams.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        gauge!(metrics::EVENT_STREAMS).increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        gauge!(metrics::EVENT_STREAMS).decrement(1.0);
    }
}

/// How long a console's stream gathers `changed` events into one, from the first: short enough
/// to add little to the time a dispatcher waits for an installer's edit (the window is most of
/// it once a round takes a few milliseconds), long enough that a thousand edits a second reach
/// each console as at most a hundred events (the console also refreshes at most four times a
/// second).
const COALESCE: Duration = Duration::from_millis(10);

/// What the event stream has for a listener before coalescing.
enum Item {
    /// Jobs changed (none named: anything may have).
    Changed(Vec<String>),
    /// An event to send as it is.
    Send(Event),
}

/// Merges the `changed` items of a burst into one, naming every job (or none when one of them
/// named none); other events keep their order; an end (`None`) ends the stream after them.
fn coalesce(items: Vec<Option<Item>>) -> Vec<Option<Result<Event, Infallible>>> {
    let mut out = Vec::new();
    let mut changed: Option<std::collections::BTreeSet<String>> = None;
    let mut everything = false;
    let mut ended = false;
    for item in items {
        match item {
            Some(Item::Changed(jobs)) => {
                everything |= jobs.is_empty();
                changed.get_or_insert_with(Default::default).extend(jobs);
            }
            Some(Item::Send(event)) => out.push(Some(Ok(event))),
            None => ended = true,
        }
    }
    if let Some(jobs) = changed {
        let jobs: Vec<String> = if everything {
            Vec::new()
        } else {
            jobs.into_iter().collect()
        };
        let data = serde_json::json!({ "jobs": jobs }).to_string();
        out.insert(0, Some(Ok(Event::default().event("changed").data(data))));
    }
    if ended {
        out.push(None);
    }
    out
}
