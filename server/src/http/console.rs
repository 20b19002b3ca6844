//! The dispatch console: a single page (HTML, CSS and JavaScript modules, no build step)
//! compiled into the binary, so running it needs nothing but the server. The page talks to the
//! same JSON API as any other client. Every text it shows comes from a message catalog per
//! language (`console/i18n/*.json`); the tests below hold the catalogs to every code and value
//! the server can send.
//!
//! Every asset is sent with a strict Content-Security-Policy (scripts and styles only from this
//! origin, no inline script), so an injected string in job data cannot run as code.

use axum::extract::{Path, State};
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
    "correct.js",
    "customers.js",
    "dom.js",
    "fleet.js",
    "handling.js",
    "hooks.js",
    "intake.js",
    "job.js",
    "jobs.js",
    "kpis.js",
    "link.js",
    "lists.js",
    "main.js",
    "manuals.js",
    "map.js",
    "notifications.js",
    "people.js",
    "queues.js",
    "reminders.js",
    "returnvisit.js",
    "schedule.js",
    "state.js",
    "uploads.js",
    "week.js",
    "widgets.js",
    "i18n.js",
);

/// The console's message catalogs by language tag (the same keys in each).
const CATALOGS: &[(&str, &str)] = &[
    ("en", include_str!("../../console/i18n/en.json")),
    ("zh-CN", include_str!("../../console/i18n/zh-CN.json")),
];

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A static asset with the console's security headers.
pub fn asset(content_type: &'static str, body: impl IntoResponse) -> Response {
    asset_under(content_type, CSP.to_owned(), body)
}

/// A static asset under the security policy `csp`.
fn asset_under(content_type: &'static str, csp: String, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, csp.as_str()),
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
        .routes(routes!(catalog))
}

