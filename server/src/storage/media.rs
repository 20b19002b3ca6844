//! The blob index: which blobs the server holds (verified), uploads under way, which jobs a
//! blob belongs to, and the customers' report links. The bytes live behind
//! [`super::blobs::BlobStore`].

use fieldsync_protocol::Millis;
use serde::Serialize;

use super::StorageError;

/// A blob the server holds, verified against its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BlobRecord {
    /// Its SHA-256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its MIME type, as the uploader declared it.
    pub mime: String,
    /// When the last byte arrived.
    pub created_at: Millis,
    /// Who uploaded it.
    pub created_by: String,
}

/// An upload under way: its bytes are staged in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The blob's SHA-256.
    pub sha256: String,
    /// Its declared total size.
    pub size: u64,
    /// Its declared MIME type.
    pub mime: String,
    /// When its first part arrived.
    pub started_at: Millis,
    /// Who started it.
    pub started_by: String,
}

/// A download link for a job's signed service report (stored by the hash of its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLink {
    /// The job.
    pub job_id: String,
    /// When the link stops working.
    pub expires_at: Millis,
    /// When it was made.
    pub created_at: Millis,
    /// Who made it.
    pub created_by: String,
}

/// Reads of this area inside one transaction.
pub trait BlobIndex {
    /// The bytes of every blob held.
    fn held_blob_bytes(&self) -> Result<u64, StorageError>;
    /// A blob the server holds.
    fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>, StorageError>;
    /// An upload under way.
    fn upload(&self, sha256: &str) -> Result<Option<PendingUpload>, StorageError>;
    /// The jobs a blob belongs to.
    fn blob_jobs(&self, sha256: &str) -> Result<Vec<String>, StorageError>;
    /// Whether a blob is attached to a published manual.
    fn is_manual_attachment(&self, sha256: &str) -> Result<bool, StorageError>;
    /// A report download link by the hash of its token.
    fn report_link(&self, token_hash: &[u8]) -> Result<Option<ReportLink>, StorageError>;
}

/// Writes of this area inside one transaction.
pub trait BlobIndexMut: BlobIndex {
    /// Records an upload under way (or replaces its declared size and type).
    fn put_upload(&mut self, upload: &PendingUpload) -> Result<(), StorageError>;
    /// Records a verified blob and ends its upload.
    fn finish_upload(&mut self, blob: &BlobRecord) -> Result<(), StorageError>;
    /// Forgets an upload whose bytes were discarded.
    fn discard_upload(&mut self, sha256: &str) -> Result<(), StorageError>;
    /// Records that a held blob belongs to a job.
    fn link_job_blob(&mut self, job_id: &str, sha256: &str) -> Result<(), StorageError>;
    /// Stores a report download link by the hash of its token.
    fn put_report_link(&mut self, token_hash: &[u8], link: &ReportLink)
    -> Result<(), StorageError>;
}
