//! The dispatch console: a single page (HTML, CSS and JavaScript modules, no build step)
//! compiled into the binary, so running it needs nothing but the server. The page talks to the
//! same JSON API as any other client.
//!
//! Every asset is sent with a strict Content-Security-Policy (scripts and styles only from this
//! origin, no inline script), so an injected string in job data cannot run as code.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");

/// The console's ES modules by file name (`main.js` is the entry point).
macro_rules! modules {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../console/js/", $name)))),*]
    };
}
const MODULES: &[(&str, &str)] = modules!(
    "actions.js",
    "api.js",
    "board.js",
    "constants.js",
    "dom.js",
    "fleet.js",
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

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A static asset with the console's security headers.
pub fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The console's routes: public (the page signs in through the API).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(style_sheet))
        .routes(routes!(module))
}

/// The dispatch console.
#[utoipa::path(
    get,
    path = "/",
    tag = "console",
    responses((status = 200, description = "The page.", content_type = "text/html"))
)]
async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The console's style sheet.
#[utoipa::path(
    get,
    path = "/console.css",
    tag = "console",
    responses((status = 200, description = "The style sheet.", content_type = "text/css"))
)]
async fn style_sheet() -> Response {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

/// One of the console's JavaScript modules.
#[utoipa::path(
    get,
    path = "/js/{module}",
    tag = "console",
    params(("module" = String, Path, description = "The module's file name, e.g. `main.js`.")),
    responses(
        (status = 200, description = "The module.", content_type = "text/javascript"),
        (status = 404, description = "There is no such module.")
    )
)]
async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(file, _)| *file == name) {
        Some((_, source)) => asset("text/javascript; charset=utf-8", *source),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// Every module the page imports is served: each `from './x.js'` names a file in the table.
    #[test]
    fn every_imported_module_is_served() {
        for (file, source) in super::MODULES {
            for target in source.split("from './").skip(1) {
                let target = target.split('\'').next().unwrap_or_default();
                assert!(
                    super::MODULES.iter().any(|(name, _)| *name == target),
                    "{file} imports {target}, which is not served"
                );
            }
        }
        assert!(super::INDEX_HTML.contains("/js/main.js"));
    }
}
