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
use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Appointment, NewJob};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::wire::{self, SyncRequest, WireError};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, LoginLimiter, Permission, Principal};
use crate::blobs::BlobStore;
use crate::clock::{Clock, SystemClock};
use crate::console;
use crate::dispatch::Dispatch;
use crate::error::AppError;
use crate::escalation::{self, TickOutcome};
use crate::jobs::Committed;
use crate::kpi::{self, KpiFilter, Period};
use crate::media::UploadLocks;
use crate::planning;
use crate::sla::SlaPolicy;
use crate::storage::{AuditKind, ReadTx, Reminder, Storage, User, read, write};
use crate::sync::{self, PageLimits};

/// The largest request body accepted, after decompression.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// What the live event stream tells its listeners.
#[derive(Debug, Clone)]
pub enum Live {
    /// Something changed on these jobs; these users' devices should sync. Office listeners
    /// hear every change.
    Changed {
        /// The users whose devices should sync.
        users: Arc<[String]>,
        /// The jobs that changed.
        jobs: Arc<[String]>,
    },
    /// A reminder fired: the office hears every one, a device those addressed to its user.
    Reminder(Arc<Reminder>),
    /// A device was revoked: its open event streams end.
    Revoked(String),
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// Live events to online devices and consoles.
    pub live: broadcast::Sender<Live>,
    /// Sync page limits.
    pub limits: PageLimits,
    /// Failed sign-in attempts.
    pub logins: Arc<LoginLimiter>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// The SLA targets new jobs run under, and the escalation ladder's timing.
    pub sla: Arc<SlaPolicy>,
    /// Wakes the escalation scheduler early (something changed).
    pub scheduler_wake: Arc<Notify>,
    /// Becomes true when the server shuts down: live event streams end.
    pub closing: Arc<watch::Sender<bool>>,
    /// Where blob bytes live.
    pub blobs: Arc<dyn BlobStore>,
    /// Blobs a request is uploading right now.
    pub uploads: Arc<UploadLocks>,
}

impl AppState {
    /// State over a storage backend and a blob store with default limits, the system clock and
    /// the default SLA policy.
    pub fn new(storage: Arc<dyn Storage>, blobs: Arc<dyn BlobStore>) -> Self {
        let (live, _) = broadcast::channel(1024);
        AppState {
            storage,
            live,
            limits: PageLimits::default(),
            logins: Arc::default(),
            clock: Arc::new(SystemClock),
            sla: Arc::default(),
            scheduler_wake: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
            blobs,
            uploads: Arc::default(),
        }
    }

    /// The current time by the state's clock.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Tells listeners that `jobs` changed and `users`' devices should sync, and lets the
    /// escalation ladder look again.
    pub fn changed(&self, users: Vec<String>, jobs: Vec<String>) {
        // No subscribers is fine: nobody is online.
        let _ = self.live.send(Live::Changed {
            users: users.into(),
            jobs: jobs.into(),
        });
        self.scheduler_wake.notify_one();
    }

    /// Publishes what an escalation tick did: new reminders and raised rings.
    pub fn publish_tick(&self, outcome: TickOutcome) {
        // One event per job, so a device hears only of its own user's jobs.
        for (job, users) in outcome.escalated {
            let _ = self.live.send(Live::Changed {
                users: users.into(),
                jobs: vec![job].into(),
            });
        }
        for reminder in outcome.reminders {
            let _ = self.live.send(Live::Reminder(Arc::new(reminder)));
        }
    }

    /// Runs the escalation ladder now, at the state's clock, and publishes what it did.
    pub fn escalate_now(&self) -> Result<(), AppError> {
        let outcome = escalation::tick(self.storage.as_ref(), &self.sla, self.now())?;
        self.publish_tick(outcome);
        Ok(())
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let storage = self.storage.clone();
        blocking(move || read(storage.as_ref(), f)).await
    }

