//! Committing a merged job document: the one place that turns a document into stored state, so
//! sync and dispatch cannot disagree about projections or scope.

use std::collections::BTreeMap;

use fieldsync_protocol::Millis;
use fieldsync_protocol::SchemaError;
use fieldsync_protocol::access::inspect_change;
use fieldsync_protocol::automerge::{ActorId, AutoCommit, Change, ChangeHash};
use fieldsync_protocol::job::{Editor, Job, JobDoc, JobSummary, Role, read_job};
use fieldsync_protocol::rules::Status;

use crate::domain::error::DomainError;
use crate::domain::facts::JobFacts;
use crate::storage::{
    AuditEntry, AuditKind, EventKind, NewChange, Storage, StorageError, StoredJob, WriteTx, write,
};

/// Who a committed batch of changes comes from.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    /// The user: the phone's user, or the dispatcher acting through the office API.
    pub user: &'a str,
    /// The device that uploaded the changes; `None` for the office.
    pub device: Option<&'a str>,
    /// The fields changes touched, where already known (from enforcing the field rules); the
    /// others are inspected here.
    pub fields: &'a BTreeMap<ChangeHash, Vec<String>>,
    /// Whether the changes' actors not yet known are recorded as the device's.
    pub binds_actors: bool,
}

/// No fields known in advance.
pub const NO_FIELDS: &BTreeMap<ChangeHash, Vec<String>> = &BTreeMap::new();

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a commit changed, for the live nudge.
#[derive(Debug, Default)]
pub struct Committed {
    /// The new projection.
    pub summary: Option<JobSummary>,
    /// Users whose devices should sync now.
    pub nudge: Vec<String>,
}

/// Loads a stored document.
pub fn load(job_id: &str, bytes: &[u8]) -> Result<AutoCommit, DomainError> {
    AutoCommit::load(bytes)
        .map_err(|e| DomainError::Internal(format!("stored job `{job_id}` does not load: {e}")))
}

/// Reads a document's typed view.
pub fn read(job_id: &str, doc: &AutoCommit) -> Result<Job, DomainError> {
    read_job(doc)
        .map_err(|e| DomainError::Internal(format!("stored job `{job_id}` does not read: {e}")))
}

/// An audit entry about `change`: its actor, hash and the device clock it claims.
pub fn change_audit(job_id: &str, kind: AuditKind, change: &Change, now: Millis) -> AuditEntry {
    AuditEntry {
        actor: Some(hex(change.actor_id().to_bytes())),
        change: Some(hex(&change.hash().0)),
        device_time: Some(change.timestamp().saturating_mul(1000)),
        ..AuditEntry::new(job_id, kind, now)
    }
}

/// The device the server records as the author of its own actors' changes.
pub const SERVER_DEVICE: &str = "@server";

