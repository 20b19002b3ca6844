//! Who may call: office sign-in and sign-out, users, enrollment codes, device enrollment,
//! the device list and revocation, and who is signed in (`/v1/me`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};

use crate::domain::auth::{self, Principal};
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need, request_facts};
use crate::state::AppState;
use crate::storage::{Credential, User};

/// The routes that need a credential.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list_users).post(put_user))
        .route("/v1/enrollments", post(issue_enrollment))
        .route("/v1/devices", get(list_devices))
        .route("/v1/devices/{id}/revoke", post(revoke_device))
        .route("/v1/me", get(me))
}

/// The routes anyone may call: signing in and out, and a device trading its code.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/devices/enroll", post(enroll_device))
}

async fn list_users(
    State(state): State<AppState>,
    caller: Authorized<need::ReadUsers>,
) -> Result<impl IntoResponse, AppError> {
    let users = state
        .blocking(move |state| state.dispatch(caller.user()).users())
        .await?;
    Ok(Json(users))
}

#[derive(Deserialize)]
struct UserBody {
    #[serde(flatten)]
    user: User,
    password: Option<String>,
}

async fn put_user(
    State(state): State<AppState>,
    _: Authorized<need::ManageUsers>,
    JsonBody(body): JsonBody<UserBody>,
) -> Result<impl IntoResponse, AppError> {
    let user = body.user.clone();
    state
        .blocking(move |state| {
            auth::put_user(state.storage.as_ref(), &body.user, body.password.as_deref())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
}

fn session_cookie(value: &str, max_age_seconds: Millis) -> String {
    format!(
        "{}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_seconds}",
        auth::SESSION_COOKIE
    )
}

/// Signs an office user in: the token comes back in the body (for API clients, as a bearer
/// token) and as an HttpOnly, SameSite=Strict session cookie (for the console).
async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, AppError> {
    let now = state.now();
    let signed_in = state
        .blocking(move |state| {
            auth::sign_in(
                state.storage.as_ref(),
                &state.logins,
                &body.user,
                &body.password,
                now,
            )
        })
        .await?;
    let cookie = session_cookie(&signed_in.token, auth::SESSION_LIFETIME_MS / 1000);
    Ok(([(header::SET_COOKIE, cookie)], Json(signed_in)).into_response())
}

async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    state
        .blocking(move |state| {
            auth::sign_out(state.storage.as_ref(), &request_facts(&method, &headers))
        })
        .await?;
    let cookie = session_cookie("", 0);
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize)]
struct EnrollmentBody {
    user: String,
}

async fn issue_enrollment(
    State(state): State<AppState>,
    caller: Authorized<need::ManageDevices>,
    JsonBody(body): JsonBody<EnrollmentBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let issued = state
        .blocking(move |state| {
            auth::issue_enrollment_code(state.storage.as_ref(), caller.user(), &body.user, now)
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
    JsonBody(body): JsonBody<EnrollBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let enrolled = state
        .blocking(move |state| {
            auth::enroll(
                state.storage.as_ref(),
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
#[derive(Serialize)]
struct DeviceView {
    #[serde(flatten)]
    credential: Credential,
    violations: u64,
    last_seen: Option<Millis>,
}

async fn list_devices(
    State(state): State<AppState>,
    _: Authorized<need::ReadDevices>,
) -> Result<impl IntoResponse, AppError> {
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
    _: Authorized<need::ManageDevices>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let device = id.clone();
    state
        .blocking(move |state| auth::revoke(state.storage.as_ref(), &device, now))
        .await?;
    state.revoked(id);
    Ok(StatusCode::NO_CONTENT)
}

/// Who is signed in, and the CSRF token of a cookie session (so a reloaded console page can
/// recover it; only our own origin can read the answer).
#[derive(Serialize)]
struct Me {
    user: String,
    name: String,
    role: auth::UserRole,
    csrf: Option<String>,
}

async fn me(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let Principal::Office { user, role, csrf } = caller.principal else {
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
