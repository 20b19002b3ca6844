//! Who may call: office sign-in and sign-out, users, enrollment codes, device enrollment,
//! the device list and revocation, and who is signed in (`/v1/me`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};

use crate::domain::DomainError;
use crate::domain::auth::{self, Enrolled, Invitation, Principal, SignedIn};
use crate::domain::error::{ErrorCode, Thing};
use crate::domain::fleet::{self, DeviceDetail, DeviceOverview};
use crate::domain::schedule;
use crate::http::error::AppError;
use crate::http::extract::{Authorized, ClientAddr, JsonBody, need, request_facts};
use crate::http::openapi::ErrorBody;
use crate::state::{AppState, metrics};
use crate::storage::{User, WorkSchedule};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes that need a credential.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, put_user))
        .routes(routes!(unlock_user))
        .routes(routes!(get_schedule, put_schedule, delete_schedule))
        .routes(routes!(issue_enrollment))
        .routes(routes!(list_devices))
        .routes(routes!(get_device))
        .routes(routes!(revoke_device))
        .routes(routes!(me))
}

/// The routes anyone may call: signing in and out, and a device trading its code.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(enroll_device))
}

/// List users.
///
/// Permission: `ReadUsers`.
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    responses((status = 200, description = "Every user.", body = [User]))
)]
async fn list_users(
    State(state): State<AppState>,
    caller: Authorized<need::ReadUsers>,
) -> Result<impl IntoResponse, AppError> {
    let users = state
        .blocking(move |state| state.dispatch(caller.user()).users())
        .await?;
    Ok(Json(users))
}

/// A user, with a password to set.
#[derive(Deserialize, utoipa::ToSchema)]
struct UserBody {
    #[serde(flatten)]
    user: User,
    /// A new password (at least 10 characters); none keeps the current one.
    password: Option<String>,
}

/// Create or update a user.
///
/// A password (at least 10 characters) is optional; setting one ends the user's sessions. Permission: `ManageUsers`.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    request_body = UserBody,
    responses((status = 201, description = "Stored.", body = User))
)]
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

/// Lifts an account's sign-in lock-out (its failures from every address are forgotten).
///
/// Permission: `ManageUsers`.
#[utoipa::path(
    post,
    path = "/v1/users/{id}/unlock",
    tag = "users",
    params(("id" = String, Path, description = "The user id.")),
    responses((status = 204, description = "Unlocked: the user may sign in again at once."))
)]
async fn unlock_user(
    State(state): State<AppState>,
    _: Authorized<need::ManageUsers>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let known = state.read({
        let id = id.clone();
        move |tx| Ok(tx.user(&id)?.is_some())
    });
    if !known.await? {
        return Err(DomainError::not_found(Thing::User, id.clone()).into());
    }
    state
        .write(move |tx| Ok(tx.forget_sign_in_failures(&id)?))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An installer's working week and time off.
///
/// `null` when the office has given them none (they may be booked at any time). Permission: `ReadUsers`.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/schedule",
    tag = "users",
    params(("id" = String, Path, description = "The user id.")),
    responses((status = 200, description = "Their working week and time off, or null.", body = Option<WorkSchedule>))
)]
async fn get_schedule(
    State(state): State<AppState>,
    _: Authorized<need::ReadUsers>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let schedule = state
        .blocking(move |state| schedule::of(state.storage.as_ref(), &id))
        .await?;
    Ok(Json(schedule))
}

/// Set an installer's working week and time off.
///
/// Seven days, Monday first, each `{"start": "08:00", "end": "17:00"}` or `null` for a day off, in the organisation's time zone; time off as whole days `{"from", "to", "reason"}`. Bookings outside them are refused (`time_off`, `day_off`, `outside_working_hours`) unless dispatch gives a reason. Every problem is named at once and nothing is stored. Permission: `EditJobs`.
#[utoipa::path(
    put,
    path = "/v1/users/{id}/schedule",
    tag = "users",
    params(("id" = String, Path, description = "The installer's user id.")),
    request_body = WorkSchedule,
    responses((status = 200, description = "Stored, as stored (time off in order).", body = WorkSchedule))
)]
async fn put_schedule(
    State(state): State<AppState>,
    _: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<WorkSchedule>,
) -> Result<impl IntoResponse, AppError> {
    let stored = state
        .blocking(move |state| schedule::set(state.storage.as_ref(), &id, Some(body)))
        .await?;
    state.changed(Vec::new(), Vec::new());
    Ok(Json(stored))
}

