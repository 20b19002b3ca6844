//! Media: resumable, content-addressed blob uploads, blob downloads, and the service report a
//! customer signed.
//!
//! `PUT /v1/blobs/{sha256}` takes a blob or a part of it (`Content-Range`). Every byte that
//! arrives is staged, even from a connection that breaks mid-part, so a phone asks
//! `GET /v1/blobs/{sha256}/upload` and continues from `received`. When the last byte is in, the
//! bytes are hashed; only bytes that hash to the name become the blob, and only then is it
//! recorded (and linked to its job). A blob the server already holds is never sent again.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fieldsync_protocol::Millis;
use fieldsync_protocol::hex;
use fieldsync_protocol::job::Job;
use fieldsync_protocol::knowledge::{MAX_BLOB_BYTES, UploadStatus, check_mime};
use fieldsync_protocol::rules::check_sha256;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;

use crate::api::{AppState, blocking};
use crate::auth::{Permission, Principal, new_secret, secret_hash};
use crate::blobs::{BlobError, BlobStore};
use crate::error::AppError;
use crate::storage::{BlobRecord, PendingUpload, ReadTx, ReportLink, read, write};

/// Staged bytes are written to the blob store in pieces of at most this size.
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// How long a customer's report link works.
pub const REPORT_LINK_LIFETIME_MS: Millis = 30 * 24 * 60 * 60 * 1000;

/// Uploads in progress: which blobs a request is writing to (one writer per blob at a time),
/// and the running hash of staged bytes, so a blob sent in parts is not read back to be
/// verified. After a restart the hashes are gone and the staged bytes are hashed at the end.
#[derive(Default)]
pub struct UploadLocks {
    writing: Mutex<HashSet<String>>,
    hashers: Mutex<HashMap<String, (u64, Sha256)>>,
}

impl std::fmt::Debug for UploadLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadLocks").finish_non_exhaustive()
    }
}

/// Running hashes kept at most; beyond, the oldest uploads fall back to hashing at the end.
const MAX_KEPT_HASHERS: usize = 10_000;

/// Holds a blob's upload lock until dropped.
struct UploadGuard {
    locks: Arc<UploadLocks>,
    sha256: String,
}

impl UploadLocks {
    /// The running hash of a blob's staged bytes when it covers exactly `offset` bytes (a new
    /// one at offset 0); `None` when it is unknown.
    fn take_hasher(&self, sha256: &str, offset: u64) -> Option<Sha256> {
        let mut hashers = self.hashers.lock().unwrap_or_else(|p| p.into_inner());
        match hashers.remove(sha256) {
            Some((covered, hasher)) if covered == offset => Some(hasher),
            _ if offset == 0 => Some(Sha256::new()),
            _ => None,
        }
    }

    fn keep_hasher(&self, sha256: &str, covered: u64, hasher: Sha256) {
        let mut hashers = self.hashers.lock().unwrap_or_else(|p| p.into_inner());
        if hashers.len() >= MAX_KEPT_HASHERS {
            hashers.clear();
        }
        hashers.insert(sha256.to_owned(), (covered, hasher));
    }

    fn acquire(self: &Arc<Self>, sha256: &str) -> Result<UploadGuard, AppError> {
        let mut held = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if !held.insert(sha256.to_owned()) {
            return Err(AppError::refused(
                StatusCode::CONFLICT,
                "upload_in_progress",
                format!("another request is uploading blob {sha256}; ask its progress and retry"),
            ));
        }
        Ok(UploadGuard {
            locks: self.clone(),
            sha256: sha256.to_owned(),
        })
    }
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        let mut held = self.locks.writing.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.sha256);
    }
}

impl From<BlobError> for AppError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::OutOfOrder { received, .. } => AppError::Refused {
                status: StatusCode::CONFLICT,
                code: "chunk_out_of_order",
                message: e.to_string(),
                received: Some(received),
            },
            BlobError::HashMismatch { .. } => AppError::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                e.to_string(),
            ),
            BlobError::Io(_) => AppError::Internal(e.to_string()),
        }
    }
}

