//! The dispatch desk: queues, the day board, engineer suggestions, reminders, the KPI report,
//! the SLA policy in force, and the managed lists of regions and problem categories.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::DomainError;
use crate::domain::auth::UserRole;
use crate::domain::error::{ErrorCode, Problem, Thing};
use crate::domain::kpi::{self, KpiFilter, Period};
use crate::domain::lists::{self, ManagedLists};
use crate::domain::planning::{self, Board, Queues, Suggestion};
use crate::domain::sla::SlaPolicy;
use crate::domain::travel::{self, DayMap};
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need};
use crate::state::AppState;
use crate::storage::{ListEntry, ListKind, Reminder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The desk's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queues))
        .routes(routes!(board))
        .routes(routes!(day_map))
        .routes(routes!(suggestions))
        .routes(routes!(reminders))
        .routes(routes!(acknowledge_reminder))
        .routes(routes!(kpis))
        .routes(routes!(sla_config))
        .routes(routes!(managed_lists))
        .routes(routes!(put_list_entry, delete_list_entry))
}

/// The organisation's lists of regions and problem categories.
///
/// Each entry is the code jobs carry with its Chinese and English names; retired entries stay on what carries them but are no longer accepted. An empty list is not managed and takes any value. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/lists",
    tag = "lists",
    responses((status = 200, description = "Both lists, each by code.", body = ManagedLists))
)]
async fn managed_lists(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let lists = state.blocking(|state| lists::lists(state.storage.as_ref()));
    Ok(Json(lists.await?))
}

/// The list a path names: `regions` or `categories`.
fn list_named(name: &str) -> Result<ListKind, AppError> {
    match name {
        "regions" => Ok(ListKind::Region),
        "categories" => Ok(ListKind::Category),
        _ => Err(AppError::bad_request(
            ErrorCode::InvalidPath,
            format!("there is no list `{name}`; the lists are `regions` and `categories`"),
        )),
    }
}

/// Create, rename, retire or restore an entry of a list.
///
/// `list` is `regions` or `categories`; `code` is what jobs carry and never changes once used: a new one is trimmed and takes 1 to 40 characters, an existing one is matched as stored (or once trimmed). Both names are required (1 to 100 characters, trimmed); every problem is named at once and nothing is stored. From then on new jobs (and engineers, for regions) must carry a code of the list that is not retired (`not_in_list`). Permission: `ManageUsers`.
#[utoipa::path(
    put,
    path = "/v1/lists/{list}/{code}",
    tag = "lists",
    params(
        ("list" = String, Path, description = "`regions` or `categories`."),
        ("code" = String, Path, description = "The entry's code."),
    ),
    request_body = lists::EntryBody,
    responses((status = 200, description = "Stored, as stored.", body = ListEntry))
)]
async fn put_list_entry(
    State(state): State<AppState>,
    _: Authorized<need::ManageUsers>,
    Path((list, code)): Path<(String, String)>,
    JsonBody(body): JsonBody<lists::EntryBody>,
) -> Result<impl IntoResponse, AppError> {
    let list = list_named(&list)?;
    let stored = state
        .blocking(move |state| lists::put(state.storage.as_ref(), list, &code, body))
        .await?;
    state.changed(Vec::new(), Vec::new());
    Ok(Json(stored))
}

/// Delete an entry of a list.
///
/// Only an entry nothing carries: one a job or an engineer carries is refused with `409 in_use` (retire it instead). Permission: `ManageUsers`.
#[utoipa::path(
    delete,
    path = "/v1/lists/{list}/{code}",
    tag = "lists",
    params(
        ("list" = String, Path, description = "`regions` or `categories`."),
        ("code" = String, Path, description = "The entry's code."),
    ),
    responses((status = 204, description = "Deleted."))
)]
async fn delete_list_entry(
    State(state): State<AppState>,
    _: Authorized<need::ManageUsers>,
    Path((list, code)): Path<(String, String)>,
) -> Result<impl IntoResponse, AppError> {
    let list = list_named(&list)?;
    state
        .blocking(move |state| lists::delete(state.storage.as_ref(), list, &code))
        .await?;
    state.changed(Vec::new(), Vec::new());
    Ok(StatusCode::NO_CONTENT)
}

/// The dispatch queues.
///
/// Unassigned, unscheduled, overdue, escalated and flagged jobs; VIP first, then the nearest open deadline. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/queues",
    tag = "planning",
    responses((status = 200, description = "The queues.", body = Queues))
)]
async fn queues(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let queues = state.read(move |tx| planning::queues(tx, now)).await?;
    Ok(Json(queues))
}

