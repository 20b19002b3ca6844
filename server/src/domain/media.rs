//! Media: what the server decides about resumable, content-addressed blob uploads, blob
//! downloads, job media and the service report a customer signed. Moving the bytes over HTTP
//! is `crate::http::media`'s job.
//!
//! Every byte of an upload that arrives is staged, even from a connection that breaks
//! mid-part, so a phone asks for the progress and continues from `received`. When the last byte
//! is in, the bytes are hashed; only bytes that hash to the name become the blob, and only then
//! is it recorded (and linked to its job). A blob the server already holds is never sent again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::Job;
use fieldsync_protocol::knowledge::{MAX_BLOB_BYTES, UploadStatus};
use fieldsync_protocol::rules::{Status, check_sha256};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::auth::{Principal, new_secret, secret_hash};
use crate::domain::error::{DomainError, ErrorCode, Problem, Refusal};
use crate::storage::blobs::{BlobError, BlobStore};
use crate::storage::{
    BlobRecord, PendingUpload, ReadTx, ReportLink, Storage, WriteTx, read, write,
};

/// How long a customer's report link works.
pub const REPORT_LINK_LIFETIME_MS: Millis = 30 * 24 * 60 * 60 * 1000;

/// Uploads in progress on this node: which blobs a request is writing to (one writer per blob
/// at a time in this process; nodes sharing a store rely on its own checks, ADR 0015), and the
/// running hash of staged bytes, so a blob sent in parts is not read back to be verified on a
/// single node. After a restart the hashes are gone and the staged bytes are hashed at the end.
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
pub struct UploadGuard {
    locks: Arc<UploadLocks>,
    sha256: String,
}

impl UploadLocks {
    /// The running hash of a blob's staged bytes when it covers exactly `offset` bytes (a new
    /// one at offset 0); `None` when it is unknown.
    pub fn take_hasher(&self, sha256: &str, offset: u64) -> Option<Sha256> {
        let mut hashers = self.hashers.lock().unwrap_or_else(|p| p.into_inner());
        match hashers.remove(sha256) {
            Some((covered, hasher)) if covered == offset => Some(hasher),
            _ if offset == 0 => Some(Sha256::new()),
            _ => None,
        }
    }

    /// Keeps the running hash of a blob whose staged bytes it covers up to `covered`.
    pub fn keep_hasher(&self, sha256: &str, covered: u64, hasher: Sha256) {
        let mut hashers = self.hashers.lock().unwrap_or_else(|p| p.into_inner());
        if hashers.len() >= MAX_KEPT_HASHERS {
            hashers.clear();
        }
        hashers.insert(sha256.to_owned(), (covered, hasher));
    }