/// How long one blob request may take: a 4 MiB part over a slow uplink (about 56 kbit/s) or a
/// whole 64 MiB download over a fair one. A part cut off by it is kept up to where it stopped.
pub const BLOB_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Blob bytes in and out: their own, longer time limit.
pub fn transfer_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/blobs/{sha256}", get(get_blob).put(put_blob))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            BLOB_REQUEST_TIMEOUT,
        ))
}

/// The routes that need a credential (besides [`transfer_routes`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/blobs/{sha256}/upload", get(upload_status))
        .route("/v1/jobs/{id}/report", get(job_report))
        .route("/v1/jobs/{id}/report-link", post(create_report_link))
}

/// The routes anyone may call: a customer's report link.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/v1/reports/{token}", get(linked_report))
}

fn checked_sha256(sha256: &str) -> Result<(), AppError> {
    check_sha256(sha256).map_err(|_| {
        AppError::bad_request(
            "invalid_sha256",
            format!("`{sha256}` is not a SHA-256 digest (64 lower-case hex digits)"),
        )
    })
}

/// Which part of a blob a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    start: u64,
    /// One past the last byte.
    end: u64,
    total: u64,
}

/// Reads `Content-Range: bytes START-END/TOTAL`, or, without it, takes the body as the whole
/// blob (`Content-Length`).
fn part_of(headers: &HeaderMap) -> Result<Part, AppError> {
    let bad = |message: String| AppError::bad_request("bad_content_range", message);
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
    if part.total == 0 {
        return Err(bad("a blob has at least one byte".into()));
    }
    if part.total > MAX_BLOB_BYTES {
        return Err(AppError::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "blob_too_large",
            format!(
                "a blob of {} bytes is over the limit of {MAX_BLOB_BYTES} bytes",
                part.total
            ),
        ));
    }
    Ok(part)
}

#[derive(Deserialize)]
struct BlobQuery {
    job: Option<String>,
}

/// Checks the caller may upload, and for which job: a device only for a job its user holds or
/// held; an office user who publishes manuals with or without one.
fn upload_target(
    tx: &dyn ReadTx,
    principal: &Principal,
    job: Option<&str>,
) -> Result<Option<String>, AppError> {
    let Some(job) = job else {
        return match principal {
            Principal::Device(_) => Err(AppError::invalid_field(
                "job",
                "a phone uploads media for a job: add `?job=<job id>`",
            )),
            Principal::Office { .. } => Ok(None),
        };
    };
    let visible = tx.job(job)?.is_some()
        && match principal {
            Principal::Device(credential) => tx.ever_in_scope(job, &credential.user_id)?,
            Principal::Office { .. } => true,
        };
    if !visible {
        return Err(AppError::refused(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!("there is no job `{job}` on this account"),
        ));
    }
    Ok(Some(job.to_owned()))
}

fn require_upload(
    principal: &Principal,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    let permission = match principal {
        Principal::Device(_) => Permission::Sync,
        Principal::Office { .. } => Permission::PublishManuals,
    };
    principal.require(permission, method, headers)
}