/// The dispatch console.
#[utoipa::path(
    get,
    path = "/",
    tag = "console",
    responses((status = 200, description = "The page.", content_type = "text/html"))
)]
async fn page(State(state): State<AppState>) -> Response {
    // The map's tiles are the only images from elsewhere, and only from the configured server.
    let csp = match &state.map_tiles {
        Some(tiles) => CSP.replacen(
            "img-src 'self' data:",
            &format!("img-src 'self' data: {}", tiles.origin),
            1,
        ),
        None => CSP.to_owned(),
    };
    asset_under("text/html; charset=utf-8", csp, INDEX_HTML)
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

/// The console's message catalog for one language: flat keys to texts with `{name}`
/// placeholders (a plural text is an object of CLDR plural forms).
#[utoipa::path(
    get,
    path = "/i18n/{file}",
    tag = "console",
    params(("file" = String, Path, description = "`en.json` or `zh-CN.json`.")),
    responses(
        (status = 200, description = "The catalog.", content_type = "application/json"),
        (status = 404, description = "There is no catalog for that language.")
    )
)]
async fn catalog(Path(file): Path<String>) -> Response {
    let found = file
        .strip_suffix(".json")
        .and_then(|tag| CATALOGS.iter().find(|(t, _)| *t == tag));
    match found {
        Some((_, catalog)) => asset("application/json; charset=utf-8", *catalog),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use fieldsync_protocol::SchemaError;
    use fieldsync_protocol::job::{
        CallOutcome, ComplaintKind, ComplaintOutcome, JobKind, Priority, Role, Severity, Tier,
        TimeKind,
    };
    use fieldsync_protocol::rules::Status;

    use crate::domain::auth::{Permission, UserRole};
    use crate::domain::sla::SlaClock;
    use crate::domain::{ErrorCode, Problem, Thing};
    use crate::storage::AuditKind;

    type Catalog = BTreeMap<String, serde_json::Value>;

    fn catalogs() -> Vec<(&'static str, Catalog)> {
        super::CATALOGS
            .iter()
            .map(|(tag, text)| {
                let catalog = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("the {tag} catalog is not JSON: {e}"));
                (*tag, catalog)
            })
            .collect()
    }

    /// The placeholders of every form of an entry, e.g. `{"n", "job"}`.
    fn placeholders(value: &serde_json::Value) -> BTreeSet<String> {
        let texts: Vec<&str> = match value {
            serde_json::Value::String(text) => vec![text],
            serde_json::Value::Object(forms) => forms.values().filter_map(|v| v.as_str()).collect(),
            other => panic!("a catalog entry is text or plural forms, not {other}"),
        };
        texts
            .iter()
            .flat_map(|text| text.split('{').skip(1))
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    /// Both languages have the same keys, every entry is non-empty text (or plural forms with
    /// `other`), and each translation uses the same placeholders as the English text.
    #[test]
    fn the_catalogs_say_the_same_things_in_each_language() {
        let all = catalogs();
        let (_, english) = &all[0];
        for (tag, catalog) in &all {
            let theirs: BTreeSet<_> = catalog.keys().collect();
            let ours: BTreeSet<_> = english.keys().collect();
            assert_eq!(theirs, ours, "{tag} and en have different keys");
            for (key, value) in catalog {
                match value {
                    serde_json::Value::String(text) => {
                        assert!(!text.trim().is_empty(), "{tag} {key}")
                    }
                    serde_json::Value::Object(forms) => {
                        assert!(forms.contains_key("other"), "{tag} {key}")
                    }
                    other => panic!("{tag} {key}: {other}"),
                }
                assert_eq!(
                    placeholders(value),
                    placeholders(&english[key]),
                    "{tag} {key} fills other placeholders than en"
                );
            }
        }
    }

    /// The names values have on the wire.
    fn wire_names<T: serde::Serialize>(values: &[T]) -> Vec<String> {
        values
            .iter()
            .map(|v| match serde_json::to_value(v) {
                Ok(serde_json::Value::String(name)) => name,
                other => panic!("not a unit enum value: {other:?}"),
            })
            .collect()
    }

    /// Every code the server can answer with, every detail of one, and every value of an
    /// enumeration the console shows has a text in every language.
    #[test]
    fn every_code_and_value_the_server_sends_has_a_text_in_every_language() {
        let mut keys: Vec<String> = Vec::new();
        keys.extend(
            ErrorCode::ALL
                .iter()
                .map(|c| format!("error.{}", c.as_str())),
        );
        keys.extend(
            Problem::ALL
                .iter()
                .map(|p| format!("problem.{}", p.as_str())),
        );
        keys.extend(SchemaError::CODES.iter().map(|c| format!("problem.{c}")));
        keys.extend(Thing::ALL.iter().map(|t| format!("thing.{}", t.as_str())));
        keys.extend(
            Permission::ALL
                .iter()
                .map(|p| format!("permission.{}", p.as_str())),
        );
        let mut values: Vec<String> = Vec::new();
        values.extend(Status::ALL.iter().map(|s| s.as_str().to_owned()));
        values.extend(UserRole::ALL.iter().map(|r| r.as_str().to_owned()));
        values.extend(AuditKind::ALL.iter().map(|k| k.as_str().to_owned()));
        values.extend(wire_names(&[
            JobKind::Installation,
            JobKind::Repair,
            JobKind::Maintenance,
            JobKind::Inspection,
            JobKind::Complaint,
        ]));
        values.extend(wire_names(&[
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]));
        values.extend(wire_names(&[Tier::Standard, Tier::Vip]));
        values.extend(wire_names(&ComplaintKind::ALL));
        values.extend(wire_names(&[
            Severity::Normal,
            Severity::Serious,
            Severity::Critical,
        ]));
        values.extend(wire_names(&[
            ComplaintOutcome::Resolved,
            ComplaintOutcome::Compensated,
            ComplaintOutcome::Refund,
            ComplaintOutcome::ReturnOrExchange,
            ComplaintOutcome::Rejected,
        ]));
        values.extend(wire_names(&[
            CallOutcome::Reached,
            CallOutcome::NotReached,
            CallOutcome::CallAgain,
        ]));
        values.extend(wire_names(&[Role::Installer, Role::Dispatch]));
        keys.extend(values.iter().map(|v| format!("value.{v}")));
        let clocks = [
            SlaClock::Respond,
            SlaClock::Dispatch,
            SlaClock::Resolve,
            SlaClock::Feedback,
            SlaClock::ReturnVisit,
        ];
        keys.extend(wire_names(&clocks).iter().map(|c| format!("clock.{c}")));
        keys.extend(
            wire_names(&[TimeKind::Travel, TimeKind::OnSite])
                .iter()
                .map(|k| format!("time_kind.{k}")),
        );
        // The history's fields column names every field a change can touch.
        keys.extend(
            fieldsync_protocol::access::FIELD_RULES
                .iter()
                .map(|rule| format!("field.{}", rule.field)),
        );
        // What the customer was told, by which channel, and where its delivery stands.
        use crate::domain::notify::{Channel, Event};
        use crate::storage::DeliveryStatus;
        keys.extend(
            Event::ALL
                .iter()
                .map(|e| format!("notify.event.{}", e.as_str())),
        );
        keys.extend(
            Channel::ALL
                .iter()
                .map(|c| format!("notify.channel.{}", c.as_str())),
        );
        keys.extend(
            DeliveryStatus::ALL
                .iter()
                .map(|s| format!("notify.status.{}", s.as_str())),
        );
        for (rule, clock) in crate::domain::escalation::rules() {
            keys.push(format!("reminder.{rule}"));
            keys.push(format!("clock.{clock}"));
        }
        for (tag, catalog) in catalogs() {
            let missing: Vec<&String> = keys.iter().filter(|k| !catalog.contains_key(*k)).collect();
            assert!(missing.is_empty(), "the {tag} catalog lacks {missing:?}");
        }
    }

    /// Every literal key a module asks for is in the catalogs (a typo would show the key).
    #[test]
    fn every_key_the_modules_ask_for_is_in_the_catalogs() {
        let all = catalogs();
        for (file, source) in super::MODULES {
            for (at, _) in source.match_indices("t('") {
                // `t(` itself, not the end of another name (`select('…')`).
                let before = source[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '.' {
                    continue;
                }
                let key = source[at + 3..].split('\'').next().unwrap_or_default();
                for (tag, catalog) in &all {
                    assert!(
                        catalog.contains_key(key),
                        "{file} asks for `{key}`, missing in {tag}"
                    );
                }
            }
        }
    }

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
