//! Manuals, the case library and the knowledge exchange with phones (`POST /v1/knowledge`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldsync_protocol::knowledge::{KnowledgeRequest, ManualInput};
use serde::Deserialize;

use crate::domain::auth::Principal;
use crate::domain::knowledge::{exchange, publish};
use crate::domain::{DomainError, Refusal};
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need};
use crate::state::AppState;

/// The routes that need a credential.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/manuals", get(list_manuals).post(publish_manual))
        .route("/v1/manuals/{model}/{version}", get(get_manual))
        .route("/v1/knowledge", post(knowledge_exchange))
        .route("/v1/cases", get(list_cases))
}

async fn list_manuals(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let manuals = state.read(|tx| Ok(tx.manual_summaries()?)).await?;
    Ok(Json(manuals))
}

async fn get_manual(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path((model, version)): Path<(String, u32)>,
) -> Result<impl IntoResponse, AppError> {
    let manual = state
        .read(move |tx| {
            tx.manual(&model, Some(version))?.ok_or_else(|| {
                DomainError::refused(
                    Refusal::NotFound,
                    "unknown_manual",
                    format!("there is no manual for `{model}` version {version}"),
                )
            })
        })
        .await?;
    Ok(Json(manual))
}

async fn publish_manual(
    State(state): State<AppState>,
    caller: Authorized<need::PublishManuals>,
    JsonBody(input): JsonBody<ManualInput>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let published = state
        .write(move |tx| publish(tx, input, caller.user(), now))
        .await?;
    Ok((StatusCode::CREATED, Json(published)))
}

async fn knowledge_exchange(
    State(state): State<AppState>,
    caller: Authorized<need::Sync>,
    JsonBody(request): JsonBody<KnowledgeRequest>,
) -> Result<impl IntoResponse, AppError> {
    if !matches!(caller.principal, Principal::Device(_)) {
        return Err(AppError::forbidden(
            "forbidden",
            "the knowledge exchange is for enrolled phones",
        ));
    }
    let response = state
        .blocking(move |state| exchange(state.storage.as_ref(), caller.user(), &request))
        .await?;
    Ok(Json(response))
}

#[derive(Deserialize)]
struct CaseQuery {
    model: Option<String>,
}

async fn list_cases(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<CaseQuery>,
) -> Result<impl IntoResponse, AppError> {
    let cases = state
        .read(move |tx| Ok(tx.cases(query.model.as_deref(), 0, 1_000, false)?))
        .await?;
    Ok(Json(cases))
}