async fn upload_status(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    Query(query): Query<BlobQuery>,
) -> Result<Json<UploadStatus>, AppError> {
    require_upload(&principal, &method, &headers)?;
    checked_sha256(&sha256)?;
    let blobs = state.blobs.clone();
    let storage = state.storage.clone();
    let (status, pending, job) = {
        let sha256 = sha256.clone();
        blocking(move || {
            let (job, linked, held, pending) = read(storage.as_ref(), |tx| {
                let job = match &query.job {
                    Some(job) => upload_target(tx, &principal, Some(job))?,
                    None => None,
                };
                // Held means recorded and its bytes there (a restored database may name blobs
                // whose files are gone: those are sent again).
                let held = match tx.blob(&sha256)? {
                    Some(blob) if blobs.size(&sha256)?.is_some() => Some(blob.size),
                    _ => None,
                };
                let linked = match (&job, held) {
                    (Some(job), Some(_)) => tx.blob_jobs(&sha256)?.contains(job),
                    _ => true,
                };
                Ok::<_, AppError>((job, linked, held, tx.upload(&sha256)?))
            })?;
            if let Some(size) = held {
                if let Some(job) = job.filter(|_| !linked) {
                    write(storage.as_ref(), |tx| {
                        Ok::<_, AppError>(tx.link_job_blob(&job, &sha256)?)
                    })?;
                }
                return Ok((complete(&sha256, size), None, None));
            }
            let status = UploadStatus {
                size: pending.as_ref().map_or(0, |u| u.size),
                received: blobs.staged(&sha256)?,
                sha256,
                complete: false,
            };
            Ok((status, pending, job))
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
    let storage = state.storage.clone();
    let blobs = state.blobs.clone();
    let blob = record(&sha256, 0, &pending.mime, state.now(), &pending.started_by);
    let outcome = blocking(move || finish(storage.as_ref(), blobs.as_ref(), blob, None, job)).await;
    Ok(Json(match outcome {
        Ok(size) => complete(&sha256, size),
        // The staged bytes were wrong and are gone: the upload starts again.
        Err(AppError::Refused {
            code: "hash_mismatch",
            ..
        }) => UploadStatus {
            received: 0,
            ..status
        },
        Err(e) => return Err(e),
    }))
}

fn complete(sha256: &str, size: u64) -> UploadStatus {
    UploadStatus {
        sha256: sha256.to_owned(),
        size,
        received: size,
        complete: true,
    }
}

/// The most of a refused part's body read (and dropped) before answering, so a client that is
/// still sending gets the error rather than a reset connection.
const DRAIN_LIMIT_BYTES: usize = 4 << 20;

async fn put_blob(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(sha256): Path<String>,
    Query(query): Query<BlobQuery>,
    body: Body,
) -> Result<Response, AppError> {
    let mut body = Some(body);
    let result = accept_part(state, principal, method, headers, sha256, query, &mut body).await;
    let refused = result.is_err();
    if let Some(unread) = body.take().filter(|_| refused) {
        drain(&mut unread.into_data_stream()).await;
    }
    result
}

/// Reads and drops what is left of a refused request's body (a bounded amount, briefly).
async fn drain(stream: &mut axum::body::BodyDataStream) {
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
    principal: Principal,
    method: Method,
    headers: HeaderMap,
    sha256: String,
    query: BlobQuery,
    body: &mut Option<Body>,
) -> Result<Response, AppError> {
    require_upload(&principal, &method, &headers)?;
    checked_sha256(&sha256)?;
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    check_mime(&mime).map_err(|e| AppError::invalid_field("mime", e.to_string()))?;
    let part = part_of(&headers)?;
    // Held until the last byte of this request is written, not merely until the handler ends
    // (a timed-out handler's writer may still be finishing).
    let guard = Arc::new(state.uploads.acquire(&sha256)?);
    let now = state.now();
    let user = principal.user().to_owned();
    let blobs = state.blobs.clone();
    // Before any byte is read: who, which job, and whether the server already holds it.
    let (job, held, received) = {
        let (sha256, principal, blobs, user, mime) = (
            sha256.clone(),
            principal.clone(),
            blobs.clone(),
            user.clone(),
            mime.clone(),
        );
        let storage = state.storage.clone();
        blocking(move || {
            // Reads first: a part that continues an upload writes nothing to the database.
            let (job, held_size, recorded, pending) = read(storage.as_ref(), |tx| {
                let job = upload_target(tx, &principal, query.job.as_deref())?;
                let held_size = blobs.size(&sha256)?;
                let recorded = match (&job, held_size) {
                    (Some(job), Some(_)) => {
                        tx.blob(&sha256)?.is_some() && tx.blob_jobs(&sha256)?.contains(job)
                    }
                    (None, Some(_)) => tx.blob(&sha256)?.is_some(),
                    (_, None) => false,
                };
                Ok::<_, AppError>((job, held_size, recorded, tx.upload(&sha256)?))
            })?;
            if let Some(size) = held_size {
                if !recorded {
                    write(storage.as_ref(), |tx| {
                        if tx.blob(&sha256)?.is_none() {
                            // Verified bytes whose record was lost between the rename and the
                            // commit.
                            tx.finish_upload(&record(&sha256, size, &mime, now, &user))?;
                        }
                        if let Some(job) = &job {
                            tx.link_job_blob(job, &sha256)?;
                        }
                        Ok::<_, AppError>(())
                    })?;
                }
                return Ok((job, Some(size), size));
            }
            match pending {
                // Starting again from the first byte with another size: the earlier attempt
                // was wrong (its bytes could never have verified), so it is dropped.
                Some(pending) if pending.size != part.total && part.start == 0 => {
                    blobs.truncate(&sha256, 0)?;
                    write(storage.as_ref(), |tx| {
                        tx.put_upload(&PendingUpload {
                            size: part.total,
                            mime: mime.clone(),
                            ..pending
                        })
                    })?;
                }
                Some(pending) if pending.size != part.total => {
                    return Err(AppError::bad_request(
                        "bad_content_range",
                        format!(
                            "this upload was started as {} bytes, not {}",
                            pending.size, part.total
                        ),
                    ));
                }
                Some(_) => {}
                None => write(storage.as_ref(), |tx| {
                    tx.put_upload(&PendingUpload {
                        sha256: sha256.clone(),
                        size: part.total,
                        mime: mime.clone(),
                        started_at: now,
                        started_by: user.clone(),
                    })
                })?,
            }
            Ok((job, None, blobs.staged(&sha256)?))
        })
        .await?
    };
    if let Some(size) = held {
        return Ok((StatusCode::CREATED, Json(complete(&sha256, size))).into_response());
    }
    if part.start != received {
        return Err(BlobError::OutOfOrder {
            offset: part.start,
            received,
        }
        .into());
    }
    let body = body.take().unwrap_or_default();
    let (received, digest) =
        receive(&state.uploads, guard.clone(), &blobs, &sha256, part, body).await?;
    if received < part.total {
        let status = UploadStatus {
            sha256,
            size: part.total,
            received,
            complete: false,
        };
        return Ok((StatusCode::OK, Json(status)).into_response());
    }
    let storage = state.storage.clone();
    let finished = {
        let sha256 = sha256.clone();
        let finished = record(&sha256, 0, &mime, now, &user);
        blocking(move || {
            finish(
                storage.as_ref(),
                blobs.as_ref(),
                finished,
                digest.as_deref(),
                job,
            )
        })
        .await?
    };
    Ok((StatusCode::CREATED, Json(complete(&sha256, finished))).into_response())
}

/// Verifies a whole staged upload and records the blob (linked to `job`); on a mismatch the
/// staged bytes and the upload are discarded. Returns the blob's size.
fn finish(
    storage: &dyn crate::storage::Storage,
    blobs: &dyn BlobStore,
    mut blob: BlobRecord,
    digest: Option<&str>,
    job: Option<String>,
) -> Result<u64, AppError> {
    match blobs.finish(&blob.sha256, digest) {
        Ok(size) => {
            blob.size = size;
            write(storage, |tx| {
                tx.finish_upload(&blob)?;
                if let Some(job) = &job {
                    tx.link_job_blob(job, &blob.sha256)?;
                }
                Ok(size)
            })
        }
        Err(e) => {
            write(storage, |tx| {
                Ok::<_, AppError>(tx.discard_upload(&blob.sha256)?)
            })?;
            Err(e.into())
        }
    }
}

fn record(sha256: &str, size: u64, mime: &str, now: Millis, user: &str) -> BlobRecord {
    BlobRecord {
        sha256: sha256.to_owned(),
        size,
        mime: mime.to_owned(),
        created_at: now,
        created_by: user.to_owned(),
    }
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
                        "bad_content_range",
                        format!(
                            "the body is longer than its range ({} bytes); the part was discarded",
                            part.end - part.start
                        ),
                    ));
                }
                // A hasher that is gone only means the blob is hashed at the end.
                let _ = to_hasher.send(bytes.clone()).await;
                if frames.send(bytes).await.is_err() {
                    // The writer failed; its error is reported below.
                    break Ok(());
                }
            }
            Some(Err(e)) => {
                break Err(AppError::bad_request(
                    "incomplete_body",
                    format!("the connection broke after byte {received}: {e}"),
                ));
            }
            None => break Ok(()),
        }
    };
    drop(frames);
    drop(to_hasher);
    let staged = writer
        .await
        .map_err(|e| AppError::Internal(format!("upload writer failed: {e}")))??;
    let hasher = hashing.await.ok().flatten();
    if let Err(AppError::BadRequest {
        code: "bad_content_range",
        ..
    }) = &outcome
    {
        let (blobs, sha256) = (blobs.clone(), sha256.to_owned());
        blocking(move || Ok(blobs.truncate(&sha256, part.start)?)).await?;
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
) -> Result<Response, AppError> {
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

fn unknown_blob(sha256: &str) -> AppError {
    AppError::refused(
        StatusCode::NOT_FOUND,
        "unknown_blob",
        format!("the server holds no blob {sha256} for this account"),
    )
}

async fn get_blob(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    let permission = match principal {
        Principal::Device(_) => Permission::Sync,
        Principal::Office { .. } => Permission::ReadJobs,
    };
    principal.require(permission, &method, &headers)?;
    checked_sha256(&sha256)?;
    let blobs = state.blobs.clone();
    let storage = state.storage.clone();
    blocking(move || {
        let record = read(storage.as_ref(), |tx| {
            let Some(record) = tx.blob(&sha256)? else {
                return Err(unknown_blob(&sha256));
            };
            if let Principal::Device(credential) = &principal {
                let mut visible = tx.is_manual_attachment(&sha256)?;
                for job in tx.blob_jobs(&sha256)? {
                    visible = visible || tx.ever_in_scope(&job, &credential.user_id)?;
                }
                if !visible {
                    return Err(unknown_blob(&sha256));
                }
            }
            Ok(record)
        })?;
        blob_response(blobs.as_ref(), &sha256, &record.mime, None)
    })
    .await
}

/// One blob a job refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaItem {
    /// The blob's SHA-256.
    pub sha256: String,
    /// `photo`, `signature` or `report`.
    pub role: &'static str,
    /// Its MIME type.
    pub mime: String,
    /// Its size in bytes (as the job document states it; 0 for a report not yet received).
    pub size: u64,
    /// The photo's caption.
    pub caption: String,
    /// Whether the server holds it, verified.
    pub received: bool,
}

