//! Blob bytes over HTTP: resumable, content-addressed uploads (`PUT /v1/blobs/{sha256}` with
//! a whole blob or a `Content-Range` part, `GET /v1/blobs/{sha256}/upload` for the progress),
//! streamed downloads, and the signed service report for dispatch and for the customer's link.
//! What is accepted, recorded and linked is decided in [`crate::domain::media`].

use std::io::Read;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldsync_protocol::Millis;
use fieldsync_protocol::hex;
use fieldsync_protocol::knowledge::{UploadStatus, check_mime};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio_stream::StreamExt;
use utoipa::{IntoParams, ToSchema};

use crate::domain::DomainError;
use crate::domain::auth::Principal;
use crate::domain::error::{ErrorCode, Problem};
use crate::domain::media::{
    self, Part, UploadGuard, UploadLocks, checked_sha256, complete, record, unknown_blob,
};
use crate::http::error::AppError;
use crate::http::extract::{Authorized, need};
use crate::state::limits::DeviceLimits;
use crate::state::{AppState, metrics};
use crate::storage::blobs::{BlobError, BlobStore};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Staged bytes are written to the blob store in pieces of at most this size.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// How long one blob request may take: a 4 MiB part over a slow uplink (about 56 kbit/s) or a
/// whole 64 MiB download over a fair one. A part cut off by it is kept up to where it stopped.
pub const BLOB_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Blob bytes in and out: their own, longer time limit.
pub fn transfer_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_blob, put_blob))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            BLOB_REQUEST_TIMEOUT,
        ))
}

/// The routes that need a credential (besides [`transfer_routes`]).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_status))
        .routes(routes!(job_report))
        .routes(routes!(create_report_link))
}

/// The routes anyone may call: a customer's report link.
pub fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(linked_report))
}

/// A phone uploads its job's media; the office uploads manual attachments.
type Uploader = Authorized<need::DeviceOr<need::PublishManuals>>;

/// Reads `Content-Range: bytes START-END/TOTAL`, or, without it, takes the body as the whole
/// blob (`Content-Length`).
fn part_of(headers: &HeaderMap) -> Result<Part, AppError> {
    let bad = |message: String| AppError::bad_request(ErrorCode::BadContentRange, message);
    let text = |name: header::HeaderName| {
        headers
            .get(&name)
            .map(|v| v.to_str().map_err(|_| bad(format!("`{name}` is not text"))))
            .transpose()
    };
    let part = if let Some(range) = text(header::CONTENT_RANGE)? {
        let parse = || -> Option<Part> {
            let (span, total) = range.strip_prefix("bytes ")?.split_once('/')?;
            let (start, last) = span.split_once('-')?;
            let (start, last, total) = (
                start.trim().parse::<u64>().ok()?,
                last.trim().parse::<u64>().ok()?,
                total.trim().parse::<u64>().ok()?,
            );
            (start <= last && last < total).then_some(Part {
                start,
                end: last + 1,
                total,
            })
        };
        parse().ok_or_else(|| {
            bad(format!(
                "`Content-Range: {range}` is not `bytes START-END/TOTAL` with START ≤ END < TOTAL"
            ))
        })?
    } else {
        let length = text(header::CONTENT_LENGTH)?
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                bad("send the blob with a Content-Length, or a part with a Content-Range".into())
            })?;
        Part {
            start: 0,
            end: length,
            total: length,
        }
    };
    Ok(part.checked()?)
}

/// Which job an upload is for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BlobQuery {
    /// The job the blob belongs to (required for phones).
    job: Option<String>,
}

