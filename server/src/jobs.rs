//! Committing a merged job document: the one place that turns a document into stored state, so
//! sync and dispatch cannot disagree about projections or scope.

use fieldsync_protocol::Millis;
use fieldsync_protocol::automerge::{AutoCommit, Change};
use fieldsync_protocol::job::{Job, JobSummary, read_job};

use crate::error::AppError;
use crate::storage::{EventKind, NewChange, StoredJob, WriteTx};

/// What a commit changed, for the live nudge.
#[derive(Debug, Default)]
pub struct Committed {
    /// The new projection.
    pub summary: Option<JobSummary>,
    /// Users whose devices should sync now.
    pub nudge: Vec<String>,
}

/// Loads a stored document.
pub fn load(job_id: &str, bytes: &[u8]) -> Result<AutoCommit, AppError> {
    AutoCommit::load(bytes)
        .map_err(|e| AppError::Internal(format!("stored job `{job_id}` does not load: {e}")))
}

/// Reads a document's typed view.
pub fn read(job_id: &str, doc: &AutoCommit) -> Result<Job, AppError> {
    read_job(doc)
        .map_err(|e| AppError::Internal(format!("stored job `{job_id}` does not read: {e}")))
}

/// Stores `doc` (which gained `changes`) with its new projection, appends the changes to the
/// history, and records scope events when the assignee changed.
pub fn commit(
    tx: &mut dyn WriteTx,
    job_id: &str,
    doc: &mut AutoCommit,
    previous: Option<&JobSummary>,
    changes: &[Change],
    origin_device: Option<&str>,
    now: Millis,
) -> Result<Committed, AppError> {
    if changes.is_empty() {
        return Ok(Committed::default());
    }
    let summary = read(job_id, doc)?.summary();
    let new_changes: Vec<NewChange> = changes
        .iter()
        .map(|c| NewChange {
            hash: c.hash().0,
            bytes: c.raw_bytes().to_vec(),
        })
        .collect();
    if let Some(device) = origin_device {
        for change in changes {
            tx.record_actor(change.actor_id().to_bytes(), device)?;
        }
    }
    tx.put_job(
        &StoredJob {
            doc: doc.save(),
            summary: summary.clone(),
        },
        origin_device,
        &new_changes,
        now,
    )?;
    let before = previous.and_then(|p| p.assignee.clone());
    let mut nudge: Vec<String> = summary.assignee.iter().cloned().collect();
    if before != summary.assignee {
        if let Some(old) = &before {
            tx.record_scope(job_id, old, EventKind::Leave, now)?;
            nudge.push(old.clone());
        }
        if let Some(new) = &summary.assignee {
            tx.record_scope(job_id, new, EventKind::Enter, now)?;
        }
    }
    Ok(Committed {
        summary: Some(summary),
        nudge,
    })
}