/// The customer's signature on a job, as dispatch sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportView {
    /// The SHA-256 of the service report the customer signed.
    pub sha256: String,
    /// Whether the server holds the report.
    pub received: bool,
    /// Who signed.
    pub signed_by: String,
}

/// The blobs a job refers to and whether the server holds each.
pub fn job_media(tx: &dyn ReadTx, job: &Job) -> Result<Vec<MediaItem>, AppError> {
    let mut items: Vec<MediaItem> = job
        .photos
        .iter()
        .map(|photo| MediaItem {
            sha256: photo.sha256.clone(),
            role: "photo",
            mime: photo.mime.clone(),
            size: photo.size,
            caption: photo.caption.clone(),
            received: false,
        })
        .collect();
    if let Some(signature) = &job.signature {
        items.push(MediaItem {
            sha256: signature.image.sha256.clone(),
            role: "signature",
            mime: signature.image.mime.clone(),
            size: signature.image.size,
            caption: format!("signed by {}", signature.signed_by),
            received: false,
        });
        items.push(MediaItem {
            sha256: signature.report_sha256.clone(),
            role: "report",
            mime: "application/pdf".into(),
            size: 0,
            caption: "service report".into(),
            received: false,
        });
    }
    for item in &mut items {
        if let Some(blob) = tx.blob(&item.sha256)? {
            item.received = true;
            item.size = blob.size;
        }
    }
    Ok(items)
}

