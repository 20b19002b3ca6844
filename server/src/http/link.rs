//! The customer's link: their page (`/r/{token}`, no sign-in, the link is the credential) and
//! what it calls: the page's data, a rating of the service, a complaint. What the customer
//! sends is checked, limited per network, and lands in the job as a server change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fieldsync_protocol::job::ComplaintKind;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::DomainError;
use crate::domain::auth::{network_of, secret_hash};
use crate::domain::customer_link::{self, CUSTOMER, CustomerPage};
use crate::domain::media::customer_link;
use crate::http::console::asset;
use crate::http::error::AppError;
use crate::http::extract::{ClientAddr, JsonBody};
use crate::state::AppState;

/// The customer's page: a shell that loads its module.
const CUSTOMER_HTML: &str = include_str!("../../console/customer.html");

/// The customer's routes: public, the token is the credential.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customer_page))
        .routes(routes!(page_data))
        .routes(routes!(rate))
        .routes(routes!(complain))
}

/// The customer's page.
///
/// Public: a small page in Chinese or English (as the browser prefers) that shows the job, offers the signed report, and takes a rating and a complaint. Sent to the customer as `page` by `POST /v1/jobs/{id}/report-link`.
#[utoipa::path(
    get,
    path = "/r/{token}",
    tag = "reports",
    params(("token" = String, Path, description = "The link's secret.")),
    responses((status = 200, description = "The page.", content_type = "text/html"))
)]
async fn customer_page(Path(_token): Path<String>) -> Response {
    let mut page = asset("text/html; charset=utf-8", CUSTOMER_HTML);
    // The address holds the credential: never send it on as a referrer.
    page.headers_mut().insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    page
}

/// What the customer's page shows.
///
/// Public: the link is the credential, until it expires (`404 unknown_report`).
#[utoipa::path(
    get,
    path = "/v1/reports/{token}/page",
    tag = "reports",
    params(("token" = String, Path, description = "The link's secret.")),
    responses((status = 200, description = "The job as the customer sees it.", body = CustomerPage))
)]
async fn page_data(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let page = state
        .blocking(move |state| {
            customer_link::page(state.storage.as_ref(), state.blobs.as_ref(), &token, now)
        })
        .await?;
    Ok(Json(page))
}

/// The customer's rating.
#[derive(Deserialize, ToSchema)]
struct RatingBody {
    /// 1 to 5.
    score: u8,
    /// What the customer wants to say (at most 2,000 characters).
    #[serde(default)]
    comment: String,
}

/// Rate the service.
///
/// Public: the link is the credential. A score of 1 to 5 and a comment; a later rating replaces the earlier on the page and in the KPIs' `customer_satisfaction`, and every one stays in the job (at most 5 per job: `409 conflict`, problem `limit_reached`). At most 20 ratings and complaints an hour through one link from one network (`429 too_many_requests`).
#[utoipa::path(
    post,
    path = "/v1/reports/{token}/rating",
    tag = "reports",
    params(("token" = String, Path, description = "The link's secret.")),
    request_body = RatingBody,
    responses((status = 200, description = "Recorded; the page as it is now.", body = CustomerPage))
)]
async fn rate(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    Path(token): Path<String>,
    JsonBody(body): JsonBody<RatingBody>,
) -> Result<impl IntoResponse, AppError> {
    let page = through_link(&state, token, from, move |state, job_id, now| {
        let (summary, committed) =
            state
                .dispatch(CUSTOMER)
                .record_survey(job_id, body.score, &body.comment, now)?;
        state.changed(committed.nudge, vec![summary.id]);
        Ok(())
    })
    .await?;
    Ok(Json(page))
}

/// The customer's complaint.
#[derive(Deserialize, ToSchema)]
struct ComplaintBody {
    /// What it is about.
    kind: ComplaintKind,
    /// What happened (1 to 2,000 characters).
    description: String,
}

/// Raise a complaint.
///
/// Public: the link is the credential. Opens a complaint job (the same customer, site and product; high priority; the complaint clocks of the SLA policy, so it climbs to the supervisor when unresolved) that the job complained about lists (at most 5 per job: `409 conflict`, problem `limit_reached`). At most 20 ratings and complaints an hour through one link from one network (`429 too_many_requests`).
#[utoipa::path(
    post,
    path = "/v1/reports/{token}/complaints",
    tag = "reports",
    params(("token" = String, Path, description = "The link's secret.")),
    request_body = ComplaintBody,
    responses((status = 201, description = "Raised; the page as it is now.", body = CustomerPage))
)]
async fn complain(
    State(state): State<AppState>,
    ClientAddr(from): ClientAddr,
    Path(token): Path<String>,
    JsonBody(body): JsonBody<ComplaintBody>,
) -> Result<impl IntoResponse, AppError> {
    let page = through_link(&state, token, from, move |state, job_id, now| {
        let (complaint, opened, noted) =
            state
                .dispatch(CUSTOMER)
                .raise_complaint(job_id, body.kind, &body.description, now)?;
        state.changed(opened.nudge, vec![complaint.id]);
        state.changed(noted.nudge, vec![job_id.to_owned()]);
        Ok(())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(page)))
}

/// Runs `send` (what the customer sends about the job their link names) within the link's
/// limit, and answers with the page as it is after it.
async fn through_link(
    state: &AppState,
    token: String,
    from: Option<std::net::IpAddr>,
    send: impl FnOnce(&AppState, &str, fieldsync_protocol::Millis) -> Result<(), DomainError>
    + Send
    + 'static,
) -> Result<CustomerPage, DomainError> {
    limit(state, &token, from)?;
    let now = state.now();
    state
        .blocking(move |state| {
            let link = customer_link(state.storage.as_ref(), &token, now)?;
            send(state, &link.job_id, now)?;
            customer_link::page(state.storage.as_ref(), state.blobs.as_ref(), &token, now)
        })
        .await
}

/// Takes one send for this link from the caller's network: customers behind one carrier
/// address do not share a budget, and one link cannot be hammered from anywhere.
fn limit(state: &AppState, token: &str, from: Option<std::net::IpAddr>) -> Result<(), DomainError> {
    let network = from
        .map(network_of)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let link: String = secret_hash(token)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    state
        .link_limits
        .send(&format!("{link}@{network}"))
        .map_err(DomainError::TooManyRequests)
}
