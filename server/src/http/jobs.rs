//! Jobs as the office sees and changes them: the list, one job's view and audit trail, call
//! intake, assignment, appointments and status moves, and the audit trail across jobs.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{Appointment, ComplaintHandling, JobDetails, JobSummary, NewJob};
use fieldsync_protocol::rules::Status;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::domain::DomainError;
use crate::domain::dispatch::{Dispatch, JobView, ReturnVisitCall};
use crate::domain::error::{ErrorCode, Problem, Thing};
use crate::domain::jobs::Committed;
use crate::domain::notify::{self, NotificationView};
use crate::domain::planning::{self, JobOrder, JobSearch};
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need};
use crate::state::AppState;
use crate::storage::{AuditEntry, AuditKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The job routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job, correct_job))
        .routes(routes!(assign_job))
        .routes(routes!(set_appointment))
        .routes(routes!(move_status))
        .routes(routes!(record_return_visit))
        .routes(routes!(escalate_job))
        .routes(routes!(answer_help))
        .routes(routes!(handle_complaint))
        .routes(routes!(job_audit))
        .routes(routes!(job_notifications))
        .routes(routes!(audit))
}

/// What to look for in the job list; without any of these, every job, oldest call first.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct JobsQuery {
    /// Words that must all appear, in any case, in the customer's name, the job id, the
    /// engineer's login or name, the region or the kind (`repair`).
    q: Option<String>,
    /// Statuses, comma-separated (`new,scheduled`), or `open` for every status before the
    /// visit ended.
    status: Option<String>,
    /// `call` (newest call first, the default), `appointment`, `deadline` or `customer`.
    sort: Option<String>,
    /// At most this many (1 to 1,000; default 200). `X-Total-Count` says how many matched.
    limit: Option<usize>,
}

/// The most jobs one search returns.
const MAX_SEARCH_RESULTS: usize = 1_000;

/// List or search jobs.
///
/// Without parameters every job's summary, oldest call first; with any, the jobs that match, in the order asked, and `X-Total-Count` with how many matched in all. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(JobsQuery),
    responses((status = 200, description = "The jobs' summaries.", body = [JobSummary]))
)]
async fn list_jobs(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
    Query(query): Query<JobsQuery>,
) -> Result<impl IntoResponse, AppError> {
    let searching = query.q.is_some()
        || query.status.is_some()
        || query.sort.is_some()
        || query.limit.is_some();
    if !searching {
        let jobs = state
            .blocking(move |state| state.dispatch(caller.user()).list())
            .await?;
        let total = jobs.len();
        return Ok(([(TOTAL_COUNT, total.to_string())], Json(jobs)));
    }
    let search = job_search(query)?;
    let (jobs, total) = state
        .read(move |tx| planning::find_jobs(tx, &search))
        .await?;
    Ok(([(TOTAL_COUNT, total.to_string())], Json(jobs)))
}

/// The header that says how many jobs matched a search in all.
const TOTAL_COUNT: &str = "x-total-count";

/// Reads a job search from the query, naming what is wrong.
fn job_search(query: JobsQuery) -> Result<JobSearch, DomainError> {
    let invalid = |field: &'static str, value: &str| {
        DomainError::invalid_field(
            field,
            Problem::InvalidValue,
            format!("`{value}` is not a {field} of the job list"),
        )
        .with("value", value)
    };
    let statuses = match query.status.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some("open") => Status::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect(),
        Some(list) => list
            .split(',')
            .map(|name| Status::parse(name.trim()).map_err(|_| invalid("status", name)))
            .collect::<Result<_, _>>()?,
    };
    let order = match query.sort.as_deref() {
        None => JobOrder::default(),
        Some(name) => JobOrder::parse(name).ok_or_else(|| invalid("sort", name))?,
    };
    let limit = query.limit.unwrap_or(200);
    if !(1..=MAX_SEARCH_RESULTS).contains(&limit) {
        return Err(DomainError::invalid_field(
            "limit",
            Problem::InvalidValue,
            format!("a search returns 1 to {MAX_SEARCH_RESULTS} jobs, not {limit}"),
        )
        .with("value", limit));
    }
    let text = query.q.unwrap_or_default();
    if text.chars().count() > 200 {
        return Err(DomainError::invalid_field(
            "q",
            Problem::TooLong,
            "a search is at most 200 characters",
        )
        .with("max", 200));
    }
    Ok(JobSearch {
        text,
        statuses,
        order,
        limit,
    })
}

