//! The dispatch console: a single page (HTML, CSS and JavaScript modules, no build step)
//! compiled into the binary, so running it needs nothing but the server. The page talks to the same JSON API as any other
//! client (documented by the OpenAPI description served here too).
//!
//! Every asset is sent with a strict Content-Security-Policy (scripts and styles only from this
//! origin, no inline script), so an injected string in job data cannot run as code.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../console/index.html");

/// The console's ES modules, served at `/js/<name>` (`main.js` is the entry point).
macro_rules! modules {
    ($($name:literal),* $(,)?) => {
        &[$((concat!("/js/", $name), include_str!(concat!("../../console/js/", $name)))),*]
    };
}
const MODULES: &[(&str, &str)] = modules!(
    "actions.js",
    "api.js",
    "board.js",
    "constants.js",
    "dom.js",
    "hooks.js",
    "intake.js",
    "job.js",
    "kpis.js",
    "main.js",
    "manuals.js",
    "queues.js",
    "reminders.js",
    "state.js",
    "uploads.js",
    "widgets.js",
);
const CONSOLE_CSS: &str = include_str!("../../console/console.css");
/// The OpenAPI 3.1 description of the HTTP API.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The console's routes: public (the page signs in through the API).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for &(path, source) in MODULES {
        router = router.route(
            path,
            get(move || async move { asset("text/javascript; charset=utf-8", source) }),
        );
    }
    router
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/console.css",
            get(|| async { asset("text/css; charset=utf-8", CONSOLE_CSS) }),
        )
        .route(
            "/v1/openapi.json",
            get(|| async { asset("application/json", OPENAPI_JSON) }),
        )
}

#[cfg(test)]
mod tests {
    use super::OPENAPI_JSON;

    /// Every (method, path) the routers declare, read from their source.
    fn declared_routes() -> Vec<(String, String)> {
        let mut routes = Vec::new();
        let sources = [
            include_str!("mod.rs"),
            include_str!("access.rs"),
            include_str!("console.rs"),
            include_str!("desk.rs"),
            include_str!("jobs.rs"),
            include_str!("knowledge.rs"),
            include_str!("media.rs"),
            include_str!("sync.rs"),
        ];
        for source in sources {
            for chunk in source.split(".route(").skip(1) {
                let Some(path) = chunk.split('"').nth(1) else {
                    continue;
                };
                if !path.starts_with('/') {
                    continue;
                }
                let end = [".layer(", ".merge(", ".route_layer(", ".with_state(", "))"]
                    .iter()
                    .filter_map(|stop| chunk.find(stop))
                    .min()
                    .unwrap_or(chunk.len());
                for method in ["get", "post", "put", "patch", "delete"] {
                    let call = format!("{method}(");
                    let found = chunk[..end].match_indices(&call).any(|(at, _)| {
                        at == 0 || !chunk.as_bytes()[at - 1].is_ascii_alphanumeric()
                    });
                    if found {
                        routes.push((method.to_owned(), path.to_owned()));
                    }
                }
            }
        }
        routes.sort();
        routes.dedup();
        routes
    }

    #[test]
    fn the_api_description_lists_exactly_the_served_routes() {
        let spec: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("valid JSON");
        assert_eq!(spec["openapi"], "3.1.0");
        let mut described = Vec::new();
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    described.push((method.clone(), path.clone()));
                }
            }
        }
        described.sort();
        let declared = declared_routes();
        assert!(declared.len() > 25, "the route scan found {declared:?}");
        assert_eq!(described, declared, "openapi.json and the routers disagree");
    }
}
