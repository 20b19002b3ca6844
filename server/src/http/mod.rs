//! The HTTP layer: routers, the extractors that authenticate and check permissions before a
//! body is read, handlers that only translate between HTTP and the domain, and the one mapping
//! from domain errors to status codes ([`error`]). [`app`] builds the whole application,
//! testable without a socket.
//!
//! Storage runs on the blocking pool, never on the async executor. Request bodies are limited
//! after decompression, so a small gzip bomb cannot inflate past the limit.

pub mod access;
pub mod console;
pub mod desk;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod knowledge;
pub mod media;
pub mod openapi;
pub mod sync;
pub mod tls;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::auth;
use crate::http::error::AppError;
use crate::http::extract::request_facts;
use crate::state::AppState;

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
            .routes(routes!(healthz))
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
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
        .await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}