    /// Takes the blob's upload lock, or refuses when another request is writing it.
    pub fn acquire(self: &Arc<Self>, sha256: &str) -> Result<UploadGuard, DomainError> {
        let mut held = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if !held.insert(sha256.to_owned()) {
            return Err(DomainError::refused(
                Refusal::Conflict,
                ErrorCode::UploadInProgress,
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

impl From<BlobError> for DomainError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::OutOfOrder { received, .. } => DomainError::Refused {
                reason: Refusal::Conflict,
                code: ErrorCode::ChunkOutOfOrder,
                message: e.to_string(),
                received: Some(received),
                params: Vec::new(),
            },
            BlobError::HashMismatch { .. } => DomainError::refused(
                Refusal::Unprocessable,
                ErrorCode::HashMismatch,
                e.to_string(),
            ),
            BlobError::Io(_) | BlobError::Remote(_) => {
                DomainError::Internal(crate::storage::with_causes(&e))
            }
        }
    }
}

/// Refuses a name that is not a SHA-256 digest.
pub fn checked_sha256(sha256: &str) -> Result<(), DomainError> {
    check_sha256(sha256).map_err(|_| {
        DomainError::bad_request(
            ErrorCode::InvalidSha256,
            format!("`{sha256}` is not a SHA-256 digest (64 lower-case hex digits)"),
        )
    })
}

/// Which part of a blob a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The first byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The whole blob's size.
    pub total: u64,
}

impl Part {
    /// The part, when its blob's size is one the server accepts.
    pub fn checked(self) -> Result<Part, DomainError> {
        if self.total == 0 {
            return Err(DomainError::bad_request(
                ErrorCode::BadContentRange,
                "a blob has at least one byte",
            ));
        }
        if self.total > MAX_BLOB_BYTES {
            return Err(DomainError::refused(
                Refusal::TooLarge,
                ErrorCode::BlobTooLarge,
                format!(
                    "a blob of {} bytes is over the limit of {MAX_BLOB_BYTES} bytes",
                    self.total
                ),
            )
            .with("max", MAX_BLOB_BYTES));
        }
        Ok(self)
    }
}

/// Checks the caller may upload, and for which job: a device only for a job its user holds or
/// held; an office user who publishes manuals with or without one.
fn upload_target(
    tx: &dyn ReadTx,
    principal: &Principal,
    job: Option<&str>,
) -> Result<Option<String>, DomainError> {
    let Some(job) = job else {
        return match principal {
            Principal::Device(_) => Err(DomainError::invalid_field(
                "job",
                Problem::JobRequired,
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
        return Err(DomainError::refused(
            Refusal::NotFound,
            ErrorCode::UnknownJob,
            format!("there is no job `{job}` on this account"),
        ));
    }
    Ok(Some(job.to_owned()))
}

/// Where an upload stands, for `GET /v1/blobs/{sha256}/upload`: a held blob is complete (and
/// linked to `job` when it was not yet); otherwise the staged bytes and the upload record.
/// Returns the status, the pending upload, and the job it is for.
pub fn upload_progress(
    storage: &dyn Storage,
    blobs: &dyn BlobStore,
    principal: &Principal,
    sha256: String,
    job: Option<&str>,
) -> Result<(UploadStatus, Option<PendingUpload>, Option<String>), DomainError> {
    // Asked before the transaction: a bucket may take seconds to answer, and a database
    // connection is not held meanwhile.
    let bytes_held = blobs.size(&sha256)?.is_some();
    let (job, linked, held, pending) = read(storage, |tx| {
        let job = match job {
            Some(job) => upload_target(tx, principal, Some(job))?,
            None => None,
        };
        // Held means recorded and its bytes there (a restored database may name blobs
        // whose files are gone: those are sent again).
        let held = match tx.blob(&sha256)? {
            Some(blob) if bytes_held => Some(blob.size),
            _ => None,
        };
        let linked = match (&job, held) {
            (Some(job), Some(_)) => tx.blob_jobs(&sha256)?.contains(job),
            _ => true,
        };
        Ok::<_, DomainError>((job, linked, held, tx.upload(&sha256)?))
    })?;
    if let Some(size) = held {
        if let Some(job) = job.filter(|_| !linked) {
            write(storage, |tx| {
                Ok::<_, DomainError>(tx.link_job_blob(&job, &sha256)?)
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
}

/// Readies one part of an upload before any of its bytes are read: checks who uploads for which
/// job, answers for a blob the server already holds (recording and linking it if needed), and
/// otherwise records the upload. Returns the job, the held blob's size if it is held, and how
/// many bytes are staged (where this part must start).
#[allow(clippy::too_many_arguments)]
pub fn begin_part(
    storage: &dyn Storage,
    blobs: &dyn BlobStore,
    principal: &Principal,
    sha256: &str,
    job: Option<&str>,
    part: Part,
    mime: &str,
    now: Millis,
) -> Result<(Option<String>, Option<u64>, u64), DomainError> {
    let sha256 = sha256.to_owned();
    let user = principal.user().to_owned();
    // Reads first: a part that continues an upload writes nothing to the database. The store
    // is asked before the transaction (a bucket may take seconds to answer).
    let held_size = blobs.size(&sha256)?;
    let (job, recorded, pending) = read(storage, |tx| {
        let job = upload_target(tx, principal, job)?;
        let recorded = match (&job, held_size) {
            (Some(job), Some(_)) => {
                tx.blob(&sha256)?.is_some() && tx.blob_jobs(&sha256)?.contains(job)
            }
            (None, Some(_)) => tx.blob(&sha256)?.is_some(),
            (_, None) => false,
        };
        Ok::<_, DomainError>((job, recorded, tx.upload(&sha256)?))
    })?;
    if let Some(size) = held_size {
        if !recorded {
            write(storage, |tx| {
                if tx.blob(&sha256)?.is_none() {
                    // Verified bytes whose record was lost between the rename and the
                    // commit.
                    tx.finish_upload(&record(&sha256, size, mime, now, &user))?;
                }
                if let Some(job) = &job {
                    tx.link_job_blob(job, &sha256)?;
                }
                Ok::<_, DomainError>(())
            })?;
        }
        return Ok((job, Some(size), size));
    }
    match pending {
        // Starting again from the first byte with another size: the earlier attempt
        // was wrong (its bytes could never have verified), so it is dropped.
        Some(pending) if pending.size != part.total && part.start == 0 => {
            blobs.truncate(&sha256, 0)?;
            write(storage, |tx| {
                tx.put_upload(&PendingUpload {
                    size: part.total,
                    mime: mime.to_owned(),
                    ..pending
                })
            })?;
        }
        Some(pending) if pending.size != part.total => {
            return Err(DomainError::bad_request(
                ErrorCode::BadContentRange,
                format!(
                    "this upload was started as {} bytes, not {}",
                    pending.size, part.total
                ),
            ));
        }
        Some(_) => {}
        None => write(storage, |tx| {
            tx.put_upload(&PendingUpload {
                sha256: sha256.clone(),
                size: part.total,
                mime: mime.to_owned(),
                started_at: now,
                started_by: user.clone(),
            })
        })?,
    }
    Ok((job, None, blobs.staged(&sha256)?))
}

/// The status of a blob the server holds whole.
pub fn complete(sha256: &str, size: u64) -> UploadStatus {
    UploadStatus {
        sha256: sha256.to_owned(),
        size,
        received: size,
        complete: true,
    }
}

/// Verifies a whole staged upload and records the blob (linked to `job`); on a mismatch the
/// staged bytes and the upload are discarded. Returns the blob's size.
pub fn finish(
    storage: &dyn Storage,
    blobs: &dyn BlobStore,
    mut blob: BlobRecord,
    digest: Option<&str>,
    job: Option<String>,
) -> Result<u64, DomainError> {
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
        Err(e @ BlobError::HashMismatch { .. }) => {
            write(storage, |tx| {
                Ok::<_, DomainError>(tx.discard_upload(&blob.sha256)?)
            })?;
            Err(e.into())
        }
        // The store failed (a bucket out of reach): the staged bytes and the upload stay, and
        // the next status request or part finishes it.
        Err(e) => Err(e.into()),
    }
}

/// The record of a blob `user` uploaded.
pub fn record(sha256: &str, size: u64, mime: &str, now: Millis, user: &str) -> BlobRecord {
    BlobRecord {
        sha256: sha256.to_owned(),
        size,
        mime: mime.to_owned(),
        created_at: now,
        created_by: user.to_owned(),
    }
}

/// The refusal for a blob the caller cannot have.
pub fn unknown_blob(sha256: &str) -> DomainError {
    DomainError::refused(
        Refusal::NotFound,
        ErrorCode::UnknownBlob,
        format!("the server holds no blob {sha256} for this account"),
    )
}

/// A blob the caller may download: a device only a manual attachment or media of a job its
/// user holds or held; the office any.
pub fn readable_blob(
    storage: &dyn Storage,
    principal: &Principal,
    sha256: &str,
) -> Result<BlobRecord, DomainError> {
    read(storage, |tx| {
        let Some(record) = tx.blob(sha256)? else {
            return Err(unknown_blob(sha256));
        };
        if let Principal::Device(credential) = &principal {
            let mut visible = tx.is_manual_attachment(sha256)?;
            for job in tx.blob_jobs(sha256)? {
                visible = visible || tx.ever_in_scope(&job, &credential.user_id)?;
            }
            if !visible {
                return Err(unknown_blob(sha256));
            }
        }
        Ok(record)
    })
}

/// One blob a job refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// The SHA-256 of the service report the customer signed.
    pub sha256: String,
    /// Whether the server holds the report.
    pub received: bool,
    /// Who signed.
    pub signed_by: String,
}

/// The blobs a job refers to and whether the server holds each.
pub fn job_media(tx: &dyn ReadTx, job: &Job) -> Result<Vec<MediaItem>, DomainError> {
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
pub fn require_media_received(tx: &dyn ReadTx, job: &Job) -> Result<(), DomainError> {
    let missing: Vec<String> = job_media(tx, job)?
        .into_iter()
        .filter(|m| !m.received)
        .map(|m| format!("{} {}", m.role, m.sha256))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(DomainError::refused(
        Refusal::Conflict,
        ErrorCode::MediaMissing,
        format!(
            "job `{}` cannot be closed until the phone has uploaded: {}",
            job.id,
            missing.join(", ")
        ),
    ))
}

/// The SHA-256 of the service report a job's customer signed, when the server holds it.
pub fn signed_report(
    storage: &dyn Storage,
    blobs: &dyn BlobStore,
    job_id: &str,
) -> Result<String, DomainError> {
    let sha256 = read(storage, |tx| {
        let stored = tx.job(job_id)?.ok_or_else(|| {
            DomainError::refused(
                Refusal::NotFound,
                ErrorCode::UnknownJob,
                format!("there is no job `{job_id}`"),
            )
        })?;
        let job = crate::domain::jobs::read_stored(tx, job_id, &stored)?;
        Ok::<_, DomainError>(job.signature.map(|s| s.report_sha256))
    })?;
    let no_report = || {
        DomainError::refused(
            Refusal::NotFound,
            ErrorCode::NoReport,
            format!("job `{job_id}` has no signed service report on the server yet"),
        )
    };
    let sha256 = sha256.ok_or_else(no_report)?;
    blobs.size(&sha256)?.ok_or_else(no_report)?;
    Ok(sha256)
}

/// Makes a customer's link for a completed (or closed) job: their page, where they rate the
/// service, raise a complaint and download the signed report once the server holds it.
/// Returns the link's secret token and the link as stored (by the token's hash).
pub fn create_report_link(
    storage: &dyn Storage,
    job_id: &str,
    user: &str,
    now: Millis,
) -> Result<(String, ReportLink), DomainError> {
    let status = read(storage, |tx| {
        let stored = tx.job(job_id)?.ok_or_else(|| {
            DomainError::refused(
                Refusal::NotFound,
                ErrorCode::UnknownJob,
                format!("there is no job `{job_id}`"),
            )
        })?;
        Ok::<_, DomainError>(stored.summary.status)
    })?;
    // The customer is asked about work that was done.
    if !matches!(status, Status::Completed | Status::Closed) {
        return Err(DomainError::conflict(
            Problem::NotCompleted,
            format!(
                "job `{job_id}` is {}: a customer's link follows a completed job",
                status.as_str()
            ),
        )
        .with("status", status.as_str()));
    }
    write(storage, |tx| put_customer_link(tx, job_id, user, now))
}

/// Stores a new customer's link to `job_id` made by `user` at `now`, valid
/// [`REPORT_LINK_LIFETIME_MS`]; returns its secret token and the link as stored.
pub fn put_customer_link(
    tx: &mut dyn WriteTx,
    job_id: &str,
    user: &str,
    now: Millis,
) -> Result<(String, ReportLink), DomainError> {
    let token = new_secret();
    let link = ReportLink {
        job_id: job_id.to_owned(),
        expires_at: now + REPORT_LINK_LIFETIME_MS,
        created_at: now,
        created_by: user.to_owned(),
    };
    tx.put_report_link(&secret_hash(&token), &link)?;
    Ok((token, link))
}

/// The link a customer's token names, while it works.
pub fn customer_link(
    storage: &dyn Storage,
    token: &str,
    now: Millis,
) -> Result<ReportLink, DomainError> {
    let link = read(storage, |tx| {
        Ok::<_, DomainError>(tx.report_link(&secret_hash(token))?)
    })?
    .filter(|link| link.expires_at > now)
    .ok_or_else(|| {
        DomainError::refused(
            Refusal::NotFound,
            ErrorCode::UnknownReport,
            "this report link is unknown or has expired; ask the service desk for a new one",
        )
    })?;
    Ok(link)
}
