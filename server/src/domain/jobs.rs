//! Committing a merged job document: the one place that turns a document into stored state, so
//! sync and dispatch cannot disagree about projections or scope.

use std::collections::BTreeMap;

use fieldsync_protocol::Millis;
use fieldsync_protocol::SchemaError;
use fieldsync_protocol::access::inspect_change;
use fieldsync_protocol::automerge::{ActorId, AutoCommit, Change, ChangeHash};
use fieldsync_protocol::job::{Editor, Job, JobDoc, JobSummary, Role, read_job};
use fieldsync_protocol::rules::Status;

use crate::domain::error::{DomainError, Thing};
use crate::domain::facts::JobFacts;
use crate::storage::documents::heads_bytes;
use crate::storage::{
    AuditEntry, AuditKind, EventKind, NewChange, ReadTx, Storage, StorageError, StoredJob, WriteTx,
    write,
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
    /// Why the office made the changes (the reason given for a cancel or a reopen), recorded
    /// as the detail of their audit entries; empty when none was asked.
    pub note: &'a str,
}

/// No fields known in advance.
pub const NO_FIELDS: &BTreeMap<ChangeHash, Vec<String>> = &BTreeMap::new();

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
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

/// Loads a document from its stored bytes.
pub fn load(job_id: &str, bytes: &[u8]) -> Result<AutoCommit, DomainError> {
    AutoCommit::load(bytes)
        .map_err(|e| DomainError::Internal(format!("stored job `{job_id}` does not load: {e}")))
}

/// The stored document of `stored`, taken from the cache of loaded documents when it holds
/// the current one, else loaded from storage. Hand it back with [`keep`] after reading it;
/// [`commit`] keeps what it stores.
pub fn document(
    tx: &dyn ReadTx,
    job_id: &str,
    stored: &StoredJob,
) -> Result<AutoCommit, DomainError> {
    if let Some(doc) = tx.documents().take(job_id, &stored.heads) {
        return Ok(doc);
    }
    let bytes = tx
        .job_document(job_id)?
        .ok_or_else(|| DomainError::Internal(format!("stored job `{job_id}` has no document")))?
        .into_bytes();
    load(job_id, &bytes)
}

/// The typed view of a stored job, read from its document (which stays loaded).
pub fn read_stored(tx: &dyn ReadTx, job_id: &str, stored: &StoredJob) -> Result<Job, DomainError> {
    let doc = document(tx, job_id, stored)?;
    let job = read(job_id, &doc);
    keep(tx, job_id, doc);
    job
}

/// Hands a document read with [`document`] back to the cache for the next transaction.
pub fn keep(tx: &dyn ReadTx, job_id: &str, doc: AutoCommit) {
    tx.documents().keep(job_id, doc);
}

/// Changes appended since the snapshot are compacted into a new one once they reach half the
/// snapshot's size, and never below this many bytes. Rewriting the snapshot then costs, per
/// appended byte, a bounded multiple however long the job's history, and loading a document
/// applies a tail at most half its snapshot.
const COMPACT_TAIL_FLOOR: u64 = 8 * 1024;