/// How far an upload has come.
///
/// With `job`, a blob the server already holds is linked to that job (nothing is sent again). Devices: permission `Sync`, for jobs their installer holds or held; the office: `PublishManuals`.
#[utoipa::path(
    get,
    path = "/v1/blobs/{sha256}/upload",
    tag = "blobs",
    params(("sha256" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits."), BlobQuery),
    responses((status = 200, description = "How many bytes the server holds; `complete` once the blob is held, verified.", body = UploadStatus))
)]
async fn upload_status(
    State(state): State<AppState>,
    caller: Uploader,
    Path(sha256): Path<String>,
    Query(query): Query<BlobQuery>,
) -> Result<Json<UploadStatus>, AppError> {
    checked_sha256(&sha256)?;
    let (status, pending, job) = {
        let sha256 = sha256.clone();
        state
            .blocking(move |state| {
                media::upload_progress(
                    state.storage.as_ref(),
                    state.blobs.as_ref(),
                    &caller.principal,
                    sha256,
                    query.job.as_deref(),
                )
            })
            .await?
    };
    // Every byte is staged but the upload was never finished (the server stopped in between):
    // finish it now rather than answer that nothing is missing yet nothing is held.
    let staged_whole =
        pending.filter(|p| p.size > 0 && status.received == p.size && !status.complete);
    let Some(pending) = staged_whole else {
        return Ok(Json(status));
    };
    let Ok(_guard) = state.uploads.acquire(&sha256) else {
        return Ok(Json(status));
    };
    let blob = record(&sha256, 0, &pending.mime, state.now(), &pending.started_by);
    let outcome = state
        .blocking(move |state| {
            media::finish(
                state.storage.as_ref(),
                state.blobs.as_ref(),
                blob,
                None,
                job,
            )
        })
        .await;
    Ok(Json(match outcome {
        Ok(size) => complete(&sha256, size),
        // The staged bytes were wrong and are gone: the upload starts again.
        Err(DomainError::Refused {
            code: ErrorCode::HashMismatch,
            ..
        }) => UploadStatus {
            received: 0,
            ..status
        },
        Err(e) => return Err(e.into()),
    }))
}

/// The most of a refused part's body read (and dropped) before answering, so a client that is
/// still sending gets the error rather than a reset connection.
const DRAIN_LIMIT_BYTES: usize = 4 << 20;

/// Upload a blob, or one part of it.
///
/// Every byte that arrives is staged; the blob is recorded only once its bytes hash to its name (`422 hash_mismatch` otherwise, and the staged bytes are discarded). A part must start where the staged bytes end (`409 chunk_out_of_order` with `received`). Devices: permission `Sync`, with `job`; the office: `PublishManuals`.
#[utoipa::path(
    put,
    path = "/v1/blobs/{sha256}",
    tag = "blobs",
    params(
        ("sha256" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits."),
        BlobQuery,
        ("content-range" = Option<String>, Header, description = "`bytes START-END/TOTAL` for a part; without it the body is the whole blob.")
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The blob's bytes, or a part's. `Content-Type` declares the blob's MIME type."),
    responses(
        (status = 200, description = "The part is staged; the upload is not complete yet.", body = UploadStatus),
        (status = 201, description = "The blob is complete and verified.", body = UploadStatus)
    )
)]
async fn put_blob(
    State(state): State<AppState>,
    caller: Result<Uploader, AppError>,
    Path(sha256): Path<String>,
    Query(query): Query<BlobQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let mut body = Some(body);
    // A caller who may not upload is refused after its body is drained, like any refused part.
    let result = match caller {
        Ok(caller) => accept_part(state, caller, headers, sha256, query, &mut body).await,
        Err(refused) => Err(refused),
    };
    let refused = result.is_err();
    if let Some(unread) = body.take().filter(|_| refused) {
        drain(&mut unread.into_data_stream()).await;
    }
    result
}

