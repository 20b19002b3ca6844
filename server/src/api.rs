//! The HTTP surface: `app(state) -> Router`, testable without a socket.
//!
//! Storage runs on the blocking pool, never on the async executor. Request bodies are limited
//! after decompression, so a small gzip bomb cannot inflate past the limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
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

use crate::auth::{self, LoginLimiter, Permission, Principal};
use crate::dispatch::Dispatch;
use crate::error::AppError;
use crate::jobs::Committed;
use crate::storage::{AuditKind, Storage, User, read};
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
    /// Failed sign-in attempts.
    pub logins: Arc<LoginLimiter>,
}

impl AppState {
    /// State over a storage backend with default limits.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        let (nudges, _) = broadcast::channel(1024);
        AppState {
            storage,
            nudges,
            limits: PageLimits::default(),
            logins: Arc::default(),
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
    // Everything here needs a credential, checked before the body is read.
    let authenticated = Router::new()
        .route("/v1/sync", post(sync_handler))
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/assign", post(assign_job))
        .route("/v1/jobs/{id}/appointment", post(set_appointment))
        .route("/v1/jobs/{id}/status", post(move_status))
        .route("/v1/jobs/{id}/audit", get(job_audit))
        .route("/v1/audit", get(audit))
        .route("/v1/users", get(list_users).post(put_user))
        .route("/v1/enrollments", post(issue_enrollment))
        .route("/v1/devices", get(list_devices))
        .route("/v1/devices/{id}/revoke", post(revoke_device))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // The event stream is long-lived: no request timeout.
        .route("/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let public = Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/devices/enroll", post(enroll_device))
        .route("/healthz", get(|| async { "ok" }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    Router::new()
        .merge(authenticated)
        .merge(public)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Turns the request's credential into a [`Principal`] for the handler, or answers 401.
async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let storage = state.storage.clone();
    let headers = request.headers().clone();
    let principal =
        blocking(move || auth::authenticate(storage.as_ref(), &headers, now_millis())).await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("worker failed: {e}")))?
}

async fn sync_handler(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    principal.require(Permission::Sync, &method, &headers)?;
    let request: SyncRequest = wire::decode(&body).map_err(|e| match e {
        WireError::UnsupportedVersion { .. } => {
            AppError::bad_request("unsupported_version", e.to_string())
        }
        WireError::Malformed(_) => AppError::bad_request("malformed_message", e.to_string()),
    })?;
    if let Principal::Device(credential) = &principal
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

/// Live nudges: a device hears about its own user's jobs; the office hears about every job.
async fn events(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>>, AppError> {
    let permission = match principal {
        Principal::Device(_) => Permission::Sync,
        Principal::Office { .. } => Permission::WatchAll,
    };
    principal.require(permission, &method, &headers)?;
    let only = match principal {
        Principal::Device(credential) => Some(credential.user_id),
        Principal::Office { .. } => None,
    };
    let stream =
        BroadcastStream::new(state.nudges.subscribe()).filter_map(move |nudge| match nudge {
            Ok(nudge) if only.as_ref().is_none_or(|user| nudge.users.contains(user)) => {
                Some(Ok(Event::default().event("changed").data("sync")))
            }
            Ok(_) => None,
            // Missed nudges (a slow reader): say "changed" anyway, a sync finds out what.
            Err(_) => Some(Ok(Event::default().event("changed").data("sync"))),
        });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("listening")));
    Ok(Sse::new(hello.chain(stream)).keep_alive(KeepAlive::default()))
}

async fn list_jobs(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let storage = state.storage.clone();
    let jobs = blocking(move || Dispatch::new(storage.as_ref(), principal.user()).list()).await?;
    Ok(Json(jobs))
}

async fn get_job(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let storage = state.storage.clone();
    let view = blocking(move || Dispatch::new(storage.as_ref(), principal.user()).get(&id)).await?;
    Ok(Json(view))
}

async fn job_audit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let storage = state.storage.clone();
    let entries = blocking(move || {
        read(storage.as_ref(), |tx| {
            if tx.job(&id)?.is_none() {
                return Err(AppError::NotFound(format!("there is no job `{id}`")));
            }
            Ok(tx.audit(Some(&id), None, usize::MAX >> 1)?)
        })
    })
    .await?;
    Ok(Json(entries))
}

#[derive(Deserialize)]
struct AuditQuery {
    kind: Option<String>,
    limit: Option<usize>,
}

/// The audit trail across jobs, newest `limit` entries (default 500), optionally of one kind:
/// `violation`, `flag`, `purge`, …
async fn audit(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let kind = match query.kind.as_deref() {
        None => None,
        Some(name) => Some(AuditKind::parse(name).ok_or_else(|| {
            AppError::bad_request("invalid_query", format!("unknown audit kind `{name}`"))
        })?),
    };
    let limit = query.limit.unwrap_or(500).min(10_000);
    let storage = state.storage.clone();
    let entries =
        blocking(move || read(storage.as_ref(), |tx| Ok(tx.audit(None, kind, limit)?))).await?;
    Ok(Json(entries))
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, AppError> {
    serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request("invalid_json", format!("invalid request body: {e}")))
}

