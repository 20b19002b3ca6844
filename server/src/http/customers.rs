//! Customer records as the office finds and keeps them: search as the call taker types, one
//! customer with their jobs, and merging a duplicate into the record it repeats.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::DomainError;
use crate::domain::customers::{self, CustomerView, MAX_RESULTS};
use crate::domain::error::Problem;
use crate::http::error::AppError;
use crate::http::extract::{Authorized, JsonBody, need};
use crate::state::AppState;
use crate::storage::CustomerRecord;

/// The customer routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(find_customers))
        .routes(routes!(get_customer))
        .routes(routes!(merge_customer))
}

/// What to look for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CustomersQuery {
    /// A phone number (matched by its digits, however it was written: `138 0013 8000` finds
    /// `+86 138-0013-8000`), or words that must all appear in the name, e-mail, an address, a
    /// product model or serial, in any case. Empty: the most recently changed customers.
    q: Option<String>,
    /// At most this many (1 to 50; default 20).
    limit: Option<usize>,
}

/// Find customers.
///
/// As the call taker types: by phone number, name, address, product model or serial; the most recently changed first. Merged duplicates are not found. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/customers",
    tag = "customers",
    params(CustomersQuery),
    responses((status = 200, description = "The customers found.", body = [CustomerRecord]))
)]
async fn find_customers(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Query(query): Query<CustomersQuery>,
) -> Result<impl IntoResponse, AppError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(DomainError::invalid_field(
            "limit",
            Problem::InvalidValue,
            format!("a search returns 1 to {MAX_RESULTS} customers, not {limit}"),
        )
        .with("value", limit)
        .into());
    }
    let text = query.q.unwrap_or_default();
    if text.chars().count() > 200 {
        return Err(DomainError::invalid_field(
            "q",
            Problem::TooLong,
            "a search is at most 200 characters",
        )
        .with("max", 200)
        .into());
    }
    let found = state
        .read(move |tx| customers::find(tx, &text, limit))
        .await?;
    Ok(Json(found))
}

/// One customer with their jobs.
///
/// The record (names, phone numbers, sites, products with their warranties) and every job done for them, also those of duplicates merged into it, newest call first. Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(("id" = String, Path, description = "The customer's id.")),
    responses((status = 200, description = "The customer with their jobs.", body = CustomerView))
)]
async fn get_customer(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let view = state.read(move |tx| customers::view(tx, &id)).await?;
    Ok(Json(view))
}

/// Which record a duplicate repeats.
#[derive(Deserialize, ToSchema)]
struct MergeBody {
    /// The id of the record to keep.
    into: String,
}

/// Merge a duplicate customer.
///
/// The customer in the path is a duplicate of `into`: their phone numbers, sites and products join `into`'s record, the duplicate is no longer found, and its jobs count as `into`'s. A record merged already is refused (`409 conflict`, problem `already_merged`). Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/merge",
    tag = "customers",
    params(("id" = String, Path, description = "The duplicate's id.")),
    request_body = MergeBody,
    responses((status = 200, description = "The record kept, with the duplicate's details.", body = CustomerRecord))
)]
async fn merge_customer(
    State(state): State<AppState>,
    _: Authorized<need::EditJobs>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MergeBody>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let kept = state
        .write(move |tx| customers::merge(tx, &id, &body.into, now))
        .await?;
    Ok(Json(kept))
}
