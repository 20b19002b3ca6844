//! Jobs as the office sees and changes them: the list, one job's view and audit trail, call
//! intake, assignment, appointments and status moves, and the audit trail across jobs.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_protocol::job::{Appointment, JobSummary, NewJob};
use fieldsync_protocol::rules::Status;
use serde::Deserialize;

use crate::domain::DomainError;
use crate::domain::dispatch::Dispatch;
use crate::domain::jobs::Committed;
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need};
use crate::state::AppState;
use crate::storage::AuditKind;

/// The job routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/assign", post(assign_job))
        .route("/v1/jobs/{id}/appointment", post(set_appointment))
        .route("/v1/jobs/{id}/status", post(move_status))
        .route("/v1/jobs/{id}/audit", get(job_audit))
        .route("/v1/audit", get(audit))
}

async fn list_jobs(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let jobs = state
        .blocking(move |state| state.dispatch(caller.user()).list())
        .await?;
    Ok(Json(jobs))
}

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

async fn job_audit(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let entries = state
        .read(move |tx| {
            if tx.job(&id)?.is_none() {
                return Err(DomainError::NotFound(format!("there is no job `{id}`")));
            }
            Ok(tx.audit(Some(&id), None, usize::MAX >> 1)?)
        })
        .await?;
    Ok(Json(entries))
}

#[derive(Deserialize)]
struct AuditQuery {
    kind: Option<String>,
    limit: Option<usize>,
}

/// The audit trail across jobs, newest `limit` entries (default 500), optionally of one kind:
/// `violation`, `flag`, `purge`, …
async fn audit(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<AuditQuery>,
) -> Result<impl IntoResponse, AppError> {
    let kind = match query.kind.as_deref() {
        None => None,
        Some(name) => Some(AuditKind::parse(name).ok_or_else(|| {
            AppError::bad_request("invalid_query", format!("unknown audit kind `{name}`"))
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

#[derive(Deserialize)]
struct AssignBody {
    assignee: Option<String>,
}

async fn assign_job(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssignBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.assign(&id, body.assignee.as_deref(), now)
    })
    .await
}

async fn set_appointment(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(window): JsonBody<Appointment>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.set_appointment(&id, window, now)
    })
    .await
}

#[derive(Deserialize)]
struct StatusBody {
    to: String,
}

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
                    .ok_or_else(|| DomainError::NotFound(format!("there is no job `{id}`")))?;
                let job =
                    crate::domain::jobs::read(&id, &crate::domain::jobs::load(&id, &stored.doc)?)?;
                crate::domain::media::require_media_received(tx, &job)
            })
            .await?;
    }
    let now = state.now();
    edit(&state, caller.principal.user().to_owned(), move |d| {
        d.move_status(&id, to, now)
    })
    .await
}