/// Runs a dispatch edit as the signed-in office user (whose permission the handler checked
/// before reading the body).
async fn edit(
    state: &AppState,
    principal: Principal,
    f: impl FnOnce(&Dispatch<'_>) -> Result<(fieldsync_protocol::job::JobSummary, Committed), AppError>
    + Send
    + 'static,
) -> Result<Json<fieldsync_protocol::job::JobSummary>, AppError> {
    let storage = state.storage.clone();
    let (summary, committed) =
        blocking(move || f(&Dispatch::new(storage.as_ref(), principal.user()))).await?;
    state.nudge(committed.nudge);
    Ok(Json(summary))
}

async fn create_job(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::EditJobs, &method, &headers)?;
    let new: NewJob = parse_json(&body)?;
    let summary = edit(&state, principal, move |d| d.create(new, now_millis())).await?;
    Ok((StatusCode::CREATED, summary))
}

#[derive(Deserialize)]
struct AssignBody {
    assignee: Option<String>,
}

async fn assign_job(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::EditJobs, &method, &headers)?;
    let body: AssignBody = parse_json(&body)?;
    edit(&state, principal, move |d| {
        d.assign(&id, body.assignee.as_deref(), now_millis())
    })
    .await
}

async fn set_appointment(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::EditJobs, &method, &headers)?;
    let window: Appointment = parse_json(&body)?;
    edit(&state, principal, move |d| {
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
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::EditJobs, &method, &headers)?;
    let body: StatusBody = parse_json(&body)?;
    let to = Status::parse(&body.to)?;
    edit(&state, principal, move |d| {
        d.move_status(&id, to, now_millis())
    })
    .await
}

async fn list_users(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadUsers, &method, &headers)?;
    let storage = state.storage.clone();
    Ok(Json(
        blocking(move || Dispatch::new(storage.as_ref(), principal.user()).users()).await?,
    ))
}

#[derive(Deserialize)]
struct UserBody {
    #[serde(flatten)]
    user: User,
    password: Option<String>,
}

async fn put_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ManageUsers, &method, &headers)?;
    let body: UserBody = parse_json(&body)?;
    let storage = state.storage.clone();
    let user = body.user.clone();
    blocking(move || auth::put_user(storage.as_ref(), &body.user, body.password.as_deref()))
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
}

/// Signs an office user in: the token comes back in the body (for API clients, as a bearer
/// token) and as an HttpOnly, SameSite=Strict session cookie (for the console).
async fn login(State(state): State<AppState>, body: Bytes) -> Result<Response, AppError> {
    let body: LoginBody = parse_json(&body)?;
    let storage = state.storage.clone();
    let limiter = state.logins.clone();
    let signed_in = blocking(move || {
        auth::sign_in(
            storage.as_ref(),
            &limiter,
            &body.user,
            &body.password,
            now_millis(),
        )
    })
    .await?;
    let cookie = format!(
        "{}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        auth::SESSION_COOKIE,
        signed_in.token,
        auth::SESSION_LIFETIME_MS / 1000
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(signed_in)).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let storage = state.storage.clone();
    blocking(move || auth::sign_out(storage.as_ref(), &headers)).await?;
    let cookie = format!(
        "{}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
        auth::SESSION_COOKIE
    );
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize)]
struct EnrollmentBody {
    user: String,
}

async fn issue_enrollment(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ManageDevices, &method, &headers)?;
    let body: EnrollmentBody = parse_json(&body)?;
    let storage = state.storage.clone();
    let issued = blocking(move || {
        auth::issue_enrollment_code(storage.as_ref(), principal.user(), &body.user, now_millis())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Deserialize)]
struct EnrollBody {
    code: String,
    device: String,
    /// The installer the device is signed in as, if the app knows: checked before the code is
    /// spent.
    user: Option<String>,
}

/// A device trades a one-time code for its credential. The code is the authentication.
async fn enroll_device(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<impl IntoResponse, AppError> {
    let body: EnrollBody = parse_json(&body)?;
    let storage = state.storage.clone();
    let enrolled = blocking(move || {
        auth::enroll(
            storage.as_ref(),
            &body.code,
            &body.device,
            body.user.as_deref(),
            now_millis(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(enrolled)))
}

/// A device as the office sees it.
#[derive(serde::Serialize)]
struct DeviceView {
    #[serde(flatten)]
    credential: crate::storage::Credential,
    violations: u64,
    last_seen: Option<fieldsync_protocol::Millis>,
}

async fn list_devices(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadDevices, &method, &headers)?;
    let storage = state.storage.clone();
    let devices = blocking(move || {
        read(storage.as_ref(), |tx| {
            let mut views = Vec::new();
            for credential in tx.credentials()? {
                views.push(DeviceView {
                    violations: tx.violation_count(&credential.device_id)?,
                    last_seen: tx.device(&credential.device_id)?.map(|d| d.last_seen),
                    credential,
                });
            }
            Ok::<_, AppError>(views)
        })
    })
    .await?;
    Ok(Json(devices))
}

async fn revoke_device(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ManageDevices, &method, &headers)?;
    let storage = state.storage.clone();
    blocking(move || auth::revoke(storage.as_ref(), &id, now_millis())).await?;
    Ok(StatusCode::NO_CONTENT)
}
