//! The HTTP layer: routers, the extractors that authenticate and check permissions before a
//! body is read, handlers that only translate between HTTP and the domain, and the one mapping
//! from domain errors to status codes ([`error`]). [`app`] builds the whole application,
//! testable without a socket.
//!
//! Storage runs on the blocking pool, never on the async executor. Request bodies are limited
//! after decompression, so a small gzip bomb cannot inflate past the limit.

pub mod access;
pub mod console;
pub mod customers;
pub mod desk;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod knowledge;
pub mod link;
pub mod media;
pub mod openapi;
pub mod sync;
pub mod tls;

use std::time::Duration;

use axum::Router;
use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::DomainError;
use crate::domain::auth;
use crate::domain::error::ErrorCode;
use crate::http::error::AppError;
use crate::http::extract::request_facts;
use crate::state::{AppState, Readiness};

/// The largest request body accepted, after decompression.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// How long an ordinary request may take (blob transfers and the event stream have their own).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn request_timeout() -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT)
}

/// The routes by how they are guarded, before any layer: each area's routers declare their
/// paths through `#[utoipa::path]`, so the description and the router cannot disagree.
pub(crate) struct Routes {
    /// Need a credential; the ordinary request time limit.
    pub authenticated: OpenApiRouter<AppState>,
    /// Need a credential; long-lived (the event stream) or with their own limit (blob bytes).
    pub streaming: OpenApiRouter<AppState>,
    /// Anyone may call them.
    pub public: OpenApiRouter<AppState>,
}

pub(crate) fn routes() -> Routes {
    Routes {
        authenticated: OpenApiRouter::new()
            .merge(sync::routes())
            .merge(jobs::routes())
            .merge(customers::routes())
            .merge(access::routes())
            .merge(desk::routes())
            .merge(media::routes())
            .merge(knowledge::routes()),
        streaming: OpenApiRouter::new()
            .merge(sync::stream_routes())
            .merge(media::transfer_routes()),
        public: OpenApiRouter::new()
            .merge(access::public_routes())
            .merge(console::routes())
            .merge(media::public_routes())
            .merge(link::routes())
            .routes(routes!(healthz))
            .routes(routes!(readyz))
            .routes(routes!(metrics_text))
            .routes(routes!(openapi::openapi_json)),
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let Routes {
        authenticated,
        streaming,
        public,
    } = routes();
    // Everything here needs a credential, checked before the body is read.
    let authenticated = Router::new()
        .merge(authenticated.split_for_parts().0)
        .layer(request_timeout())
        .merge(streaming.split_for_parts().0)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let public = public.split_for_parts().0.layer(request_timeout());
    Router::new()
        .merge(authenticated)
        .merge(public)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
        .fallback(no_such_route)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(middleware::from_fn(with_request_id))
        .with_state(state)
}

/// The header that carries a request's id, both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request being answered, for its error body.
    static REQUEST_ID: String;
}

/// The id of the request being answered, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Gives every request an id: the caller's `x-request-id` when it is a sane token (at most 64
/// letters, digits, `-` or `_`), else a new one. It is in the request's log span, in every
/// error body, and in the answer's `x-request-id`.
async fn with_request_id(mut request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let value = axum::http::HeaderValue::from_str(&id).ok();
    if let Some(value) = &value {
        request
            .headers_mut()
            .insert(REQUEST_ID_HEADER, value.clone());
    }
    let mut response = REQUEST_ID.scope(id, next.run(request)).await;
    if let Some(value) = value {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Each request's log span: method, path and request id.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %loggable_path(request.uri().path()),
        request_id = %id,
    )
}

/// `path` as the log may keep it: a customer's link is a credential, so its token is left out.
fn loggable_path(path: &str) -> String {
    for prefix in ["/r/", "/v1/reports/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map_or("", |at| &rest[at..]);
            return format!("{prefix}…{tail}");
        }
    }
    path.to_owned()
}

/// What a path no route serves is answered with: a JSON error like any other, with its
/// request id.
async fn no_such_route(uri: axum::http::Uri) -> AppError {
    DomainError::refused(
        crate::domain::Refusal::NotFound,
        ErrorCode::NoRoute,
        format!("the server has no `{}`", uri.path()),
    )
    .with("path", uri.path())
    .into()
}

/// Health check: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses((status = 200, description = "`ok`.", content_type = "text/plain"))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: whether this server can do its work now (the database takes a write, the blob
/// store is writable). A load balancer stops sending requests while it fails; liveness
/// (`/healthz`) still holds, so the process is not restarted for a full disk.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "Not ready: which check fails and why.", body = Readiness)
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Response, AppError> {
    let readiness = state.blocking(|state| Ok(state.readiness())).await?;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((status, axum::Json(readiness)).into_response())
}

/// The peer's address, from the connection (for `/metrics` access by address).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tls::TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tls::TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// The server's metrics in the Prometheus text format: sync rounds and their duration, pushed
/// jobs by outcome, sync bytes, open event streams, uploads, escalation ticks and reminders,
/// sign-ins and lock-outs, storage transaction time, database and blob store size. For a
/// scraper at an address `serve --metrics-from` allows, or an admin (permission `ReadMetrics`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain"))
)]
async fn metrics_text(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
) -> Result<Response, AppError> {
    // The scraper's own connection, never what a forwarded header claims.
    let allowed_address =
        extract::peer_address(&request).is_some_and(|peer| state.metrics_from.contains(&peer));
    let (method, headers) = (request.method, request.headers);
    if !allowed_address {
        let now = state.now();
        let principal = state
            .blocking(move |state| {
                auth::authenticate(
                    state.storage.as_ref(),
                    &request_facts(&method, &headers),
                    now,
                )
            })
            .await?;
        principal.require(
            auth::Permission::ReadMetrics,
            &request_facts(&axum::http::Method::GET, &axum::http::HeaderMap::new()),
        )?;
    }
    let Some(recorder) = crate::state::metrics::recorder() else {
        return Err(DomainError::Internal("the metrics recorder is not installed".into()).into());
    };
    let (database, blobs) = state
        .blocking(|state| {
            let blobs = crate::storage::read(state.storage.as_ref(), |tx| tx.held_blob_bytes())?;
            Ok((state.storage.database_bytes()?, blobs))
        })
        .await?;
    ::metrics::gauge!(crate::state::metrics::DATABASE_BYTES).set(database as f64);
    ::metrics::gauge!(crate::state::metrics::BLOB_BYTES).set(blobs as f64);
    recorder.run_upkeep();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        recorder.render(),
    )
        .into_response())
}

/// Turns the request's credential into a [`auth::Principal`] for the handler, or answers 401.
async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let method = request.method().clone();
    let headers = request.headers().clone();
    let now = state.now();
    let principal = state
        .blocking(move |state| {
            auth::authenticate(
                state.storage.as_ref(),
                &request_facts(&method, &headers),
                now,
            )
        })
        .await;
    match principal {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            Ok(next.run(request).await)
        }
        Err(refused) => {
            // A phone with an expired credential may be sending a photo: the body is read and
            // dropped so that it gets the 401 (a proxy in front would answer 502 to a closed
            // connection, and may take the node out of rotation).
            media::drain(&mut request.into_body().into_data_stream()).await;
            Err(refused.into())
        }
    }
}