/// The signature's report, if the job is signed.
pub fn report_view(job: &Job, media: &[MediaItem]) -> Option<ReportView> {
    let signature = job.signature.as_ref()?;
    Some(ReportView {
        sha256: signature.report_sha256.clone(),
        received: media
            .iter()
            .any(|m| m.role == "report" && m.sha256 == signature.report_sha256 && m.received),
        signed_by: signature.signed_by.clone(),
    })
}

/// Refuses to close a job while the server lacks media it refers to: what the customer signed
/// and what the engineer photographed must be held, verified, first.
pub fn require_media_received(tx: &dyn ReadTx, job: &Job) -> Result<(), AppError> {
    let missing: Vec<String> = job_media(tx, job)?
        .into_iter()
        .filter(|m| !m.received)
        .map(|m| format!("{} {}", m.role, m.sha256))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(AppError::refused(
        StatusCode::CONFLICT,
        "media_missing",
        format!(
            "job `{}` cannot be closed until the phone has uploaded: {}",
            job.id,
            missing.join(", ")
        ),
    ))
}

/// The SHA-256 of the service report a job's customer signed, when the server holds it.
fn signed_report(
    storage: &dyn crate::storage::Storage,
    blobs: &dyn BlobStore,
    job_id: &str,
) -> Result<String, AppError> {
    let sha256 = read(storage, |tx| {
        let stored = tx.job(job_id)?.ok_or_else(|| {
            AppError::refused(
                StatusCode::NOT_FOUND,
                "unknown_job",
                format!("there is no job `{job_id}`"),
            )
        })?;
        let job = crate::jobs::read(job_id, &crate::jobs::load(job_id, &stored.doc)?)?;
        Ok::<_, AppError>(job.signature.map(|s| s.report_sha256))
    })?;
    let no_report = || {
        AppError::refused(
            StatusCode::NOT_FOUND,
            "no_report",
            format!("job `{job_id}` has no signed service report on the server yet"),
        )
    };
    let sha256 = sha256.ok_or_else(no_report)?;
    blobs.size(&sha256)?.ok_or_else(no_report)?;
    Ok(sha256)
}

