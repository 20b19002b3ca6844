//! Manuals, the product model of every job, the case library and the field tips documents.

use fieldsync_protocol::knowledge::{Case, Manual, ManualSummary};

use super::StorageError;

/// Reads of this area inside one transaction.
pub trait KnowledgeStore {
    /// Every published manual version, newest first.
    fn manual_summaries(&self) -> Result<Vec<ManualSummary>, StorageError>;
    /// The latest published version of a model's manual.
    fn latest_manual_version(&self, model: &str) -> Result<Option<u32>, StorageError>;
    /// A model's manual at `version`, or its latest.
    fn manual(&self, model: &str, version: Option<u32>) -> Result<Option<Manual>, StorageError>;
    /// The product models on `user`'s open jobs.
    fn models_of(&self, user: &str) -> Result<Vec<String>, StorageError>;
    /// Jobs stored before their product model was recorded.
    fn jobs_without_product(&self) -> Result<Vec<String>, StorageError>;
    /// Cases after `after` in library order, for one model or all, at most `limit`; with
    /// `removed`, also the tombstones of jobs that are no longer cases.
    fn cases(
        &self,
        model: Option<&str>,
        after: u64,
        limit: u64,
        removed: bool,
    ) -> Result<Vec<Case>, StorageError>;
    /// A model's field tips document.
    fn tips_doc(&self, model: &str) -> Result<Option<Vec<u8>>, StorageError>;
}

/// Writes of this area inside one transaction.
pub trait KnowledgeStoreMut: KnowledgeStore {
    /// Publishes a manual version.
    fn put_manual(&mut self, manual: &Manual) -> Result<(), StorageError>;
    /// Records a job's product model and its case (none: the job is not a case, and a case it
    /// was becomes a tombstone).
    fn put_job_product(
        &mut self,
        job_id: &str,
        model: &str,
        case: Option<&Case>,
    ) -> Result<(), StorageError>;
    /// Stores a model's field tips document.
    fn put_tips_doc(&mut self, model: &str, doc: &[u8]) -> Result<(), StorageError>;
}
