//! Manuals, the case library and the knowledge exchange with phones (`POST /v1/knowledge`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use fieldsync_protocol::knowledge::{
    Case, KnowledgeRequest, KnowledgeResponse, Manual, ManualInput, ManualSummary,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::auth::{Permission, Principal};
use crate::domain::knowledge::{Published, exchange, publish};
use crate::domain::{DomainError, ErrorCode, Refusal};
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes that need a credential.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_manuals, publish_manual))
        .routes(routes!(get_manual))
        .routes(routes!(knowledge_exchange))
        .routes(routes!(list_cases))
}

/// Published manuals.
///
/// Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/manuals",
    tag = "knowledge",
    responses((status = 200, description = "Every published version, newest first.", body = [ManualSummary]))
)]
async fn list_manuals(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
) -> Result<impl IntoResponse, AppError> {
    let manuals = state.read(|tx| Ok(tx.manual_summaries()?)).await?;
    Ok(Json(manuals))
}

/// One manual version.
///
/// Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/manuals/{model}/{version}",
    tag = "knowledge",
    params(
        ("model" = String, Path, description = "The product model."),
        ("version" = u32, Path, description = "The version.")
    ),
    responses((status = 200, description = "The manual version.", body = Manual))
)]
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
                    ErrorCode::UnknownManual,
                    format!("there is no manual for `{model}` version {version}"),
                )
                .with("model", model.as_str())
                .with("version", version)
            })
        })
        .await?;
    Ok(Json(manual))
}

/// Publish a manual version.
///
/// Its attachments must be uploaded first (`409 missing_blob`); the version must grow (`409 stale_version`). Permission: `PublishManuals`.
#[utoipa::path(
    post,
    path = "/v1/manuals",
    tag = "knowledge",
    request_body = ManualInput,
    responses((status = 201, description = "Published.", body = Published))
)]
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

/// A phone's knowledge sync.
///
/// Enrolled phones only (permission `Sync`). The contract is docs/knowledge-and-media.md.
#[utoipa::path(
    post,
    path = "/v1/knowledge",
    tag = "knowledge",
    request_body = KnowledgeRequest,
    responses((status = 200, description = "Manual deltas, cases and tips for the phone's products.", body = KnowledgeResponse))
)]
async fn knowledge_exchange(
    State(state): State<AppState>,
    caller: Authorized<need::Sync>,
    JsonBody(request): JsonBody<KnowledgeRequest>,
) -> Result<impl IntoResponse, AppError> {
    if let Principal::Office { role, .. } = &caller.principal {
        return Err(AppError(
            DomainError::forbidden(
                ErrorCode::Forbidden,
                "the knowledge exchange is for enrolled phones",
            )
            .with("role", role.as_str())
            .with("permission", Permission::Sync.as_str()),
        ));
    }
    let response = state
        .blocking(move |state| exchange(state.storage.as_ref(), caller.user(), &request))
        .await?;
    Ok(Json(response))
}

/// Which cases.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CaseQuery {
    /// Only this product model's.
    model: Option<String>,
}

/// The case library.
///
/// Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "knowledge",
    params(CaseQuery),
    responses((status = 200, description = "Cases in library order, at most 1,000.", body = [Case]))
)]
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