/// One job in full.
///
/// The job with its SLA clocks, reminders, flags, service facts, media and history. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    responses((status = 200, description = "The job with its SLA clocks, reminders, flags, facts, media and history.", body = JobView))
)]
async fn get_job(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let view = state
        .blocking(move |state| state.dispatch(caller.user()).get(&id, now))
        .await?;
    Ok(Json(view))
}

/// A correction of what was recorded at intake.
#[derive(Deserialize, ToSchema)]
struct CorrectionBody {
    /// Why (optional, at most 500 characters); the history keeps it beside each field's old
    /// and new value.
    #[serde(default)]
    reason: Option<String>,
    /// The fields to correct, in the shape of the job's details, as a JSON merge patch
    /// (RFC 7396): `{"site": {"address": "12 Harbour Road"}, "customer": {"tier": "vip"}}`.
    #[serde(flatten)]
    #[schema(value_type = JobDetails)]
    details: serde_json::Map<String, serde_json::Value>,
}

/// Correct a job's details.
///
/// Changes what was recorded at intake: `kind`, `priority`, `customer`, `site`, `product`, `problem`, given as a JSON merge patch of them (an object merges key by key, `null` empties a field), with an optional `reason`. Only fields whose values change are written, each as its own value in one server change, so a phone's offline work merges with it. The changed fields are checked as a call is (`400 invalid_field`, every problem in `params.errors`); anything else (the assignee, the notes, a misspelt key) is refused with the problem `not_correctable`, naming it in `value`. A new tier or kind sets the SLA deadlines the policy gives it, counted from the call. The history records every field's old and new value. Permission: `EditJobs`.
#[utoipa::path(
    patch,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    request_body = CorrectionBody,
    responses((status = 200, description = "Corrected (or already so).", body = JobSummary))
)]
async fn correct_job(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CorrectionBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.correct(&id, &body.details, body.reason.as_deref(), now)
    })
    .await
}

/// One job's audit trail.
///
/// Every accepted change, compensation, violation, scope move, purge order and flag. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/audit",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    responses((status = 200, description = "The job's audit trail, oldest first.", body = [AuditEntry]))
)]
async fn job_audit(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let entries = state
        .read(move |tx| {
            if tx.job(&id)?.is_none() {
                return Err(DomainError::not_found(Thing::Job, id.clone()));
            }
            Ok(tx.audit(Some(&id), None, usize::MAX >> 1)?)
        })
        .await?;
    Ok(Json(entries))
}

/// What the customer was told about a job.
///
/// Every notification about the job (an appointment booked or moved, the engineer on the way, the work completed with the customer's link, a survey after an unanswered return-visit call, a complaint's answer), oldest first, each with its deliveries: one per configured channel that reaches the customer (`email`, `webhook`, `log`), with its status (`pending`, `delivered`, `failed`, `expired`), attempts, last error and next attempt. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/notifications",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    responses((status = 200, description = "The job's notifications, oldest first.", body = [NotificationView]))
)]
async fn job_notifications(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let views = state
        .read(move |tx| {
            if tx.job(&id)?.is_none() {
                return Err(DomainError::not_found(Thing::Job, id.clone()));
            }
            notify::of_job(tx, &id)
        })
        .await?;
    Ok(Json(views))
}

/// Which audit entries.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only entries of this kind: `change`, `compensation`, `violation`, `enter`, `leave`,
    /// `purge` or `flag`.
    kind: Option<String>,
    /// How many of the newest entries (default 500, at most 10,000).
    limit: Option<usize>,
}

/// The audit trail across jobs.
///
/// The newest `limit` entries (default 500, at most 10,000), optionally of one kind. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "jobs",
    params(AuditQuery),
    responses((status = 200, description = "The newest entries, oldest first.", body = [AuditEntry]))
)]
async fn audit(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, AppError> {
    let kind = match query.kind.as_deref() {
        None => None,
        Some(name) => Some(AuditKind::parse(name).ok_or_else(|| {
            AppError::bad_request(
                ErrorCode::InvalidQuery,
                format!("unknown audit kind `{name}`"),
            )
        })?),
    };
    let limit = query.limit.unwrap_or(500).min(10_000);
    let entries = state
        .read(move |tx| Ok(tx.audit(None, kind, limit)?))
        .await?;
    Ok(Json(entries))
}

/// Runs a dispatch edit as the signed-in office user and tells listeners what changed.
async fn edit(
    state: &AppState,
    user: String,
    f: impl FnOnce(&Dispatch<'_>) -> Result<(JobSummary, Committed), DomainError> + Send + 'static,
) -> Result<Json<JobSummary>, AppError> {
    let (summary, committed) = state
        .blocking(move |state| f(&state.dispatch(&user)))
        .await?;
    state.changed(committed.nudge, vec![summary.id.clone()]);
    Ok(Json(summary))
}

/// Open a job from a call.
///
/// Checks the call (a wrong field is `400 invalid_field` naming it), fills the id, the call time, the SLA deadlines of the policy and the kind's checklist. Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    request_body = NewJob,
    responses((status = 201, description = "Opened.", body = JobSummary))
)]
async fn create_job(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    JsonBody(new): JsonBody<NewJob>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let summary = edit(&state, caller.principal.user().to_owned(), move |d| {
        d.create(new, now)
    })
    .await?;
    Ok((StatusCode::CREATED, summary))
}

