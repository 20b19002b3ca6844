//! The OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` annotations and
//! the types' `ToSchema` derives as the routers are built (`utoipa-axum`), so a route cannot
//! exist without its description. Served at `GET /v1/openapi.json`.

use std::sync::OnceLock;

use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Description, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::domain::auth::{ACCESS, SESSION_COOKIE};

/// The body of every JSON error response. `code` is stable and machine-readable (e.g.
/// `invalid_json`, `invalid_field`, `invalid_query`, `invalid_edit`, `unauthenticated`,
/// `session_expired`, `device_revoked`, `forbidden`, `csrf_failed`, `not_found`, `conflict`,
/// `too_many_attempts`, `internal`, and for blobs, manuals and reports `invalid_sha256`,
/// `bad_content_range`, `incomplete_body`, `chunk_out_of_order`, `upload_in_progress`,
/// `blob_too_large`, `hash_mismatch`, `unknown_job`, `unknown_blob`, `stale_version`,
/// `missing_blob`, `unknown_manual`, `no_report`, `unknown_report`, `media_missing`); `error` is
/// for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// A stable machine-readable code.
    pub code: String,
    /// The values a translation of the message needs, by name (`field` and `problem` for
    /// `invalid_field`, `thing` and `id` for `not_found`, `seconds` for the limits…); possibly
    /// empty.
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The invalid field as the API names it (only with code `invalid_field`), e.g.
    /// `customer.name`.
    pub field: Option<String>,
    /// With `chunk_out_of_order` only: how many bytes of the blob the server holds, where the
    /// next part must start.
    pub received: Option<u64>,
    /// The request's id (also in the `x-request-id` answer header and the server's logs):
    /// quote it when reporting a problem.
    pub request_id: Option<String>,
}

const DESCRIPTION: &str = "\
The HTTP API of the Fieldsync server: the office (dispatch) JSON API that the console uses, \
device enrollment, the device sync endpoint, blobs (photos, signatures, service reports, manual \
attachments), product manuals and the field knowledge the phones carry.

**Authentication.** Office users sign in with `POST /v1/auth/login` and then send either \
`Authorization: Bearer <token>` or the `fieldsync_session` cookie the sign-in sets (HttpOnly, \
Secure, SameSite=Strict; sessions last 12 hours). A request authenticated by the cookie that \
changes state (anything but GET and HEAD) must carry the header `x-csrf-token` with the `csrf` \
value from sign-in (also available from `GET /v1/me`), or it is refused with `403 csrf_failed`. \
Devices enroll once with a one-time code (`POST /v1/devices/enroll`) and send their credential \
as a bearer token; a device may only sync (`/v1/sync`, `/v1/events`), fetch its knowledge \
(`/v1/knowledge`) and upload and read blobs (`/v1/blobs/…`). Every operation names the \
permission it needs; the table below says which office roles hold it. Without a working \
credential the answer is `401` (`unauthenticated`, `session_expired` or `device_revoked`).

**Time.** Every time is an integer number of milliseconds since the Unix epoch (UTC); durations \
are milliseconds too. Days in query strings are UTC dates `YYYY-MM-DD`.

**Errors.** A JSON error body is `ErrorBody`: `{\"error\": message, \"code\": code, \"params\": {…}}`, plus \
`\"field\"` when the code is `invalid_field`; a server fault is `500` with code `internal`. JSON \
and CBOR request bodies are limited to 16 MiB after decompression (`413`; a blob upload is \
streamed and limited by the size it declares instead, at most 64 MiB); `Content-Encoding: gzip` \
request bodies are accepted and responses are compressed when the client accepts it. Requests \
are answered `408` after 30 seconds, except the event stream (no limit) and blob transfers, \
`GET` and `PUT /v1/blobs/{sha256}` (10 minutes).";

/// The description's fixed parts; the paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Fieldsync API", version = "1", description = DESCRIPTION),
    tags(
        (name = "auth", description = "Office sign-in and sessions."),
        (name = "devices", description = "Device enrollment and revocation."),
        (name = "users", description = "People and roles."),
        (name = "jobs", description = "Opening, correcting, planning and moving jobs; the audit trail."),
        (name = "customers", description = "Customer records: search, history, merging duplicates."),
        (name = "planning", description = "Queues, day board, installer suggestions."),
        (name = "reminders", description = "The escalation ladder's reminders."),
        (name = "kpis", description = "Service KPIs."),
        (name = "lists", description = "The organisation's managed lists of regions and problem categories, named in Chinese and English."),
        (name = "config", description = "Server configuration."),
        (name = "live", description = "Live updates."),
        (name = "sync", description = "The device sync protocol (docs/sync-protocol.md)."),
        (name = "blobs", description = "Content-addressed files (photos, signatures, service reports, manual attachments) and resumable uploads."),
        (name = "knowledge", description = "Product manuals, the case library and the phones' knowledge sync."),
        (name = "reports", description = "Signed service reports and the customer's download links."),
        (name = "console", description = "The embedded dispatch console."),
        (name = "meta", description = "Health and this description."),
    ),
    components(schemas(ErrorBody)),
)]
pub struct ApiDoc;