/// Whether a document with a `snapshot_bytes` snapshot and a `tail_bytes` tail is compacted.
fn needs_compaction(snapshot_bytes: u64, tail_bytes: u64) -> bool {
    tail_bytes >= (snapshot_bytes / 2).max(COMPACT_TAIL_FLOOR)
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
/// `doc` comes with its typed view when the caller has already read it (reading a document
/// costs in proportion to its size, and a push is read once to check it).
///
/// Changes by the server's own actor are dispatch's edits, or, in a device's batch, the
/// compensations the server wrote; they are attributed to the server, and every device in scope
/// (the uploader included) receives them.
pub fn commit(
    tx: &mut dyn WriteTx,
    job_id: &str,
    (mut doc, read_already): (AutoCommit, Option<Job>),
    previous: Option<&StoredJob>,
    changes: &[Change],
    author: Author<'_>,
    now: Millis,
) -> Result<Committed, DomainError> {
    if changes.is_empty() {
        keep(tx, job_id, doc);
        return Ok(Committed::default());
    }
    let job = match read_already {
        Some(job) => job,
        None => read(job_id, &doc)?,
    };
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
            None => inspect_change(&doc, change, Role::Dispatch, author.user)
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
                author.note.to_owned()
            },
            ..change_audit(job_id, kind, change, now)
        })?;
        new_changes.push(NewChange {
            hash: change.hash().0,
            bytes: change.raw_bytes().to_vec(),
            origin_device: device.map(str::to_owned),
        });
    }
    let appended: u64 = new_changes.iter().map(|c| c.bytes.len() as u64).sum();
    let (snapshot_bytes, tail_bytes) =
        previous.map_or((0, 0), |p| (p.snapshot_bytes, p.tail_bytes));
    let snapshot = needs_compaction(snapshot_bytes, tail_bytes + appended).then(|| doc.save());
    tx.put_job(
        &StoredJob {
            summary: summary.clone(),
            heads: heads_bytes(&doc.get_heads()),
            snapshot_bytes: 0,
            tail_bytes: 0,
        },
        &new_changes,
        snapshot.as_deref(),
        now,
    )?;
    keep(tx, job_id, doc);
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
    // Most edits (a checklist tick, a note) change no fact: rewriting the row would only dirty
    // its pages and those of its indexes, and wake the ladder for a job it already judged.
    if previous_facts.as_ref() != Some(&facts) {
        tx.put_job_facts(&facts)?;
    }
    crate::domain::knowledge::record_job(tx, &job, &facts)?;
    crate::domain::customers::record_job(tx, &job, &facts)?;
    let previous = previous.map(|p| &p.summary);
    crate::domain::notify::after_commit(tx, &job, previous, &hex(&changes[0].hash().0), now)?;
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
        .ok_or_else(|| DomainError::not_found(Thing::Job, job_id))?;
    let mut doc = document(tx, job_id, &stored)?.with_actor(actor);
    let before = doc.get_heads();
    let mut job_doc = JobDoc::from_automerge(doc);
    f(&mut job_doc, editor)?;
    let mut doc = job_doc.into_automerge();
    let changes = doc.get_changes(&before);
    let committed = commit(
        tx,
        job_id,
        (doc, None),
        Some(&stored),
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use fieldsync_protocol::job::NewJob;

    use super::*;
    use crate::storage::read;
    use crate::storage::sqlite::SqliteStorage;

    /// Set in the child process that writes until it is killed: the database's path.
    const WRITER: &str = "FIELDSYNC_TEST_KILLED_WRITER";
    const JOB: &str = "job-under-fire";

    fn office() -> Editor {
        Editor {
            user: "dispatcher".into(),
            device: "server".into(),
            role: Role::Dispatch,
        }
    }

    fn author(editor: &Editor) -> Author<'_> {
        Author {
            user: &editor.user,
            device: None,
            fields: NO_FIELDS,
            binds_actors: false,
            note: "",
        }
    }

    /// The job's notes as stored, read straight from storage (not from any cache).
    fn stored_notes(path: &std::path::Path) -> (String, StoredJob) {
        let storage = SqliteStorage::open(path).expect("open");
        read(&storage, |tx| {
            let stored = tx.job(JOB)?.expect("job");
            let bytes = tx.job_document(JOB)?.expect("document").into_bytes();
            Ok::<_, DomainError>((read_job(&load(JOB, &bytes)?).expect("read").notes, stored))
        })
        .expect("read")
    }

    /// The child: appends the next number to the notes, one write transaction each, and prints
    /// each number once its transaction committed, until killed.
    fn write_until_killed(path: &str) {
        let storage = SqliteStorage::open(path).expect("open");
        let editor = office();
        let actor = ActorId::from(read(&storage, |tx| tx.server_actor()).expect("actor"));
        write(&storage, |tx| {
            if tx.job(JOB)?.is_none() {
                let new = NewJob {
                    id: JOB.into(),
                    ..NewJob::default()
                };
                let mut doc = JobDoc::create(actor.clone(), &new, &editor, 1)?.into_automerge();
                let changes = doc.get_changes(&[]);
                commit(tx, JOB, (doc, None), None, &changes, author(&editor), 1)?;
            }
            Ok::<_, DomainError>(())
        })
        .expect("create");
        let mut next = stored_notes(path.as_ref()).0.lines().count() + 1;
        while next < 10_000 {
            write(&storage, |tx| {
                edit(
                    tx,
                    JOB,
                    actor.clone(),
                    &editor,
                    author(&editor),
                    2,
                    |doc, _| {
                        let at = doc.read()?.notes.chars().count();
                        doc.splice_notes(at, 0, &format!("{next}\n"), 2)
                    },
                )
            })
            .expect("edit");
            println!("{next}");
            next += 1;
        }
    }

    #[test]
    fn a_server_killed_mid_write_loses_no_acknowledged_edit() {
        if let Ok(path) = std::env::var(WRITER) {
            write_until_killed(&path);
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let mut compacted = false;
        // Kill points spread over several compactions (one every few dozen notes).
        for kill_after in [40, 170, 330] {
            let mut child = Command::new(std::env::current_exe().expect("exe"))
                .args([
                    "--exact",
                    "domain::jobs::tests::a_server_killed_mid_write_loses_no_acknowledged_edit",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WRITER, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn the writer");
            let stdout = child.stdout.take().expect("stdout");
            let mut acknowledged = 0;
            for line in BufReader::new(stdout).lines() {
                if let Ok(n) = line.expect("line").trim().parse::<usize>() {
                    acknowledged = n;
                    if n >= kill_after {
                        break;
                    }
                }
            }
            child.kill().expect("kill");
            child.wait().expect("wait");
            assert_eq!(acknowledged, kill_after, "the writer died on its own");
            let (notes, stored) = stored_notes(&path);
            let numbers: Vec<usize> = notes.lines().map(|l| l.parse().expect("number")).collect();
            assert!(
                numbers.len() >= acknowledged,
                "{} < {acknowledged}",
                numbers.len()
            );
            assert_eq!(
                numbers,
                (1..=numbers.len()).collect::<Vec<_>>(),
                "in order, whole"
            );
            compacted |= stored.snapshot_bytes > 0;
            let conn = rusqlite::Connection::open(&path).expect("open");
            let check: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .expect("check");
            assert_eq!(check, "ok");
        }
        assert!(compacted, "no compaction happened between the kills");
    }
}
