//! The HTTP surface: `app(state) -> Router`, testable without a socket.
//!
//! Storage runs on the blocking pool, never on the async executor. Request bodies are limited
//! after decompression, so a small gzip bomb cannot inflate past the limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_protocol::job::{Appointment, NewJob};
use fieldsync_protocol::now_millis;
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::wire::{self, SyncRequest, WireError};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::dispatch::Dispatch;
use crate::error::AppError;
use crate::jobs::Committed;
use crate::storage::{Storage, User};
use crate::sync::{self, PageLimits};

/// The largest request body accepted, after decompression.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A live nudge: something changed for these users.
#[derive(Debug, Clone)]
pub struct Nudge {
    /// The users whose devices should sync.
    pub users: Arc<[String]>,
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// Live nudges to online devices.
    pub nudges: broadcast::Sender<Nudge>,
    /// Sync page limits.
    pub limits: PageLimits,
}

impl AppState {
    /// State over a storage backend with default limits.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        let (nudges, _) = broadcast::channel(1024);
        AppState {
            storage,
            nudges,
            limits: PageLimits::default(),
        }
    }

    fn nudge(&self, users: Vec<String>) {
        if !users.is_empty() {
            // No subscribers is fine: nobody is online.
            let _ = self.nudges.send(Nudge {
                users: users.into(),
            });
        }
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/v1/sync", post(sync_handler))
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/assign", post(assign_job))
        .route("/v1/jobs/{id}/appointment", post(set_appointment))
        .route("/v1/jobs/{id}/status", post(move_status))
        .route("/v1/users", get(list_users).post(put_user))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    Router::new()
        .merge(api)
        // The event stream is long-lived: no request timeout.
        .route("/v1/events", get(events))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("worker failed: {e}")))?
}

fn dispatcher(headers: &HeaderMap) -> String {
    headers
        .get("x-fieldsync-user")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("dispatch")
        .to_owned()
}

async fn sync_handler(State(state): State<AppState>, body: Bytes) -> Result<Response, AppError> {
    let request: SyncRequest = wire::decode(&body).map_err(|e| match e {
        WireError::UnsupportedVersion { .. } => {
            AppError::bad_request("unsupported_version", e.to_string())
        }
        WireError::Malformed(_) => AppError::bad_request("malformed_message", e.to_string()),
    })?;
    let storage = state.storage.clone();
    let limits = state.limits;
    let outcome =
        blocking(move || sync::handle(storage.as_ref(), &request, limits, now_millis())).await?;
    state.nudge(outcome.nudge);
    Ok((
        [(header::CONTENT_TYPE, wire::CONTENT_TYPE)],
        wire::encode(&outcome.response),
    )
        .into_response())
}

#[derive(Deserialize)]
struct EventsQuery {
    user: String,
}

async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>> {
    let user = query.user;
    let stream =
        BroadcastStream::new(state.nudges.subscribe()).filter_map(move |nudge| match nudge {
            Ok(nudge) if nudge.users.contains(&user) => {
                Some(Ok(Event::default().event("changed").data("sync")))
            }
            Ok(_) => None,
            // Missed nudges (a slow reader): say "changed" anyway, a sync finds out what.
            Err(_) => Some(Ok(Event::default().event("changed").data("sync"))),
        });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("listening")));
    Sse::new(hello.chain(stream)).keep_alive(KeepAlive::default())
}

async fn list_jobs(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let storage = state.storage.clone();
    let jobs = blocking(move || Dispatch::new(storage.as_ref(), "dispatch").list()).await?;
    Ok(Json(jobs))
}

async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let storage = state.storage.clone();
    let view = blocking(move || Dispatch::new(storage.as_ref(), "dispatch").get(&id)).await?;
    Ok(Json(view))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("invalid_json", format!("invalid request body: {e}")))
}

async fn edit(
    state: &AppState,
    headers: &HeaderMap,
    f: impl FnOnce(&Dispatch<'_>) -> Result<(fieldsync_protocol::job::JobSummary, Committed), AppError>
    + Send
    + 'static,
) -> Result<Json<fieldsync_protocol::job::JobSummary>, AppError> {
    let storage = state.storage.clone();
    let user = dispatcher(headers);
    let (summary, committed) = blocking(move || f(&Dispatch::new(storage.as_ref(), &user))).await?;
    state.nudge(committed.nudge);
    Ok(Json(summary))
}

async fn create_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let new: NewJob = parse_json(&body)?;
    let summary = edit(&state, &headers, move |d| d.create(new, now_millis())).await?;
    Ok((StatusCode::CREATED, summary))
}

#[derive(Deserialize)]
struct AssignBody {
    assignee: Option<String>,
}

async fn assign_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let body: AssignBody = parse_json(&body)?;
    edit(&state, &headers, move |d| {
        d.assign(&id, body.assignee.as_deref(), now_millis())
    })
    .await
}

async fn set_appointment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let window: Appointment = parse_json(&body)?;
    edit(&state, &headers, move |d| {
        d.set_appointment(&id, window, now_millis())
    })
    .await
}

#[derive(Deserialize)]
struct StatusBody {
    to: String,
}

async fn move_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let body: StatusBody = parse_json(&body)?;
    let to = Status::parse(&body.to)?;
    edit(&state, &headers, move |d| {
        d.move_status(&id, to, now_millis())
    })
    .await
}

async fn list_users(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || Dispatch::new(storage.as_ref(), "dispatch").users()).await?,
    ))
}

async fn put_user(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let user: User = parse_json(&body)?;
    let storage = state.storage.clone();
    let stored = user.clone();
    blocking(move || Dispatch::new(storage.as_ref(), "dispatch").put_user(&stored)).await?;
    Ok((StatusCode::CREATED, Json(user)))
}