/// Reads and drops what is left of a refused request's body (a bounded amount, briefly).
pub(super) async fn drain(stream: &mut axum::body::BodyDataStream) {
    let mut drained = 0;
    let reading = async {
        while let Some(Ok(bytes)) = stream.next().await {
            drained += bytes.len();
            if drained > DRAIN_LIMIT_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reading).await;
}

/// Takes one part of a blob; `body` is taken once the part is accepted for receiving.
async fn accept_part(
    state: AppState,
    caller: Uploader,
    headers: HeaderMap,
    sha256: String,
    query: BlobQuery,
    body: &mut Option<Body>,
) -> Result<Response, AppError> {
    checked_sha256(&sha256)?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    check_mime(&mime).map_err(|e| {
        DomainError::invalid_field("mime", Problem::InvalidValue, e.to_string())
            .with("value", mime.clone())
    })?;
    let part = part_of(&headers)?;
    // Held until the last byte of this request is written, not merely until the handler ends
    // (a timed-out handler's writer may still be finishing).
    let guard = Arc::new(state.uploads.acquire(&sha256)?);
    let now = state.now();
    let user = caller.user().to_owned();
    // Uploads from phones are held to the device's bandwidth limit.
    let device = match &caller.principal {
        Principal::Device(credential) => Some(credential.device_id.clone()),
        Principal::Office { .. } => None,
    };
    // Before any byte is read: who, which job, and whether the server already holds it.
    let (job, held, received) = {
        let (sha256, mime) = (sha256.clone(), mime.clone());
        state
            .blocking(move |state| {
                media::begin_part(
                    state.storage.as_ref(),
                    state.blobs.as_ref(),
                    &caller.principal,
                    &sha256,
                    query.job.as_deref(),
                    part,
                    &mime,
                    now,
                )
            })
            .await?
    };
    if let Some(size) = held {
        return Ok((StatusCode::CREATED, Json(complete(&sha256, size))).into_response());
    }
    if part.start != received {
        return Err(DomainError::from(BlobError::OutOfOrder {
            offset: part.start,
            received,
        })
        .into());
    }
    let body = body.take().unwrap_or_default();
    let (received, digest) = receive(
        &state.uploads,
        guard.clone(),
        &state.blobs,
        &sha256,
        part,
        body,
        device
            .as_deref()
            .map(|device| (state.device_limits.as_ref(), device)),
    )
    .await?;
    ::metrics::counter!(metrics::UPLOAD_PARTS).increment(1);
    ::metrics::counter!(metrics::UPLOAD_BYTES).increment(received.saturating_sub(part.start));
    if received < part.total {
        let status = UploadStatus {
            sha256,
            size: part.total,
            received,
            complete: false,
        };
        return Ok((StatusCode::OK, Json(status)).into_response());
    }
    // The hash this node kept while receiving covers bytes another node may have staged over
    // since (a device starting the upload again elsewhere): with several nodes the store
    // hashes what it holds.
    let digest = digest.filter(|_| state.bulletin.is_none());
    let finished = {
        let blob = record(&sha256, 0, &mime, now, &user);
        state
            .blocking(move |state| {
                media::finish(
                    state.storage.as_ref(),
                    state.blobs.as_ref(),
                    blob,
                    digest.as_deref(),
                    job,
                )
            })
            .await?
    };
    Ok((StatusCode::CREATED, Json(complete(&sha256, finished))).into_response())
}

/// Streams the request body into the staged upload while a blocking worker writes and hashes
/// it, so receiving, writing and hashing overlap. Bytes that arrived before a broken connection
/// stay staged; a body longer than its range is cut back to where the part started. Returns how
/// many bytes are staged and, when the upload is whole and was hashed from its first byte, its
/// SHA-256.
async fn receive(
    uploads: &Arc<UploadLocks>,
    guard: Arc<UploadGuard>,
    blobs: &Arc<dyn BlobStore>,
    sha256: &str,
    part: Part,
    body: Body,
    throttle: Option<(&DeviceLimits, &str)>,
) -> Result<(u64, Option<String>), AppError> {
    let hasher = uploads.take_hasher(sha256, part.start);
    // Hashing runs beside writing: the frames are shared, not copied.
    let (to_hasher, mut hash_frames) = tokio::sync::mpsc::channel::<Bytes>(64);
    let hashing = tokio::task::spawn_blocking(move || {
        let mut hasher = hasher?;
        while let Some(bytes) = hash_frames.blocking_recv() {
            hasher.update(&bytes);
        }
        Some(hasher)
    });
    let (frames, mut incoming) = tokio::sync::mpsc::channel::<Bytes>(64);
    let writer = {
        let (blobs, sha256) = (blobs.clone(), sha256.to_owned());
        tokio::task::spawn_blocking(move || -> Result<u64, BlobError> {
            let _guard = guard;
            let mut staged = part.start;
            let mut pending: Vec<Bytes> = Vec::new();
            let mut pending_bytes = 0;
            let write = |pending: &mut Vec<Bytes>, staged: u64| {
                let parts: Vec<&[u8]> = pending.iter().map(|b| &b[..]).collect();
                let staged = blobs.append(&sha256, staged, &parts);
                pending.clear();
                staged
            };
            while let Some(bytes) = incoming.blocking_recv() {
                pending_bytes += bytes.len();
                pending.push(bytes);
                if pending_bytes >= WRITE_BUFFER_BYTES {
                    staged = write(&mut pending, staged)?;
                    pending_bytes = 0;
                }
            }
            if !pending.is_empty() {
                staged = write(&mut pending, staged)?;
            }
            Ok(staged)
        })
    };
    let mut stream = body.into_data_stream();
    let mut received = part.start;
    let outcome: Result<(), AppError> = loop {
        match stream.next().await {
            Some(Ok(bytes)) => {
                received += bytes.len() as u64;
                if received > part.end {
                    drain(&mut stream).await;
                    break Err(AppError::bad_request(
                        ErrorCode::BadContentRange,
                        format!(
                            "the body is longer than its range ({} bytes); the part was discarded",
                            part.end - part.start
                        ),
                    ));
                }
                // A device uploads no faster than its limit: reading stops while it waits, so
                // the connection's own flow control slows the sender.
                if let Some((limits, device)) = throttle {
                    let wait = limits.upload_wait(device, bytes.len());
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                // A hasher that is gone only means the blob is hashed at the end.
                let _ = to_hasher.send(bytes.clone()).await;
                if frames.send(bytes).await.is_err() {
                    // The writer failed; its error is reported below.
                    break Ok(());
                }
            }
            Some(Err(e)) => {
                break Err(AppError(
                    DomainError::bad_request(
                        ErrorCode::IncompleteBody,
                        format!("the connection broke after byte {received}: {e}"),
                    )
                    .with("received", received),
                ));
            }
            None => break Ok(()),
        }
    };
    drop(frames);
    drop(to_hasher);
    let staged = writer
        .await
        .map_err(|e| DomainError::Internal(format!("upload writer failed: {e}")))?
        .map_err(DomainError::from)?;
    let hasher = hashing.await.ok().flatten();
    if let Err(AppError(DomainError::BadRequest {
        code: ErrorCode::BadContentRange,
        ..
    })) = &outcome
    {
        let (blobs, sha256) = (blobs.clone(), sha256.to_owned());
        tokio::task::spawn_blocking(move || blobs.truncate(&sha256, part.start))
            .await
            .map_err(|e| DomainError::Internal(format!("worker failed: {e}")))??;
        return outcome.map(|()| (part.start, None));
    }
    // Staged bytes are not synced here: progress is always read back from the staged file, so
    // bytes a crash loses are simply sent again, and `finish` syncs before the blob is visible.
    let digest = match hasher {
        Some(hasher) if staged == part.total && outcome.is_ok() => Some(hex(&hasher.finalize())),
        Some(hasher) => {
            uploads.keep_hasher(sha256, staged, hasher);
            None
        }
        None => None,
    };
    outcome.map(|()| (staged, digest))
}

/// Bytes of a download read from the store at a time.
const READ_PIECE_BYTES: usize = 256 << 10;

/// A held blob as a download, streamed from the store piece by piece (a 64 MiB attachment is
/// never in memory whole). Runs on the blocking pool.
fn blob_response(
    blobs: &dyn BlobStore,
    sha256: &str,
    mime: &str,
    file_name: Option<&str>,
) -> Result<Response, DomainError> {
    let (mut reader, size) = blobs.open(sha256)?.ok_or_else(|| unknown_blob(sha256))?;
    let (pieces, body) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut piece = vec![0; READ_PIECE_BYTES];
            let read = match reader.read(&mut piece) {
                Ok(0) => return,
                Ok(read) => read,
                Err(e) => {
                    let _ = pieces.blocking_send(Err(e));
                    return;
                }
            };
            piece.truncate(read);
            // A closed channel: the client went away.
            if pieces.blocking_send(Ok(Bytes::from(piece))).is_err() {
                return;
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(body));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Content-addressed: the bytes behind a name never change.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Uploaded bytes are never a page of ours: an SVG or HTML blob opened directly runs nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    if let Some(name) = file_name
        && let Ok(value) = HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Download a blob.
///
/// A device only a manual attachment or its jobs' media (permission `Sync`); the office any (permission `ReadJobs`).
#[utoipa::path(
    get,
    path = "/v1/blobs/{sha256}",
    tag = "blobs",
    params(("sha256" = String, Path, description = "The blob's SHA-256, 64 lower-case hex digits.")),
    responses((status = 200, description = "The bytes, streamed, with their MIME type.", body = Vec<u8>, content_type = "application/octet-stream"))
)]
async fn get_blob(
    State(state): State<AppState>,
    caller: Authorized<need::DeviceOr<need::ReadJobs>>,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    checked_sha256(&sha256)?;
    let response = state
        .blocking(move |state| {
            let record = media::readable_blob(state.storage.as_ref(), &caller.principal, &sha256)?;
            blob_response(state.blobs.as_ref(), &sha256, &record.mime, None)
        })
        .await?;
    Ok(response)
}

/// The signed service report of a job, as a PDF download.
fn report_of(state: &AppState, job_id: &str) -> Result<Response, DomainError> {
    let sha256 = media::signed_report(state.storage.as_ref(), state.blobs.as_ref(), job_id)?;
    blob_response(
        state.blobs.as_ref(),
        &sha256,
        "application/pdf",
        Some(&format!("service-report-{job_id}.pdf")),
    )
}

/// The signed service report.
///
/// Permission: `ReadJobs`.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/report",
    tag = "reports",
    params(("id" = String, Path, description = "The job id.")),
    responses((status = 200, description = "The PDF the customer signed.", body = Vec<u8>, content_type = "application/pdf"))
)]
async fn job_report(
    State(state): State<AppState>,
    _: Authorized<need::ReadJobs>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    Ok(state.blocking(move |state| report_of(state, &id)).await?)
}