    fn dispatch<'s>(&'s self, user: &str) -> Dispatch<'s> {
        Dispatch::new(self.storage.as_ref(), user).with_sla(&self.sla)
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
        .route("/v1/me", get(me))
        .route("/v1/queues", get(queues))
        .route("/v1/board", get(board))
        .route("/v1/jobs/{id}/suggestions", get(suggestions))
        .route("/v1/reminders", get(reminders))
        .route("/v1/reminders/{id}/ack", post(acknowledge_reminder))
        .route("/v1/kpis", get(kpis))
        .route("/v1/config/sla", get(sla_config))
        .merge(crate::media::routes())
        .merge(crate::knowledge::routes())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // The event stream is long-lived: no request timeout.
        .route("/v1/events", get(events))
        .merge(crate::media::transfer_routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let public = Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/devices/enroll", post(enroll_device))
        .route("/healthz", get(|| async { "ok" }))
        .merge(console::routes())
        .merge(crate::media::public_routes())
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
    let now = state.now();
    let principal = blocking(move || auth::authenticate(storage.as_ref(), &headers, now)).await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

pub(crate) async fn blocking<T: Send + 'static>(
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
    let now = state.now();
    let outcome = blocking(move || sync::handle(storage.as_ref(), &request, limits, now)).await?;
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
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>>, AppError> {
    let permission = match principal {
        Principal::Device(_) => Permission::Sync,
        Principal::Office { .. } => Permission::WatchAll,
    };
    principal.require(permission, &method, &headers)?;
    let (only, device) = match principal {
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
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn list_jobs(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let jobs = blocking(move || state.dispatch(principal.user()).list()).await?;
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
    let now = state.now();
    let view = blocking(move || state.dispatch(principal.user()).get(&id, now)).await?;
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
    let entries = state
        .read(move |tx| {
            if tx.job(&id)?.is_none() {
                return Err(AppError::NotFound(format!("there is no job `{id}`")));
            }
            Ok(tx.audit(Some(&id), None, usize::MAX >> 1)?)
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
    let entries = state
        .read(move |tx| Ok(tx.audit(None, kind, limit)?))
        .await?;
    Ok(Json(entries))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, AppError> {
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
    let worker = state.clone();
    let (summary, committed) = blocking(move || f(&worker.dispatch(principal.user()))).await?;
    state.changed(committed.nudge, vec![summary.id.clone()]);
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
    let now = state.now();
    let summary = edit(&state, principal, move |d| d.create(new, now)).await?;
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
    let now = state.now();
    edit(&state, principal, move |d| {
        d.assign(&id, body.assignee.as_deref(), now)
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
    let now = state.now();
    edit(&state, principal, move |d| {
        d.set_appointment(&id, window, now)
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
    if to == Status::Closed {
        let id = id.clone();
        state
            .read(move |tx| {
                let stored = tx
                    .job(&id)?
                    .ok_or_else(|| AppError::NotFound(format!("there is no job `{id}`")))?;
                let job = crate::jobs::read(&id, &crate::jobs::load(&id, &stored.doc)?)?;
                crate::media::require_media_received(tx, &job)
            })
            .await?;
    }
    let now = state.now();
    edit(&state, principal, move |d| d.move_status(&id, to, now)).await
}

async fn list_users(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadUsers, &method, &headers)?;
    Ok(Json(
        blocking(move || state.dispatch(principal.user()).users()).await?,
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
    let now = state.now();
    let signed_in = blocking(move || {
        auth::sign_in(storage.as_ref(), &limiter, &body.user, &body.password, now)
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
    let now = state.now();
    let issued = blocking(move || {
        auth::issue_enrollment_code(storage.as_ref(), principal.user(), &body.user, now)
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
    let now = state.now();
    let enrolled = blocking(move || {
        auth::enroll(
            storage.as_ref(),
            &body.code,
            &body.device,
            body.user.as_deref(),
            now,
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
    let devices = state
        .read(|tx| {
            let mut views = Vec::new();
            for credential in tx.credentials()? {
                views.push(DeviceView {
                    violations: tx.violation_count(&credential.device_id)?,
                    last_seen: tx.device(&credential.device_id)?.map(|d| d.last_seen),
                    credential,
                });
            }
            Ok(views)
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
    let now = state.now();
    let device = id.clone();
    blocking(move || auth::revoke(storage.as_ref(), &device, now)).await?;
    let _ = state.live.send(Live::Revoked(id));
    Ok(StatusCode::NO_CONTENT)
}

/// Who is signed in, and the CSRF token of a cookie session (so a reloaded console page can
/// recover it; only our own origin can read the answer).
#[derive(serde::Serialize)]
struct Me {
    user: String,
    name: String,
    role: auth::UserRole,
    csrf: Option<String>,
}

async fn me(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let Principal::Office { user, role, csrf } = principal else {
        return Err(AppError::forbidden(
            "office_only",
            "devices have no office session",
        ));
    };
    let id = user.clone();
    let name = state
        .read(move |tx| Ok(tx.user(&id)?))
        .await?
        .map_or_else(|| user.clone(), |u| u.name);
    // The answer carries the CSRF token: never from a cache.
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(Me {
            user,
            name,
            role,
            csrf,
        }),
    ))
}

async fn queues(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let now = state.now();
    let queues = state.read(move |tx| planning::queues(tx, now)).await?;
    Ok(Json(queues))
}

#[derive(Deserialize)]
struct DayQuery {
    day: Option<String>,
    tz_offset: Option<i64>,
}

impl DayQuery {
    fn day(&self, now: Millis) -> Result<planning::Day, AppError> {
        planning::Day::parse(self.day.as_deref(), self.tz_offset, now)
    }
}

async fn board(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let day = query.day(state.now())?;
    let board = state.read(move |tx| planning::board(tx, &day)).await?;
    Ok(Json(board))
}

async fn suggestions(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let day = query.day(state.now())?;
    let ranked = state
        .read(move |tx| planning::suggestions(tx, &id, &day))
        .await?;
    Ok(Json(ranked))
}

#[derive(Deserialize)]
struct RemindersQuery {
    /// Only those addressed to the caller or to the caller's role.
    #[serde(default)]
    mine: bool,
}

/// The open reminders, newest first: all of them, or (`?mine=true`) the caller's inbox.
async fn reminders(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<RemindersQuery>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let mut open = state.read(|tx| Ok(tx.reminders(true)?)).await?;
    if query.mine {
        // Only office users get this far (`ReadJobs`), so there is a role.
        let role = principal.role().map(auth::UserRole::as_str);
        open.retain(|r| {
            r.to_user.as_deref() == Some(principal.user())
                || (role.is_some() && r.to_role.as_deref() == role)
        });
    }
    Ok(Json(open))
}

async fn acknowledge_reminder(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::EditJobs, &method, &headers)?;
    let id: u64 = id.parse().map_err(|_| {
        AppError::bad_request("invalid_path", format!("`{id}` is not a reminder id"))
    })?;
    let storage = state.storage.clone();
    let now = state.now();
    let found = blocking(move || {
        write(storage.as_ref(), |tx| {
            Ok::<_, AppError>(tx.acknowledge_reminder(id, now)?)
        })
    })
    .await?;
    if !found {
        return Err(AppError::NotFound(format!("there is no reminder {id}")));
    }
    state.changed(Vec::new(), Vec::new());
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct KpiQuery {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    region: Option<String>,
    category: Option<String>,
    kind: Option<String>,
    engineer: Option<String>,
}

/// A KPI report: the metrics per period and in total, demand by category and region, the
/// engineers' table with the service star, and the values the filters can take.
#[derive(serde::Serialize)]
struct KpiReport {
    period: Period,
    from: Millis,
    to: Millis,
    #[serde(flatten)]
    data: kpi::KpiData,
    service_star: Option<String>,
    options: KpiOptions,
}

/// The values the report's filters can take.
#[derive(serde::Serialize)]
struct KpiOptions {
    regions: Vec<String>,
    categories: Vec<String>,
    engineers: Vec<EngineerOption>,
}

#[derive(serde::Serialize)]
struct EngineerOption {
    user: String,
    name: String,
}

async fn kpis(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<KpiQuery>,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    let now = state.now();
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let period = match nonempty(query.period) {
        Some(p) => Period::parse(&p)?,
        None => Period::Month,
    };
    let to = match nonempty(query.to) {
        Some(day) => planning::parse_day(&day)? + planning::DAY,
        None => now - now.rem_euclid(planning::DAY) + planning::DAY,
    };
    let from = match nonempty(query.from) {
        Some(day) => planning::parse_day(&day)?,
        None => to - 90 * planning::DAY,
    };
    if from >= to {
        return Err(AppError::invalid_field(
            "from",
            "`from` must be before `to`",
        ));
    }
    let kind = nonempty(query.kind)
        .map(|k| {
            fieldsync_protocol::job::JobKind::parse(&k)
                .map_err(|e| AppError::bad_request("invalid_query", e.to_string()))
        })
        .transpose()?;
    let filter = KpiFilter {
        from,
        to,
        region: nonempty(query.region),
        category: nonempty(query.category),
        kind,
        engineer: nonempty(query.engineer),
    };
    let (data, options) = state
        .read(move |tx| {
            let data = tx.kpis(&filter, period, now)?;
            let (regions, categories) = tx.kpi_dimensions()?;
            let options = KpiOptions {
                regions,
                categories,
                engineers: tx
                    .users()?
                    .into_iter()
                    .filter(|u| u.role == "installer")
                    .map(|u| EngineerOption {
                        user: u.id,
                        name: u.name,
                    })
                    .collect(),
            };
            Ok((data, options))
        })
        .await?;
    let service_star = kpi::service_star(&data.engineers).map(|e| e.user.clone());
    Ok(Json(KpiReport {
        period,
        from,
        to,
        data,
        service_star,
        options,
    }))
}

async fn sla_config(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    Ok(Json(state.sla.as_ref().clone()))
}