/// Stores `doc` (which gained `changes`) with its new projections (the summary and the service
/// facts), appends the changes to the history and the audit trail, and records scope events
/// when the job's holder changed (it was reassigned, unassigned, cancelled or reopened).
///
/// Changes by the server's own actor are dispatch's edits, or, in a device's batch, the
/// compensations the server wrote; they are attributed to the server, and every device in scope
/// (the uploader included) receives them.
pub fn commit(
    tx: &mut dyn WriteTx,
    job_id: &str,
    doc: &mut AutoCommit,
    previous: Option<&JobSummary>,
    changes: &[Change],
    author: Author<'_>,
    now: Millis,
) -> Result<Committed, DomainError> {
    if changes.is_empty() {
        return Ok(Committed::default());
    }
    let job = read(job_id, doc)?;
    let summary = job.summary();
    let server_actor = tx.server_actor()?;
    tx.record_actor(&server_actor, SERVER_DEVICE)?;
    let mut new_changes = Vec::with_capacity(changes.len());
    for change in changes {
        let actor = change.actor_id().to_bytes();
        let by_server = actor == server_actor.as_slice();
        let device = if by_server { None } else { author.device };
        if let Some(device) = device
            && author.binds_actors
        {
            tx.record_actor(actor, device)?;
        }
        let compensation = by_server && author.device.is_some();
        let fields = match author.fields.get(&change.hash()) {
            Some(known) => known.clone(),
            None => inspect_change(doc, change, Role::Dispatch, author.user)
                .fields
                .into_iter()
                .collect(),
        };
        let kind = if compensation {
            AuditKind::Compensation
        } else {
            AuditKind::Change
        };
        tx.append_audit(&AuditEntry {
            user: (!compensation).then(|| author.user.to_owned()),
            device: device.map(str::to_owned),
            fields,
            detail: if compensation {
                "restored fields the device may not change".into()
            } else {
                String::new()
            },
            ..change_audit(job_id, kind, change, now)
        })?;
        new_changes.push(NewChange {
            hash: change.hash().0,
            bytes: change.raw_bytes().to_vec(),
            origin_device: device.map(str::to_owned),
        });
    }
    tx.put_job(
        &StoredJob {
            doc: doc.save(),
            summary: summary.clone(),
        },
        &new_changes,
        now,
    )?;
    // Unreadable previous facts must not block the job's work: they are derived afresh.
    let previous_facts = match tx.job_facts(job_id) {
        Ok(facts) => facts,
        Err(StorageError::Corrupt(e)) => {
            tracing::warn!(job = job_id, error = %e, "stored job facts unreadable; derived afresh");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let facts = JobFacts::derive(&job, previous_facts.as_ref(), now);
    tx.put_job_facts(&facts)?;
    crate::domain::knowledge::record_job(tx, &job, &facts)?;
    let before = previous.and_then(JobSummary::holder);
    let after = summary.holder();
    let mut nudge: Vec<String> = summary.assignee.iter().cloned().collect();
    if before != after {
        if let Some(old) = before {
            // A closed job may have left the phone already.
            if tx.in_scope(job_id, old)? {
                record_scope(tx, job_id, old, EventKind::Leave, "", now)?;
            }
            nudge.push(old.to_owned());
        }
        if let Some(new) = after {
            record_scope(tx, job_id, new, EventKind::Enter, "", now)?;
        }
    } else if let Some(holder) = after
        && previous.is_some_and(|p| p.status == Status::Closed)
        && summary.status != Status::Closed
        && !tx.in_scope(job_id, holder)?
    {
        // Reopened after it left the installer's phone for being closed: it comes back.
        record_scope(tx, job_id, holder, EventKind::Enter, "", now)?;
    }
    Ok(Committed {
        summary: Some(summary),
        nudge,
    })
}

/// Applies `f` to the stored job `job_id` as `editor`, writing with `actor`, and commits what it
/// changed as `author` at `now` inside `tx`. Returns the projection (unchanged when `f` changed
/// nothing) and what the commit did.
pub fn edit(
    tx: &mut dyn WriteTx,
    job_id: &str,
    actor: ActorId,
    editor: &Editor,
    author: Author<'_>,
    now: Millis,
    f: impl FnOnce(&mut JobDoc, &Editor) -> Result<(), SchemaError>,
) -> Result<(JobSummary, Committed), DomainError> {
    let stored = tx
        .job(job_id)?
        .ok_or_else(|| DomainError::NotFound(format!("there is no job `{job_id}`")))?;
    let mut doc = load(job_id, &stored.doc)?.with_actor(actor);
    let before = doc.get_heads();
    let mut job_doc = JobDoc::from_automerge(doc);
    f(&mut job_doc, editor)?;
    let mut doc = job_doc.into_automerge();
    let changes = doc.get_changes(&before);
    let committed = commit(
        tx,
        job_id,
        &mut doc,
        Some(&stored.summary),
        &changes,
        author,
        now,
    )?;
    let summary = committed.summary.clone().unwrap_or(stored.summary);
    Ok((summary, committed))
}

/// Records that `job_id` entered or left `user`'s scope, and audits it with `detail`.
fn record_scope(
    tx: &mut dyn WriteTx,
    job_id: &str,
    user: &str,
    kind: EventKind,
    detail: &str,
    now: Millis,
) -> Result<(), DomainError> {
    tx.record_scope(job_id, user, kind, now)?;
    let audited = match kind {
        EventKind::Leave => AuditKind::Leave,
        _ => AuditKind::Enter,
    };
    tx.append_audit(&AuditEntry {
        user: Some(user.to_owned()),
        detail: detail.to_owned(),
        ..AuditEntry::new(job_id, audited, now)
    })?;
    Ok(())
}

/// How long a closed job nobody changes stays on its installer's phone by default.
pub const DEFAULT_KEEP_CLOSED: Millis = 7 * crate::domain::planning::DAY;

/// How many idle closed jobs one pass moves off phones (one write transaction); the next pass
/// takes the rest.
pub const RETIRE_BATCH: usize = 2_000;

/// Moves closed jobs nobody has changed for `keep_closed` off their installers' phones: each
/// leaves its assignee's scope (the phone deletes it once everything captured on it is on the
/// server; the job stays on the server and in the case library). Reopening brings it back.
/// Returns the `(job, installer)` pairs that left, for the nudge.
pub fn retire_closed(
    storage: &dyn Storage,
    keep_closed: Millis,
    now: Millis,
) -> Result<Vec<(String, String)>, DomainError> {
    write(storage, |tx| {
        let due = tx.idle_closed_in_scope(now.saturating_sub(keep_closed), RETIRE_BATCH)?;
        for (job, user) in &due {
            record_scope(
                tx,
                job,
                user,
                EventKind::Leave,
                "closed and unchanged long enough to leave the phone",
                now,
            )?;
        }
        Ok(due)
    })
}