/// Remove an installer's working week and time off.
///
/// They may be booked at any time again. Permission: `EditJobs`.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}/schedule",
    tag = "users",
    params(("id" = String, Path, description = "The installer's user id.")),
    responses((status = 204, description = "Removed."))
)]
async fn delete_schedule(
    State(state): State<AppState>,
    _: Authorized<need::EditJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    state
        .blocking(move |state| schedule::set(state.storage.as_ref(), &id, None))
        .await?;
    state.changed(Vec::new(), Vec::new());
    Ok(StatusCode::NO_CONTENT)
}

/// An office sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
struct LoginBody {
    /// The user id.
    user: String,
    /// The password.
    password: String,
}

fn session_cookie(value: &str, max_age_seconds: Millis) -> String {
    format!(
        "{}={value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_seconds}",
        auth::SESSION_COOKIE
    )
}

/// Sign in to the office.
///
/// The token comes back in the body (for API clients, as a bearer token) and as an HttpOnly, Secure, SameSite=Strict session cookie (for the console). Five wrong passwords from one address lock that account for that address for 15 minutes (an administrator can unlock it); each address may try ten sign-ins a minute. Installers cannot sign in to the office.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in: the token, also set as the session cookie.", body = SignedIn),
        (status = 429, description = "Too many failed attempts; `Retry-After` says when to try again.", body = ErrorBody)
    )
)]
async fn login(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, AppError> {
    let now = state.now();
    let signed_in = state
        .blocking(move |state| {
            let attempt = auth::SignInAttempt {
                user: &body.user,
                password: &body.password,
                from,
            };
            auth::sign_in(state.storage.as_ref(), &state.logins, &attempt, now)
        })
        .await;
    let outcome = match &signed_in {
        Ok(_) => "ok",
        Err(DomainError::TooManyAttempts(_)) => "locked_out",
        Err(_) => "refused",
    };
    ::metrics::counter!(metrics::SIGN_INS, "outcome" => outcome).increment(1);
    let signed_in = signed_in?;
    let cookie = session_cookie(&signed_in.token, auth::SESSION_LIFETIME_MS / 1000);
    Ok(([(header::SET_COOKIE, cookie)], Json(signed_in)).into_response())
}

/// Sign out.
///
/// Ends the session the request carries (bearer or cookie).
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    responses((status = 204, description = "Signed out; the cookie is cleared."))
)]
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

/// Whose phone the code enrolls.
#[derive(Deserialize, utoipa::ToSchema)]
struct EnrollmentBody {
    /// The installer's user id.
    user: String,
}

/// Issue an enrollment code.
///
/// A one-time code for an installer's phone, valid 24 hours, with the enrollment link a phone scans (`link`, and as a QR code in `qr`): its server is `serve --public-url` when set, else the caller's `Origin` (the console's address), else the `Host` the request named, over `https://` unless that host is this machine. Permission: `ManageDevices`.
#[utoipa::path(
    post,
    path = "/v1/enrollments",
    tag = "devices",
    request_body = EnrollmentBody,
    responses((status = 201, description = "A one-time code and its link, shown once.", body = Invitation))
)]
async fn issue_enrollment(
    State(state): State<AppState>,
    caller: Authorized<need::ManageDevices>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<EnrollmentBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let server = state
        .public_url
        .clone()
        .unwrap_or_else(|| address_reached(&headers));
    let invitation = state
        .blocking(move |state| {
            let issued = auth::issue_enrollment_code(
                state.storage.as_ref(),
                caller.user(),
                &body.user,
                now,
            )?;
            Invitation::new(&server, issued)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

/// The longest server address an enrollment link carries.
const MAX_ADDRESS_CHARS: usize = 300;

/// The base URL the caller reached the server at: the browser's `Origin` (behind a proxy, the
/// public address), else the `Host` header, over `https://` unless it names this machine (a
/// phone accepts `http://` only to itself); `http://localhost` when neither reads.
fn address_reached(headers: &HeaderMap) -> String {
    let text = |name| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty() && value.len() <= MAX_ADDRESS_CHARS)
    };
    if let Some(origin) =
        text(header::ORIGIN).filter(|o| o.starts_with("https://") || o.starts_with("http://"))
    {
        return origin.to_owned();
    }
    match text(header::HOST) {
        Some(host) if is_this_machine(host) => format!("http://{host}"),
        Some(host) => format!("https://{host}"),
        None => "http://localhost".to_owned(),
    }
}

/// Whether `host` (a `Host` header: a name or address, maybe with a port) is this machine.
fn is_this_machine(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    value
                        .parse()
                        .unwrap_or_else(|_| unreachable!("a header value")),
                )
            })
            .collect()
    }

    /// The console's origin wins; without it the host decides, in clear text only to this
    /// machine.
    #[test]
    fn an_enrollment_link_names_the_address_the_office_reached() {
        let cases = [
            (
                headers(&[
                    (header::ORIGIN, "https://fs.example.com"),
                    (header::HOST, "10.0.0.5:8080"),
                ]),
                "https://fs.example.com",
            ),
            (
                headers(&[(header::HOST, "fs.example.com")]),
                "https://fs.example.com",
            ),
            (
                headers(&[(header::HOST, "127.0.0.1:8080")]),
                "http://127.0.0.1:8080",
            ),
            (
                headers(&[(header::HOST, "localhost:8080")]),
                "http://localhost:8080",
            ),
            (
                headers(&[(header::HOST, "[::1]:8080")]),
                "http://[::1]:8080",
            ),
            (headers(&[(header::HOST, "[::1]")]), "http://[::1]"),
            (
                headers(&[(header::HOST, "127.evil.example")]),
                "https://127.evil.example",
            ),
            (
                headers(&[(header::ORIGIN, "null"), (header::HOST, "a.example")]),
                "https://a.example",
            ),
            (headers(&[]), "http://localhost"),
        ];
        for (given, expected) in cases {
            assert_eq!(address_reached(&given), expected, "{given:?}");
        }
    }
}