/// Which day.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DayQuery {
    /// The day, `YYYY-MM-DD` (default today).
    day: Option<String>,
    /// Minutes to add to local time to get UTC, as JavaScript's `getTimezoneOffset` gives them,
    /// for days in a fixed zone (default: the organisation's time zone, `serve --time-zone`).
    tz_offset: Option<i64>,
}

impl DayQuery {
    fn day(&self, state: &AppState) -> Result<planning::Day, AppError> {
        Ok(planning::Day::parse(
            self.day.as_deref(),
            self.tz_offset,
            state.time_zone.zone(),
            state.now(),
        )?)
    }
}

/// The day board.
///
/// Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/board",
    tag = "planning",
    params(DayQuery),
    responses((status = 200, description = "Each installer's jobs that day.", body = Board))
)]
async fn board(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    let day = query.day(&state)?;
    let board = state.read(move |tx| planning::board(tx, &day)).await?;
    Ok(Json(board))
}

/// The day's map.
///
/// The day's visits and the jobs still to plan, each where its site's coordinates (or the engineer's arrival) put it, and every installer where their phone last arrived that day at one of those jobs; with the tile server to draw them on, if one is configured. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/map",
    tag = "planning",
    params(DayQuery),
    responses((status = 200, description = "Where the day's jobs and engineers are.", body = DayMap))
)]
async fn day_map(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    let day = query.day(&state)?;
    let tiles = state.map_tiles.as_ref().map(|t| t.template.clone());
    let speed = state.travel;
    let map = state
        .read(move |tx| travel::day_map(tx, &day, tiles, speed))
        .await?;
    Ok(Json(map))
}

/// Rank installers for a job.
///
/// By skills (kind, category, model family), region, load that day, whether they are free at the job's appointment and how far their nearest visit that day is, with the reasons in words. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/suggestions",
    tag = "planning",
    params(("id" = String, Path, description = "The job id."), DayQuery),
    responses((status = 200, description = "Installers, best first, with the reasons.", body = [Suggestion]))
)]
async fn suggestions(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    let day = query.day(&state)?;
    let zone = state.time_zone.clone();
    let ranked = state
        .read(move |tx| planning::suggestions(tx, &id, &day, zone.zone()))
        .await?;
    Ok(Json(ranked))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RemindersQuery {
    /// Only those addressed to the caller or to the caller's role.
    #[serde(default)]
    mine: bool,
}

/// An open reminder with the customer of its job, so a list names people, not job ids.
#[derive(Serialize, ToSchema)]
struct ReminderView {
    #[serde(flatten)]
    reminder: Reminder,
    /// The job's customer ("" when the job is gone).
    customer_name: String,
}

/// Open reminders.
///
/// All of them, or (`mine=true`) those addressed to the caller or the caller's role; each with its job's `customer_name`. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/reminders",
    tag = "reminders",
    params(RemindersQuery),
    responses((status = 200, description = "Open reminders, newest first.", body = [ReminderView]))
)]
async fn reminders(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
    Query(query): Query<RemindersQuery>,
) -> Result<impl IntoResponse, AppError> {
    // Only office users get this far (`ReadJobs`), so there is a role.
    let role = caller.role().map(UserRole::as_str);
    let user = caller.user().to_owned();
    let open = state
        .read(move |tx| {
            let mut open = tx.reminders(true)?;
            if query.mine {
                open.retain(|r| {
                    r.to_user.as_deref() == Some(user.as_str())
                        || (role.is_some() && r.to_role.as_deref() == role)
                });
            }
            let mut customers: HashMap<String, String> = HashMap::new();
            let mut views = Vec::with_capacity(open.len());
            for reminder in open {
                if !customers.contains_key(&reminder.job_id) {
                    let name = tx
                        .job(&reminder.job_id)?
                        .map(|stored| stored.summary.customer_name)
                        .unwrap_or_default();
                    customers.insert(reminder.job_id.clone(), name);
                }
                let customer_name = customers[&reminder.job_id].clone();
                views.push(ReminderView {
                    reminder,
                    customer_name,
                });
            }
            Ok(views)
        })
        .await?;
    Ok(Json(open))
}

