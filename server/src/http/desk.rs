//! The dispatch desk: queues, the day board, engineer suggestions, reminders, the KPI report
//! and the SLA policy in force.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};

use crate::domain::DomainError;
use crate::domain::auth::UserRole;
use crate::domain::kpi::{self, KpiFilter, Period};
use crate::domain::planning;
use crate::http::error::AppError;
use crate::http::extract::{Authorized, need};
use crate::state::AppState;

/// The desk's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/queues", get(queues))
        .route("/v1/board", get(board))
        .route("/v1/jobs/{id}/suggestions", get(suggestions))
        .route("/v1/reminders", get(reminders))
        .route("/v1/reminders/{id}/ack", post(acknowledge_reminder))
        .route("/v1/kpis", get(kpis))
        .route("/v1/config/sla", get(sla_config))
}

async fn queues(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let queues = state.read(move |tx| planning::queues(tx, now)).await?;
    Ok(Json(queues))
}

#[derive(Deserialize)]
struct DayQuery {
    day: Option<String>,
    tz_offset: Option<i64>,
}

impl DayQuery {
    fn day(&self, now: Millis) -> Result<planning::Day, AppError> {
        Ok(planning::Day::parse(
            self.day.as_deref(),
            self.tz_offset,
            now,
        )?)
    }
}

async fn board(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    let day = query.day(state.now())?;
    let board = state.read(move |tx| planning::board(tx, &day)).await?;
    Ok(Json(board))
}

async fn suggestions(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
    Query(query): Query<DayQuery>,
) -> Result<impl IntoResponse, AppError> {
    let day = query.day(state.now())?;
    let ranked = state
        .read(move |tx| planning::suggestions(tx, &id, &day))
        .await?;
    Ok(Json(ranked))
}

#[derive(Deserialize)]
struct RemindersQuery {
    /// Only those addressed to the caller or to the caller's role.
    #[serde(default)]
    mine: bool,
}

/// The open reminders, newest first: all of them, or (`?mine=true`) the caller's inbox.
async fn reminders(
    State(state): State<AppState>,
    caller: Authorized<need::ReadJobs>,
    Query(query): Query<RemindersQuery>,
) -> Result<impl IntoResponse, AppError> {
    let mut open = state.read(|tx| Ok(tx.reminders(true)?)).await?;
    if query.mine {
        // Only office users get this far (`ReadJobs`), so there is a role.
        let role = caller.role().map(UserRole::as_str);
        open.retain(|r| {
            r.to_user.as_deref() == Some(caller.user())
                || (role.is_some() && r.to_role.as_deref() == role)
        });
    }
    Ok(Json(open))
}

async fn acknowledge_reminder(
    State(state): State<AppState>,
    _: Authorized<need::EditJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let id: u64 = id.parse().map_err(|_| {
        AppError::bad_request("invalid_path", format!("`{id}` is not a reminder id"))
    })?;
    let now = state.now();
    let found = state
        .write(move |tx| Ok(tx.acknowledge_reminder(id, now)?))
        .await?;
    if !found {
        return Err(DomainError::NotFound(format!("there is no reminder {id}")).into());
    }
    state.changed(Vec::new(), Vec::new());
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct KpiQuery {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    region: Option<String>,
    category: Option<String>,
    kind: Option<String>,
    engineer: Option<String>,
}

/// A KPI report: the metrics per period and in total, demand by category and region, the
/// engineers' table with the service star, and the values the filters can take.
#[derive(Serialize)]
struct KpiReport {
    period: Period,
    from: Millis,
    to: Millis,
    #[serde(flatten)]
    data: kpi::KpiData,
    service_star: Option<String>,
    options: KpiOptions,
}

/// The values the report's filters can take.
#[derive(Serialize)]
struct KpiOptions {
    regions: Vec<String>,
    categories: Vec<String>,
    engineers: Vec<EngineerOption>,
}

#[derive(Serialize)]
struct EngineerOption {
    user: String,
    name: String,
}

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
    let to = match nonempty(query.to) {
        Some(day) => planning::parse_day(&day)? + planning::DAY,
        None => now - now.rem_euclid(planning::DAY) + planning::DAY,
    };
    let from = match nonempty(query.from) {
        Some(day) => planning::parse_day(&day)?,
        None => to - 90 * planning::DAY,
    };
    if from >= to {
        return Err(DomainError::invalid_field("from", "`from` must be before `to`").into());
    }
    let kind = nonempty(query.kind)
        .map(|k| {
            fieldsync_protocol::job::JobKind::parse(&k)
                .map_err(|e| AppError::bad_request("invalid_query", e.to_string()))
        })
        .transpose()?;
    let filter = KpiFilter {
        from,
        to,
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
        data,
        service_star,
        options,
    }))
}

async fn sla_config(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    Ok(Json(state.sla.as_ref().clone()))
}