/// What holds for every operation: the two ways to authenticate, the error body of every
/// failure, and which roles hold each permission (from `ACCESS` itself).
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut Description) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <secret>`: an office session token from \
                         `POST /v1/auth/login`, or a device credential from \
                         `POST /v1/devices/enroll`. Needs no CSRF header.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "sessionCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The office session cookie. State-changing requests must send `x-csrf-token` \
                 with the session's `csrf` value, else `403 csrf_failed`.",
            ))),
        );
        let mut table =
            String::from("\n\n**Who may do what.**\n\n| permission | office roles |\n|---|---|\n");
        for (permission, roles) in ACCESS {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            table.push_str(&format!("| `{permission:?}` | {} |\n", roles.join(", ")));
        }
        table.push_str("| `Sync` | enrolled devices only |\n");
        if let Some(description) = &mut openapi.info.description {
            description.push_str(&table);
        }
        let error = ResponseBuilder::new()
            .description("An error: `ErrorBody`, with a stable `code`.")
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "ErrorBody",
                    ))))
                    .build(),
            )
            .build();
        for operation in operations(openapi) {
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
}

/// The whole description, built once from the routers: the operations that need a credential
/// are marked with both ways to present one.
pub fn description() -> &'static Description {
    static DESCRIPTION: OnceLock<Description> = OnceLock::new();
    DESCRIPTION.get_or_init(|| {
        let routes = super::routes();
        let mut secured = routes.authenticated.merge(routes.streaming).into_openapi();
        let requirements = vec![
            SecurityRequirement::new("bearerAuth", Vec::<String>::new()),
            SecurityRequirement::new("sessionCookie", Vec::<String>::new()),
        ];
        for operation in operations(&mut secured) {
            operation.security = Some(requirements.clone());
        }
        let mut api = ApiDoc::openapi();
        api.merge(secured);
        api.merge(routes.public.into_openapi());
        Conventions.modify(&mut api);
        name_the_time_type(api)
    })
}

/// The derives see `Millis` (milliseconds since the Unix epoch) as the `i64` it stands for and
/// name its schema so; the description calls it by its own name.
fn name_the_time_type(api: Description) -> Description {
    let Ok(mut json) = serde_json::to_value(&api) else {
        return api;
    };
    if let Some(schemas) = json["components"]["schemas"].as_object_mut()
        && let Some(mut millis) = schemas.remove("i64")
    {
        millis["description"] = "Milliseconds since the Unix epoch (UTC), or a duration in \
                                 milliseconds."
            .into();
        schemas.insert("Millis".into(), millis);
    }
    let text = json.to_string().replace(
        "\"#/components/schemas/i64\"",
        "\"#/components/schemas/Millis\"",
    );
    serde_json::from_str(&text).unwrap_or(api)
}

/// Every operation of every path.
fn operations(api: &mut Description) -> impl Iterator<Item = &mut Operation> {
    api.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// This OpenAPI description.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 description.", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    let json = serde_json::to_string_pretty(description()).unwrap_or_default();
    super::console::asset("application/json", json)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::state::AppState;
    use crate::storage::blobs::FsBlobStore;
    use crate::storage::sqlite::SqliteStorage;

    /// Every (method, path) the description lists.
    fn operations_listed() -> Vec<(Method, String)> {
        let mut listed = Vec::new();
        for (path, item) in &description().paths.paths {
            for (method, operation) in [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ] {
                if operation.is_some() {
                    listed.push((method, path.clone()));
                }
            }
        }
        listed
    }

    /// The API's routes, pinned: a route added or removed shows up here in review.
    #[test]
    fn the_description_lists_the_api() {
        let mut listed: Vec<String> = operations_listed()
            .into_iter()
            .map(|(method, path)| format!("{method} {path}"))
            .collect();
        listed.sort();
        let expected = [
            "DELETE /v1/lists/{list}/{code}",
            "DELETE /v1/users/{id}/schedule",
            "GET /",
            "GET /console.css",
            "GET /healthz",
            "GET /i18n/{file}",
            "GET /js/{module}",
            "GET /metrics",
            "GET /r/{token}",
            "GET /readyz",
            "GET /v1/audit",
            "GET /v1/blobs/{sha256}",
            "GET /v1/blobs/{sha256}/upload",
            "GET /v1/board",
            "GET /v1/cases",
            "GET /v1/config/sla",
            "GET /v1/customers",
            "GET /v1/customers/{id}",
            "GET /v1/devices",
            "GET /v1/devices/{id}",
            "GET /v1/events",
            "GET /v1/jobs",
            "GET /v1/jobs/{id}",
            "GET /v1/jobs/{id}/audit",
            "GET /v1/jobs/{id}/notifications",
            "GET /v1/jobs/{id}/report",
            "GET /v1/jobs/{id}/suggestions",
            "GET /v1/kpis",
            "GET /v1/lists",
            "GET /v1/manuals",
            "GET /v1/manuals/{model}/{version}",
            "GET /v1/map",
            "GET /v1/me",
            "GET /v1/openapi.json",
            "GET /v1/queues",
            "GET /v1/reminders",
            "GET /v1/reports/{token}",
            "GET /v1/reports/{token}/page",
            "GET /v1/users",
            "GET /v1/users/{id}/schedule",
            "PATCH /v1/jobs/{id}",
            "POST /v1/auth/login",
            "POST /v1/auth/logout",
            "POST /v1/customers/{id}/merge",
            "POST /v1/devices/enroll",
            "POST /v1/devices/{id}/revoke",
            "POST /v1/enrollments",
            "POST /v1/jobs",
            "POST /v1/jobs/{id}/appointment",
            "POST /v1/jobs/{id}/assign",
            "POST /v1/jobs/{id}/complaint",
            "POST /v1/jobs/{id}/escalate",
            "POST /v1/jobs/{id}/help/{index}/answer",
            "POST /v1/jobs/{id}/report-link",
            "POST /v1/jobs/{id}/return-visits",
            "POST /v1/jobs/{id}/status",
            "POST /v1/knowledge",
            "POST /v1/manuals",
            "POST /v1/reminders/{id}/ack",
            "POST /v1/reports/{token}/complaints",
            "POST /v1/reports/{token}/rating",
            "POST /v1/sync",
            "POST /v1/users",
            "POST /v1/users/{id}/unlock",
            "PUT /v1/blobs/{sha256}",
            "PUT /v1/lists/{list}/{code}",
            "PUT /v1/users/{id}/schedule",
        ];
        assert_eq!(listed, expected);
    }

    /// Every listed operation is served: the router answers it (a handler's or the
    /// authentication's answer, never the router's bare 404 or 405).
    #[test]
    fn every_listed_operation_is_served() {
        let dir = tempfile::tempdir().expect("dir");
        let storage = SqliteStorage::open(dir.path().join("s.db")).expect("open");
        let blobs = FsBlobStore::open(dir.path().join("blobs")).expect("blobs");
        let app = crate::http::app(AppState::new(Arc::new(storage), Arc::new(blobs)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for (method, path) in operations_listed() {
            let uri = path
                .replace("{module}", "main.js")
                .replace("{file}", "zh-CN.json")
                .replace("{sha256}", &"ab".repeat(32))
                .replace("{version}", "1")
                .replace(['{', '}'], "");
            let request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .body(Body::empty())
                .expect("request");
            let response = runtime
                .block_on(app.clone().oneshot(request))
                .expect("answer");
            let status = response.status();
            let body = runtime
                .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
                .expect("body");
            let answered_by_us = status != StatusCode::METHOD_NOT_ALLOWED
                && (status != StatusCode::NOT_FOUND
                    || serde_json::from_slice::<serde_json::Value>(&body)
                        .is_ok_and(|v| v["code"].is_string() && v["code"] != "no_route"));
            assert!(answered_by_us, "{method} {uri}: {status}");
        }
    }

    /// Operations that need a credential say so; public ones do not; every schema a
    /// description refers to exists.
    #[test]
    fn security_and_references_are_complete() {
        let json = serde_json::to_value(description()).expect("json");
        assert_eq!(json["openapi"], "3.1.0");
        let public = [
            "/",
            "/console.css",
            "/healthz",
            "/metrics",
            "/readyz",
            "/js/{module}",
            "/i18n/{file}",
            "/v1/openapi.json",
            "/v1/auth/login",
            "/v1/auth/logout",
            "/v1/devices/enroll",
            "/v1/reports/{token}",
            "/r/{token}",
            "/v1/reports/{token}/page",
            "/v1/reports/{token}/rating",
            "/v1/reports/{token}/complaints",
        ];
        for (path, item) in json["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                let secured = operation.get("security").is_some();
                assert_eq!(
                    secured,
                    !public.contains(&path.as_str()),
                    "{method} {path}: security"
                );
                assert!(operation["responses"]["default"].is_object(), "{path}");
            }
        }
        let text = json.to_string();
        let schemas = json["components"]["schemas"].as_object().expect("schemas");
        assert!(schemas.contains_key("Millis") && !schemas.contains_key("i64"));
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "no schema {name}");
        }
    }
}