/// A customer's download link.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct ReportLinkView {
    /// The customer's page (their job, the report, a rating, a complaint), relative to the
    /// server: the link to send them.
    page: String,
    /// The signed report itself (a PDF), relative to the server.
    url: String,
    /// When it stops working.
    expires_at: Millis,
}

/// A link for the customer.
///
/// Their page (`page`: the job, the signed report once the server holds it, a rating, a complaint) and the report's download (`url`: `404 no_report` until the server holds it). The job must be completed or closed (`409 conflict`, problem `not_completed`). Permission: `EditJobs`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/report-link",
    tag = "reports",
    params(("id" = String, Path, description = "The job id.")),
    responses((status = 201, description = "A link for the customer, valid 30 days.", body = ReportLinkView))
)]
async fn create_report_link(
    State(state): State<AppState>,
    caller: Authorized<need::EditJobs>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let now = state.now();
    let (token, link) = state
        .blocking(move |state| {
            media::create_report_link(state.storage.as_ref(), &id, caller.user(), now)
        })
        .await?;
    let view = ReportLinkView {
        page: format!("/r/{token}"),
        url: format!("/v1/reports/{token}"),
        expires_at: link.expires_at,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// A customer's report download.
///
/// Public: the link is the credential, until it expires (`404 unknown_report`).
#[utoipa::path(
    get,
    path = "/v1/reports/{token}",
    tag = "reports",
    params(("token" = String, Path, description = "The link's secret.")),
    responses((status = 200, description = "The signed report.", body = Vec<u8>, content_type = "application/pdf"))
)]
async fn linked_report(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let now = state.now();
    let response = state
        .blocking(move |state| {
            let link = media::customer_link(state.storage.as_ref(), &token, now)?;
            report_of(state, &link.job_id)
        })
        .await?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_protocol::knowledge::MAX_BLOB_BYTES;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn parts_are_read_from_content_range_or_length() {
        assert_eq!(
            part_of(&headers(&[("content-range", "bytes 10-19/100")])).expect("part"),
            Part {
                start: 10,
                end: 20,
                total: 100
            }
        );
        assert_eq!(
            part_of(&headers(&[("content-length", "42")])).expect("whole"),
            Part {
                start: 0,
                end: 42,
                total: 42
            }
        );
        for bad in [
            "bytes 20-10/100",
            "bytes 0-100/100",
            "bytes */100",
            "items 0-1/2",
            "bytes 0-1",
        ] {
            let error = part_of(&headers(&[("content-range", bad)])).expect_err(bad);
            assert!(
                error.to_string().contains("Content-Range"),
                "{bad}: {error}"
            );
        }
        assert!(part_of(&headers(&[])).is_err());
        let too_big = format!("bytes 0-0/{}", MAX_BLOB_BYTES + 1);
        assert!(matches!(
            part_of(&headers(&[("content-range", &too_big)])),
            Err(AppError(DomainError::Refused {
                code: ErrorCode::BlobTooLarge,
                ..
            }))
        ));
    }
}