/// The signed service report of a job, as a PDF download.
fn report_of(
    storage: &dyn crate::storage::Storage,
    blobs: &dyn BlobStore,
    job_id: &str,
) -> Result<Response, AppError> {
    let sha256 = signed_report(storage, blobs, job_id)?;
    blob_response(
        blobs,
        &sha256,
        "application/pdf",
        Some(&format!("service-report-{job_id}.pdf")),
    )
}

async fn job_report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Permission::ReadJobs, &method, &headers)?;
    blocking(move || report_of(state.storage.as_ref(), state.blobs.as_ref(), &id)).await
}

/// A customer's download link.
#[derive(Debug, Clone, Serialize)]
struct ReportLinkView {
    url: String,
    expires_at: Millis,
}

async fn create_report_link(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    principal.require(Permission::EditJobs, &method, &headers)?;
    let now = state.now();
    let view = blocking(move || {
        // The report must exist before a customer is sent to it.
        signed_report(state.storage.as_ref(), state.blobs.as_ref(), &id)?;
        let token = new_secret();
        let link = ReportLink {
            job_id: id,
            expires_at: now + REPORT_LINK_LIFETIME_MS,
            created_at: now,
            created_by: principal.user().to_owned(),
        };
        write(state.storage.as_ref(), |tx| {
            Ok::<_, AppError>(tx.put_report_link(&secret_hash(&token), &link)?)
        })?;
        Ok(ReportLinkView {
            url: format!("/v1/reports/{token}"),
            expires_at: link.expires_at,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn linked_report(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let now = state.now();
    blocking(move || {
        let link = read(state.storage.as_ref(), |tx| {
            Ok::<_, AppError>(tx.report_link(&secret_hash(&token))?)
        })?
        .filter(|link| link.expires_at > now)
        .ok_or_else(|| {
            AppError::refused(
                StatusCode::NOT_FOUND,
                "unknown_report",
                "this report link is unknown or has expired; ask the service desk for a new one",
            )
        })?;
        report_of(state.storage.as_ref(), state.blobs.as_ref(), &link.job_id)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(AppError::Refused {
                code: "blob_too_large",
                ..
            })
        ));
    }
}