/// Whom to assign the job to, and optionally when.
#[derive(Deserialize, ToSchema)]
struct AssignBody {
    /// The installer's user id; `null` unassigns.
    assignee: Option<String>,
    /// The appointment window, set in the same change (as a job dropped on the board at a
    /// time is).
    #[serde(default)]
    appointment: Option<Appointment>,
    /// Why the visit is booked in spite of its planning conflicts (another visit at the same
    /// time, the engineer away, off or outside their hours, no time to travel; at most 500
    /// characters); without it such a booking is refused.
    #[serde(default)]
    override_reason: Option<String>,
}

/// Assign, reassign or unassign.
///
/// `assignee: null` unassigns. A visit is refused with `409 conflict` unless `override_reason` says why (the job's history keeps the reason and what it overrode) when it overlaps another of the engineer's not yet ended (problem `double_booked`, naming the other job: `job`, `customer`, `start`, `end`), falls on their time off (`time_off`: `from`, `to`), on a weekday they do not work (`day_off`) or outside the day's hours (`outside_working_hours`: `shift_start`, `shift_end`), or leaves too little time to travel from the visit before it or to the one after it (`no_travel_time`: the other job, `km`, `needed` and `free` minutes, `before`). The answer names the first; `conflicts` lists all of them, each with its `problem` and parameters. Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/assign",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    request_body = AssignBody,
    responses((status = 200, description = "Assigned (or unassigned).", body = JobSummary))
)]
async fn assign_job(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.assign(
            &id,
            body.assignee.as_deref(),
            body.appointment,
            body.override_reason.as_deref(),
            now,
        )
    })
    .await
}

/// The appointment window.
#[derive(Deserialize, ToSchema)]
struct AppointmentBody {
    /// Window start (ms since the Unix epoch).
    start: Millis,
    /// Window end (ms since the Unix epoch).
    end: Millis,
    /// Why the visit is booked in spite of its planning conflicts (another visit at the same
    /// time, the engineer away, off or outside their hours, no time to travel; at most 500
    /// characters); without it such a booking is refused.
    #[serde(default)]
    override_reason: Option<String>,
}

/// Set the appointment window.
///
/// A window with a planning conflict for the job's engineer (another visit, time off, a day off, hours, travel) is refused as `POST /v1/jobs/{id}/assign` describes, unless `override_reason` says why. Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/appointment",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    request_body = AppointmentBody,
    responses((status = 200, description = "The appointment is set.", body = JobSummary))
)]
async fn set_appointment(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AppointmentBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let window = Appointment {
        start: body.start,
        end: body.end,
    };
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.set_appointment(&id, window, body.override_reason.as_deref(), now)
    })
    .await
}

/// Where to move the status.
#[derive(Deserialize, ToSchema)]
struct StatusBody {
    /// The new status, e.g. `scheduled`, `cancelled`, `closed`.
    to: String,
    /// Why (at most 500 characters): required to cancel a job or to reopen one (move it back
    /// from `completed`, `incomplete`, `cancelled` or `closed`); the job's history keeps it.
    #[serde(default)]
    reason: Option<String>,
}