/// A device trading its code.
#[derive(Deserialize, utoipa::ToSchema)]
struct EnrollBody {
    /// The one-time code.
    code: String,
    /// The device id the app chose.
    device: String,
    /// The installer the device is signed in as, if the app knows: checked before the code is
    /// spent.
    user: Option<String>,
}

/// Enroll a device.
///
/// A device trades a one-time code for its credential; the code is the authentication. With `user`, the code is checked against the app's installer before it is spent.
#[utoipa::path(
    post,
    path = "/v1/devices/enroll",
    tag = "devices",
    request_body = EnrollBody,
    responses((status = 201, description = "The device's credential, shown once.", body = Enrolled))
)]
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

/// List enrolled devices: the fleet view.
///
/// Every device with what it last reported (versions, outbox depth and the age of its oldest
/// entry, parked changes, pending media, free storage, clock skew, last error), its violations
/// and when it last synced, most trouble first. Permission: `ReadDevices`.
#[utoipa::path(
    get,
    path = "/v1/devices",
    tag = "devices",
    responses((status = 200, description = "The fleet, most trouble first.", body = [DeviceOverview]))
)]
async fn list_devices(
    State(state): State<AppState>,
    _: Authorized<need::ReadDevices>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let devices = state.read(move |tx| fleet::fleet(tx, now)).await?;
    Ok(Json(devices))
}

/// One device: its figures, its recent syncs and the warnings and errors it forwarded.
///
/// Permission: `ReadDevices`.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}",
    tag = "devices",
    params(("id" = String, Path, description = "The device id.")),
    responses((status = 200, description = "The device.", body = DeviceDetail))
)]
async fn get_device(
    State(state): State<AppState>,
    _: Authorized<need::ReadDevices>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let device = state.read(move |tx| fleet::device(tx, &id, now)).await?;
    Ok(Json(device))
}

/// Revoke a device.
///
/// Permission: `ManageDevices`.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/revoke",
    tag = "devices",
    params(("id" = String, Path, description = "The device id.")),
    responses((status = 204, description = "Revoked at once: the next request gets `401 device_revoked` and the phone wipes its data."))
)]
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
#[derive(Serialize, utoipa::ToSchema)]
struct Me {
    user: String,
    name: String,
    role: auth::UserRole,
    csrf: Option<String>,
    /// The organisation's time zone (IANA name): the clock the console shows and reads times
    /// on, and the server counts days in.
    time_zone: String,
}

/// Who is signed in.
///
/// And the CSRF token of a cookie session, so a reloaded console page can recover it. Office sessions only (`403 office_only` for devices). Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "auth",
    responses((status = 200, description = "Who is signed in.", body = Me))
)]
async fn me(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let Principal::Office { user, role, csrf } = caller.principal else {
        return Err(AppError::forbidden(
            ErrorCode::OfficeOnly,
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
            time_zone: state.time_zone.name().to_owned(),
        }),
    ))
}