/// Acknowledge a reminder.
///
/// Only its recipients acknowledge it: the person it names, or anyone of the role it names (`403 not_recipient` otherwise, with the `recipient`). The first acknowledgement stands and records who. Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/reminders/{id}/ack",
    tag = "reminders",
    params(("id" = u64, Path, description = "The reminder id.")),
    responses((status = 204, description = "Acknowledged."))
)]
async fn acknowledge_reminder(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let id: u64 = id.parse().map_err(|_| {
        AppError::bad_request(
            ErrorCode::InvalidPath,
            format!("`{id}` is not a reminder id"),
        )
    })?;
    let now = state.now();
    let user = caller.user().to_owned();
    let role = caller.role().map(UserRole::as_str);
    state
        .write(move |tx| {
            let reminder = tx
                .reminder(id)?
                .ok_or_else(|| DomainError::not_found(Thing::Reminder, id.to_string()))?;
            let recipient = reminder.to_user.as_deref().or(reminder.to_role.as_deref());
            let addressed = reminder.to_user.as_deref() == Some(user.as_str())
                || (role.is_some() && reminder.to_role.as_deref() == role);
            if !addressed {
                let recipient = recipient.unwrap_or("nobody").to_owned();
                return Err(DomainError::forbidden(
                    ErrorCode::NotRecipient,
                    format!("reminder {id} is for {recipient}: only they can acknowledge it"),
                )
                .with("recipient", recipient));
            }
            Ok(tx.acknowledge_reminder(id, &user, now)?)
        })
        .await?;
    state.changed(Vec::new(), Vec::new());
    Ok(StatusCode::NO_CONTENT)
}

/// What the KPI report covers.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct KpiQuery {
    /// `day`, `week` or `month` (default).
    period: Option<String>,
    /// The first day, `YYYY-MM-DD` in the organisation's time zone (default: 90 days up to
    /// `to`).
    from: Option<String>,
    /// The last day, inclusive (default today).
    to: Option<String>,
    /// Only this region.
    region: Option<String>,
    /// Only this problem category.
    category: Option<String>,
    /// Only this kind of job.
    kind: Option<String>,
    /// Only this engineer's jobs.
    engineer: Option<String>,
}

/// A KPI report: the metrics per period and in total, demand by category and region, the
/// engineers' table with the service star, and the values the filters can take.
#[derive(Serialize, utoipa::ToSchema)]
struct KpiReport {
    period: Period,
    /// The first day's start.
    from: Millis,
    /// The end of the last day.
    to: Millis,
    /// The first day, `YYYY-MM-DD`, in `time_zone`.
    from_day: String,
    /// The last day (inclusive).
    to_day: String,
    /// The organisation's time zone, which the days and periods are counted in.
    time_zone: String,
    #[serde(flatten)]
    data: kpi::KpiData,
    service_star: Option<String>,
    options: KpiOptions,
}

/// The values the report's filters can take.
#[derive(Serialize, utoipa::ToSchema)]
struct KpiOptions {
    regions: Vec<String>,
    categories: Vec<String>,
    engineers: Vec<EngineerOption>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EngineerOption {
    user: String,
    name: String,
}

/// KPI report.
///
/// The KPIs per period and in total, demand by category and region, the engineers' table with the service star, and the values the filters can take. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/kpis",
    tag = "kpis",
    params(KpiQuery),
    responses((status = 200, description = "The report.", body = KpiReport))
)]
async fn kpis(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<KpiQuery>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let period = match nonempty(query.period) {
        Some(p) => Period::parse(&p)?,
        None => Period::Month,
    };
    // Days of the organisation's zone: a call at 07:00 in Shanghai counts on that day there.
    let zone = state.time_zone.zone();
    let out_of_range = |e: jiff::Error| {
        DomainError::invalid_field(
            "to",
            Problem::OutOfRange,
            format!("the day is out of range: {e}"),
        )
    };
    let to_day = match nonempty(query.to) {
        Some(day) => planning::parse_date(&day)?,
        None => planning::local_date(now, zone),
    };
    let from_day = match nonempty(query.from) {
        Some(day) => planning::parse_date(&day)?,
        None => to_day
            .checked_sub(jiff::Span::new().days(89))
            .map_err(out_of_range)?,
    };
    if from_day > to_day {
        return Err(DomainError::invalid_field(
            "from",
            Problem::StartAfterEnd,
            "`from` must be on or before `to`",
        )
        .into());
    }
    let from = planning::midnight(from_day, zone)?;
    let after = to_day.tomorrow().map_err(out_of_range)?;
    let to = planning::midnight(after, zone)?;
    let kind = nonempty(query.kind)
        .map(|k| {
            fieldsync_protocol::job::JobKind::parse(&k)
                .map_err(|e| AppError::bad_request(ErrorCode::InvalidQuery, e.to_string()))
        })
        .transpose()?;
    let filter = KpiFilter {
        from,
        to,
        time_zone: state.time_zone.name().to_owned(),
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
        from_day: from_day.to_string(),
        to_day: to_day.to_string(),
        time_zone: state.time_zone.name().to_owned(),
        data,
        service_star,
        options,
    }))
}

/// The SLA configuration.
///
/// Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/config/sla",
    tag = "config",
    responses((status = 200, description = "The policy in force (the format of `serve --sla`).", body = SlaPolicy))
)]
async fn sla_config(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    Ok(Json(state.sla.as_ref().clone()))
}