/// Move the status.
///
/// Dispatch may move a job back. Cancelling and reopening need a `reason` (`400 invalid_field`, field `reason`, problem `required`); a reopened job keeps its engineer and visit, and its history names the planning conflicts that visit now has (booked over with the reopening's reason). Only a `completed` or `incomplete` job can be closed (`400 invalid_edit` with the problem `transition_not_allowed` otherwise), and only once the server holds every photo, the signature and the report (`409 media_missing`). Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/status",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    request_body = StatusBody,
    responses((status = 200, description = "Moved.", body = JobSummary))
)]
async fn move_status(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<impl IntoResponse, AppError> {
    let to = Status::parse(&body.to)?;
    if to == Status::Closed {
        let id = id.clone();
        state
            .read(move |tx| {
                let stored = tx
                    .job(&id)?
                    .ok_or_else(|| DomainError::not_found(Thing::Job, id.clone()))?;
                // A job that was never worked is refused for that, by the move itself.
                if !matches!(
                    stored.summary.status,
                    Status::Completed | Status::Incomplete
                ) {
                    return Ok(());
                }
                let job = crate::domain::jobs::read_stored(tx, &id, &stored)?;
                crate::domain::media::require_media_received(tx, &job)
            })
            .await?;
    }
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.move_status(&id, to, body.reason.as_deref(), now)
    })
    .await
}

/// Record a return-visit call.
///
/// Customer service's call (回访) after a job was completed: `outcome` (`reached`, `not_reached`, `call_again` with `call_again_at`), the customer's `score` (1 to 5, only when reached) and `comment`. A reached call stops the job's return-visit clock, and its score counts in the KPIs' `customer_satisfaction`, apart from the rating given on the installer's phone. A job not completed is refused (`409 conflict`, problem `not_completed`); bad values with `400 invalid_field`, every problem in `params.errors`. Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/return-visits",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    request_body = ReturnVisitCall,
    responses((status = 200, description = "Recorded.", body = JobSummary))
)]
async fn record_return_visit(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(call): JsonBody<ReturnVisitCall>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.record_return_visit(&id, call, now)
    })
    .await
}

/// An escalation by hand.
#[derive(Deserialize, ToSchema)]
struct EscalateBody {
    /// 2 (the engineering supervisor) or 3 (the head of engineering).
    ring: u8,
    /// Why (required, at most 500 characters); the history keeps it and the reminder says it.
    #[serde(default)]
    reason: Option<String>,
}

/// Escalate a job by hand.
///
/// Raises the job to ring 2 or 3 (never lowers it: `400 invalid_field`, `ring`) and reminds that ring (the supervisor or the head of engineering), once per job and ring, with the `reason` (required). Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/escalate",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id.")),
    request_body = EscalateBody,
    responses((status = 200, description = "Escalated.", body = JobSummary))
)]
async fn escalate_job(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EscalateBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let user = caller.principal.user().to_owned();
    let (summary, committed, reminder) = state
        .blocking(move |state| {
            state
                .dispatch(&user)
                .escalate_by_hand(&id, body.ring, body.reason.as_deref(), now)
        })
        .await?;
    state.changed(committed.nudge, vec![summary.id.clone()]);
    if let Some(reminder) = reminder {
        state.reminded(reminder);
    }
    Ok(Json(summary))
}

/// The office's answer to a help request.
#[derive(Deserialize, ToSchema)]
struct HelpAnswerBody {
    /// What the installer should do (1 to 2,000 characters).
    answer: String,
}

/// Answer a help request.
///
/// The answer to the field's help request `index` (0 for the first the job received) goes into the job, and so reaches the installer's phone with its next sync. An index the job lacks is `404 not_found` (`thing` `help_request`). Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/help/{index}/answer",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "The job id."),
        ("index" = usize, Path, description = "The help request's position, from 0."),
    ),
    request_body = HelpAnswerBody,
    responses((status = 200, description = "Answered.", body = JobSummary))
)]
async fn answer_help(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path((id, index)): Path<(String, usize)>,
    JsonBody(body): JsonBody<HelpAnswerBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.answer_help(&id, index, &body.answer, now)
    })
    .await
}

/// Handle a complaint.
///
/// On a complaint job (else `400 invalid_field`, `kind`), records only what the body gives: `kind`, `severity` (`normal`, `serious`, `critical`), `owner` (an office user), `answer` (what the customer was told: timed now, it stops the complaint's feedback clock), `outcome` (`resolved`, `compensated`, `refund`, `return_or_exchange`, `rejected`, which needs `outcome_note`) and `outcome_note`. Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/complaint",
    tag = "jobs",
    params(("id" = String, Path, description = "The complaint job's id.")),
    request_body = ComplaintHandling,
    responses((status = 200, description = "Recorded.", body = JobSummary))
)]
async fn handle_complaint(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(handling): JsonBody<ComplaintHandling>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.handle_complaint(&id, &handling, now)
    })
    .await
}
