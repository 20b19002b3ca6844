//! The server side of a sync round, sans-IO: a decoded [`SyncRequest`] in, a [`SyncResponse`] out.
//!
//! Everything happens in one write transaction: the device's pushed changes are merged and
//! stored, the page of history the device has not seen is collected, and the device's cursors
//! are recorded; the response leaves only after the commit. A round is a pure function of the
//! request and the stored state, so a retried or duplicated request gets an equivalent answer.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_protocol::access::{Violation, compensate, inspect_change};
use fieldsync_protocol::automerge::sync::{Message, State, SyncDoc};
use fieldsync_protocol::automerge::{ActorId, AutoCommit, Change, ChangeHash};
use fieldsync_protocol::job::{Job, Role, read_job};
use fieldsync_protocol::wire::{
    JobChanges, JobDocument, PROTOCOL_VERSION, PhoneReminder, Refusal, ResyncMessage, SyncRequest,
    SyncResponse, ViolationReport,
};
use fieldsync_protocol::{Millis, holds_change};

use crate::domain::customers;
use crate::domain::error::{DomainError, ErrorCode, Problem};
use crate::domain::jobs::{self, Author};
use crate::storage::{
    AuditEntry, AuditKind, DeviceRecord, EventKind, Storage, StoredJob, WriteTx, read, write,
};

/// A device with this many rule violations is flagged for an admin.
pub const FLAG_AFTER_VIOLATIONS: u64 = 3;

/// Limits of one response page.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Stop adding history once the page holds this many bytes.
    pub bytes: usize,
    /// Read at most this many history entries per page.
    pub events: usize,
}

impl Default for PageLimits {
    fn default() -> Self {
        PageLimits {
            bytes: 2 << 20,
            events: 5_000,
        }
    }
}

/// The result of a round: the response and the users whose other devices should sync.
#[derive(Debug)]
pub struct RoundOutcome {
    /// What to send back.
    pub response: SyncResponse,
    /// Users to nudge.
    pub nudge: Vec<String>,
    /// Jobs whose reminders the device acknowledged in this round.
    pub acknowledged: Vec<String>,
}

struct DecodedPush {
    job: String,
    changes: Result<Vec<Change>, String>,
}

fn validate(request: &SyncRequest) -> Result<(), DomainError> {
    if request.v != PROTOCOL_VERSION {
        return Err(DomainError::bad_request(
            ErrorCode::UnsupportedVersion,
            format!("protocol version {} is not spoken here", request.v),
        )
        .with("version", request.v)
        .with("supported", PROTOCOL_VERSION));
    }
    if request.device.trim().is_empty() || request.device.len() > 128 {
        return Err(DomainError::bad_request(
            ErrorCode::BadDevice,
            "`device` must be 1 to 128 characters",
        ));
    }
    if request.user.trim().is_empty() || request.user.len() > 128 {
        return Err(DomainError::bad_request(
            ErrorCode::BadUser,
            "`user` must be 1 to 128 characters",
        ));
    }
    if request.actor.is_empty() || request.actor.len() > 32 {
        return Err(DomainError::bad_request(
            ErrorCode::BadActor,
            "`actor` must be 1 to 32 bytes",
        ));
    }
    if request.acknowledged.len() > MAX_ACKNOWLEDGED {
        return Err(DomainError::bad_request(
            ErrorCode::MalformedMessage,
            format!("`acknowledged` lists at most {MAX_ACKNOWLEDGED} reminders"),
        ));
    }
    if request
        .customers_token
        .as_ref()
        .is_some_and(|token| token.len() > MAX_TOKEN_BYTES)
    {
        return Err(DomainError::bad_request(
            ErrorCode::MalformedMessage,
            format!("`customers_token` is at most {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Decodes the pushed changes. A push with a change that does not decode is refused on its own
/// (nothing of it is stored), so one bad change never blocks the other jobs' changes.
fn decode_pushes(request: &SyncRequest) -> Vec<DecodedPush> {
    request
        .push
        .iter()
        .map(|push| {
            let changes = push
                .changes
                .iter()
                .enumerate()
                .map(|(i, bytes)| {
                    guarded(|| {
                        Change::from_bytes(bytes.to_vec())
                            .map_err(|e| format!("change {i} is not an Automerge change: {e}"))
                    })
                })
                .collect();
            DecodedPush {
                job: push.job.clone(),
                changes,
            }
        })
        .collect()
}

fn decode_resync(request: &SyncRequest) -> Vec<(String, Result<Message, String>)> {
    request
        .resync
        .iter()
        .map(|m| {
            let message = guarded(|| {
                Message::decode(&m.message)
                    .map_err(|e| format!("not an Automerge sync message: {e}"))
            });
            (m.job.clone(), message)
        })
        .collect()
}

/// Runs Automerge on untrusted bytes. Automerge can panic on some malformed changes (found by
/// the arbitrary-bytes property test) instead of returning an error; a hostile device must not
/// turn that into a failed round for everyone, so the panic becomes a refusal. The document it
/// was working on is discarded by the caller (nothing is stored after a refusal).
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("Automerge could not process it (malformed input)".into()))
}

fn refusal(job: &str, code: &str, reason: String) -> Refusal {
    Refusal {
        job: job.to_owned(),
        code: code.to_owned(),
        reason,
    }
}

/// The longest `customers_token` a request may carry (the server issues far shorter ones).
const MAX_TOKEN_BYTES: usize = 200;

/// The most reminders one request may acknowledge.
const MAX_ACKNOWLEDGED: usize = 1_000;

/// Acknowledges, as the device's installer, the reminders the device acknowledged that are
/// addressed to them by name; any other id (another person's, an unknown one, one acknowledged
/// already) changes nothing, so a repeat is harmless. Returns the jobs of those acknowledged
/// now, for the office's live views.
fn acknowledge_reminders(
    tx: &mut dyn WriteTx,
    request: &SyncRequest,
    now: Millis,
) -> Result<Vec<String>, DomainError> {
    let mut jobs = Vec::new();
    for &id in &request.acknowledged {
        let Some(reminder) = tx.reminder(id)? else {
            continue;
        };
        if reminder.to_user.as_deref() == Some(request.user.as_str())
            && reminder.acknowledged_at.is_none()
            && tx.acknowledge_reminder(id, &request.user, now)?
        {
            jobs.push(reminder.job_id);
        }
    }
    Ok(jobs)
}

/// The open reminders addressed to `user`, as a phone keeps them.
fn phone_reminders(tx: &dyn WriteTx, user: &str) -> Result<Vec<PhoneReminder>, DomainError> {
    Ok(tx
        .open_reminders_to(user)?
        .into_iter()
        .map(|r| PhoneReminder {
            id: r.id,
            job: r.job_id,
            rule: r.rule,
            ring: r.ring,
            clock: r.clock,
            message: r.message,
            created_at: r.created_at,
        })
        .collect())
}

/// Handles one sync round.
pub fn handle(
    storage: &dyn Storage,
    request: &SyncRequest,
    limits: PageLimits,
    now: Millis,
) -> Result<RoundOutcome, DomainError> {
    validate(request)?;
    let pushes = decode_pushes(request);
    let resync = decode_resync(request);
    let mut outcome = write(storage, |tx| {
        let server = tx.server_id()?;
        if let Some(owner) = tx.device_for_actor(&request.actor)?
            && owner != request.device
        {
            return Err(DomainError::forbidden(
                ErrorCode::ForgedActor,
                "the actor id belongs to another device",
            ));
        }
        let device = tx.device(&request.device)?;
        if let Some(device) = &device
            && device.user_id != request.user
        {
            return Err(DomainError::conflict(
                Problem::DeviceOfAnotherUser,
                format!(
                    "device `{}` belongs to another user; sign in again on a fresh install",
                    request.device
                ),
            )
            .with("device", request.device.as_str()));
        }
        // Either side lost state: the device presents a cursor older than one it already
        // acknowledged (restored from a backup), or newer than any we issued (our database was
        // restored from an older backup, or is not the one the device synced with).
        let reset = match &device {
            Some(d) => {
                request.cursor < d.last_presented_cursor || request.cursor > d.last_issued_cursor
            }
            None => request.cursor != 0,
        };

        let mut response = SyncResponse {
            v: PROTOCOL_VERSION,
            server,
            reset,
            ..SyncResponse::default()
        };
        let mut nudge = BTreeSet::new();
        for push in pushes {
            ingest(
                tx,
                &request.device,
                &request.user,
                push,
                &mut response,
                &mut nudge,
                now,
            )?;
        }
        for (job, message) in resync {
            if let Some(answer) = resync_round(
                tx,
                &request.device,
                &request.user,
                &job,
                message,
                &mut response,
                &mut nudge,
                now,
            )? {
                response.resync.push(answer);
            }
        }
        let after = if reset { 0 } else { request.cursor };
        // Changes the device itself uploaded come back when it has not acknowledged the answer
        // that accepted them (it presents an older cursor than the one last issued): the answer
        // was lost, or the device was restored from a backup taken before it and lost them.
        let start = PageStart {
            after,
            own_through: match &device {
                Some(d) if request.cursor < d.last_issued_cursor => d.last_issued_cursor,
                _ => 0,
            },
            // A device never answered with a cursor holds no job of the server's: telling it
            // which jobs left its scope would be noise (a year of closed jobs, on first sync).
            holds_nothing: request.cursor == 0
                && request.push.is_empty()
                && request.resync.is_empty()
                && device.as_ref().is_none_or(|d| d.last_issued_cursor == 0),
        };
        let acknowledged = acknowledge_reminders(tx, request, now)?;
        collect_page(tx, request, start, limits, &mut response, now)?;
        // The installer's reminders, whole, once the round's pages are done.
        if !response.more {
            response.reminders = Some(phone_reminders(tx, &request.user)?);
        }

        tx.record_actor(&request.actor, &request.device)?;
        tx.put_device(&DeviceRecord {
            device_id: request.device.clone(),
            user_id: request.user.clone(),
            actor: request.actor.to_vec(),
            // After a reset the presented cursor proved nothing. Recording the cursor issued now
            // as "presented" means a retry with the old cursor (the reset response was lost) is
            // reset again, while the device's next normal request is not.
            last_presented_cursor: if reset {
                response.cursor
            } else {
                request.cursor
            },
            last_issued_cursor: response.cursor,
            last_seen: now,
        })?;
        crate::domain::fleet::record_round(tx, request, now)?;
        Ok(RoundOutcome {
            response,
            nudge: nudge.into_iter().collect(),
            acknowledged,
        })
    })?;
    // The customer cards, once the round's pages are done: read after its commit, so that they
    // never hold up other writers, and best effort, so that a customer's broken record never
    // fails the round that carries the installer's work (the device keeps what it has).
    if !outcome.response.more {
        let token = request.customers_token.as_deref();
        outcome.response.customers = read(storage, |tx| {
            customers::phone_cards(tx, &request.user, token, now)
        })
        .unwrap_or_else(|e| {
            tracing::warn!(user = %request.user, error = %e, "customer cards not built");
            None
        });
    }
    Ok(outcome)
}

/// The stored job, if `user`'s devices may send changes for it: it exists and is assigned to
/// them, or was (a job reassigned while its installer was offline still receives that
/// installer's captured work). Otherwise the refusal is added to the response.
fn pushable_job(
    tx: &dyn WriteTx,
    job: &str,
    user: &str,
    response: &mut SyncResponse,
) -> Result<Option<StoredJob>, DomainError> {
    let Some(stored) = tx.job(job)? else {
        response.refused.push(refusal(
            job,
            "unknown_job",
            format!("there is no job `{job}`"),
        ));
        return Ok(None);
    };
    if stored.summary.holder() != Some(user) && !tx.ever_in_scope(job, user)? {
        response.refused.push(refusal(
            job,
            "out_of_scope",
            format!("job `{job}` is not assigned to `{user}`"),
        ));
        return Ok(None);
    }
    Ok(Some(stored))
}

fn ingest(
    tx: &mut dyn WriteTx,
    device: &str,
    user: &str,
    push: DecodedPush,
    response: &mut SyncResponse,
    nudge: &mut BTreeSet<String>,
    now: Millis,
) -> Result<(), DomainError> {
    let Some(stored) = pushable_job(tx, &push.job, user, response)? else {
        return Ok(());
    };
    let changes = match push.changes {
        Ok(changes) => changes,
        Err(reason) => {
            response.refused.push(refusal(
                &push.job,
                "malformed_change",
                format!("job `{}`: {reason}", push.job),
            ));
            return Ok(());
        }
    };
    let from = Origin {
        device,
        user,
        fallback: false,
    };
    if store_device_changes(tx, from, &push.job, &stored, changes, response, nudge, now)? {
        response.accepted.push(push.job);
    }
    Ok(())
}

/// Who sent changes, and how.
#[derive(Clone, Copy)]
struct Origin<'a> {
    device: &'a str,
    user: &'a str,
    /// Gained through the fallback (Automerge sync messages) rather than pushed.
    fallback: bool,
}

/// Stores changes a device sent for one job: checks whose actors they carry, applies them one
/// at a time holding each to the field rules (compensating at once), and commits. Returns
/// whether they are stored (`false` when the job's changes were refused: the refusal is in the
/// response and nothing is stored).
#[allow(clippy::too_many_arguments)]
fn store_device_changes(
    tx: &mut dyn WriteTx,
    from: Origin<'_>,
    job: &str,
    stored: &StoredJob,
    changes: Vec<Change>,
    response: &mut SyncResponse,
    nudge: &mut BTreeSet<String>,
    now: Millis,
) -> Result<bool, DomainError> {
    let mut doc = server_doc(tx, job, stored)?;
    // Changes the server already has are a harmless replay.
    let pending: Vec<Change> = changes
        .into_iter()
        .filter(|c| !holds_change(&mut doc, &c.hash()))
        .collect();
    if pending.is_empty() {
        jobs::keep(tx, job, doc);
        return Ok(true);
    }
    if let Some(reason) = forged_actor(tx, from, &pending)? {
        response.refused.push(refusal(
            job,
            "forged_actor",
            format!("job `{job}`: {reason}"),
        ));
        return Ok(false);
    }
    // Fast path: a push that breaks no rule is applied in one batch and read once. Anything
    // else is applied again from the stored document one change at a time, holding each to
    // the field rules, with the schema checked once at the end; only when that fails is it
    // applied a third time checking the schema after every change, to put back exactly what
    // broke it.
    let (mut outcome, mut read) = match apply_clean(doc, &pending, from.user) {
        Some((applied, read)) => (applied, Some(read)),
        None => (
            apply_pushed(
                server_doc(tx, job, stored)?,
                pending.clone(),
                from.user,
                now,
                false,
            ),
            None,
        ),
    };
    if read.is_none()
        && let Applied::Done { doc, .. } = &outcome
    {
        match read_job(doc.as_ref()) {
            Ok(job) => read = Some(job),
            Err(_) => {
                outcome = apply_pushed(server_doc(tx, job, stored)?, pending, from.user, now, true);
            }
        }
    }
    let (mut doc, start, enforced) = match outcome {
        Applied::Done {
            doc,
            start,
            enforced,
        } => (*doc, start, enforced),
        Applied::Refused(reason) => {
            response.refused.push(refusal(
                job,
                "invalid_change",
                format!("job `{job}`: {reason}"),
            ));
            return Ok(false);
        }
        Applied::Missing if from.fallback => {
            response.refused.push(refusal(
                job,
                "invalid_sync_message",
                format!("job `{job}`: the changes depend on history that was not sent"),
            ));
            return Ok(false);
        }
        Applied::Missing => {
            // The changes build on history we do not have (our database was restored, or the
            // device skipped some): the Automerge sync fallback finds out what is missing.
            response.resync_needed.push(job.to_owned());
            return Ok(false);
        }
    };
    let read = match read.map_or_else(|| read_job(&doc), Ok) {
        Ok(read) => read,
        Err(e) => {
            response
                .refused
                .push(refusal(job, "invalid_document", e.to_string()));
            return Ok(false);
        }
    };
    let gained = doc.get_changes(&start);
    let committed = jobs::commit(
        tx,
        job,
        (doc, Some(read)),
        Some(stored),
        &gained,
        Author {
            user: from.user,
            device: Some(from.device),
            fields: &enforced.fields,
            // Actors met only in the fallback may be other devices' whose records a restore
            // lost: binding them to the relaying device would lock their owners out.
            binds_actors: !from.fallback,
            note: "",
        },
        now,
    )?;
    nudge.extend(committed.nudge);
    record_violations(tx, job, from, &enforced.broken, response, now)?;
    flag_work_from_previous_assignee(tx, job, stored, from, now)?;
    Ok(true)
}

/// Why `changes` cannot be the sending device's, if they cannot. A device pushes only its own
/// changes. In the fallback it may also relay changes of its own user's other devices (after a
/// server restore they hold what the server lost); never another user's or the server's.
fn forged_actor(
    tx: &dyn WriteTx,
    from: Origin<'_>,
    changes: &[Change],
) -> Result<Option<String>, DomainError> {
    for change in changes {
        let Some(owner) = tx.device_for_actor(change.actor_id().to_bytes())? else {
            continue;
        };
        if owner == from.device {
            continue;
        }
        let same_user = from.fallback && tx.device(&owner)?.is_some_and(|d| d.user_id == from.user);
        if !same_user {
            return Ok(Some(format!(
                "change {} is signed with an actor id that belongs to another device",
                change.hash()
            )));
        }
    }
    Ok(None)
}

/// The stored document, editing as the server (for compensating changes).
fn server_doc(
    tx: &dyn WriteTx,
    job_id: &str,
    stored: &StoredJob,
) -> Result<AutoCommit, DomainError> {
    let actor = ActorId::from(tx.server_actor()?.as_slice());
    Ok(jobs::document(tx, job_id, stored)?.with_actor(actor))
}

/// What applying a push gave.
enum Applied {
    /// Every change is in `doc` (with compensations after the ones that broke rules).
    Done {
        doc: Box<AutoCommit>,
        /// The heads before the push.
        start: Vec<ChangeHash>,
        enforced: Enforced,
    },
    /// Automerge refused a change (or failed on it).
    Refused(String),
    /// Some change depends on history the server does not have.
    Missing,
}

/// Applies pushed changes in one batch, the common case (Automerge does part of its work once
/// per batch rather than once per change), and reads the result. `None` when anything is off
/// (Automerge refuses a change, one depends on history the server lacks, one breaks a field
/// rule, or the document no longer reads); [`apply_pushed`] then finds out which and puts back
/// exactly what broke. A change is held to the rules as of itself (the paths it touched
/// resolved at its own heads), so later changes of the batch do not hide a broken rule: one
/// that alters an entry an earlier one appended is itself a violation.
fn apply_clean(mut doc: AutoCommit, pending: &[Change], user: &str) -> Option<(Applied, Job)> {
    let start = doc.get_heads();
    guarded(|| {
        doc.apply_changes(pending.iter().cloned())
            .map_err(|e| e.to_string())
    })
    .ok()?;
    let mut enforced = Enforced::default();
    for change in pending {
        if !holds_change(&mut doc, &change.hash()) {
            return None;
        }
        let inspection =
            guarded(|| Ok(inspect_change(&doc, change, Role::Installer, user))).ok()?;
        if !inspection.violations.is_empty() {
            return None;
        }
        enforced
            .fields
            .insert(change.hash(), inspection.fields.into_iter().collect());
    }
    let read = read_job(&doc).ok()?;
    Some((
        Applied::Done {
            doc: Box::new(doc),
            start,
            enforced,
        },
        read,
    ))
}

/// Applies pushed changes one at a time, in the order given, holding each to the field rules
/// (and with `check_schema_each`, to the schema) as soon as it is in, so the changes after it
/// build on a document that keeps them.
fn apply_pushed(
    mut doc: AutoCommit,
    mut pending: Vec<Change>,
    user: &str,
    now: Millis,
    check_schema_each: bool,
) -> Applied {
    let start = doc.get_heads();
    let mut enforced = Enforced::default();
    for change in pending.clone() {
        if holds_change(&mut doc, &change.hash()) {
            continue;
        }
        let before = doc.get_heads();
        if let Err(reason) = guarded(|| doc.apply_changes([change]).map_err(|e| e.to_string())) {
            return Applied::Refused(reason);
        }
        // A change can bring queued ones with it (pushed out of causal order).
        let (applied, waiting): (Vec<Change>, Vec<Change>) = pending
            .into_iter()
            .partition(|c| holds_change(&mut doc, &c.hash()));
        pending = waiting;
        for change in &applied {
            let held = guarded(|| {
                enforced
                    .enforce(&mut doc, &before, change, user, now, check_schema_each)
                    .map_err(|e| e.to_string())
            });
            if let Err(reason) = held {
                return Applied::Refused(format!("the change cannot be checked: {reason}"));
            }
        }
    }
    if !pending.is_empty() {
        return Applied::Missing;
    }
    Applied::Done {
        doc: Box::new(doc),
        start,
        enforced,
    }
}

/// A change that broke a rule.
struct Broken {
    change: Change,
    violation: Violation,
}

/// What holding changes to the field rules found.
#[derive(Default)]
struct Enforced {
    /// The rules broken, per change.
    broken: Vec<Broken>,
    /// The fields each change touched, for the audit trail.
    fields: BTreeMap<ChangeHash, Vec<String>>,
}

impl Enforced {
    /// Holds one applied change to the field rules: finds what it broke and writes the
    /// compensating change at once. With `check_schema`, a change that leaves the document
    /// unreadable has every field it touched put back too.
    fn enforce(
        &mut self,
        doc: &mut AutoCommit,
        before: &[ChangeHash],
        change: &Change,
        user: &str,
        now: Millis,
        check_schema: bool,
    ) -> Result<(), fieldsync_protocol::SchemaError> {
        let inspection = inspect_change(doc, change, Role::Installer, user);
        let message = format!("compensate {}", change.hash());
        let seconds = now.div_euclid(1000);
        let mut broken = inspection.violations.clone();
        compensate(doc, before, &broken, &message, seconds)?;
        if check_schema && let Err(e) = read_job(doc) {
            let repairs = inspection.schema_repairs(&e.to_string());
            compensate(doc, before, &repairs, &message, seconds)?;
            broken.extend(repairs);
        }
        self.fields
            .insert(change.hash(), inspection.fields.into_iter().collect());
        self.broken
            .extend(broken.into_iter().map(|violation| Broken {
                change: change.clone(),
                violation,
            }));
        Ok(())
    }
}

/// Records violations in the audit trail and the response; a device whose own changes keep
/// breaking rules (three changes) is flagged for an admin. Changes it relayed for its user's
/// other devices are compensated the same way but not held against it.
fn record_violations(
    tx: &mut dyn WriteTx,
    job: &str,
    from: Origin<'_>,
    broken: &[Broken],
    response: &mut SyncResponse,
    now: Millis,
) -> Result<(), DomainError> {
    let mut counted = false;
    for Broken { change, violation } in broken {
        let owner = tx.device_for_actor(change.actor_id().to_bytes())?;
        let own = owner.is_none_or(|owner| owner == from.device);
        counted |= own;
        tracing::warn!(job, device = from.device, user = from.user, field = %violation.field, reason = %violation.reason, "field rule violation");
        tx.append_audit(&AuditEntry {
            user: Some(from.user.to_owned()),
            device: own.then(|| from.device.to_owned()),
            fields: vec![violation.field.clone()],
            detail: violation.reason.clone(),
            ..jobs::change_audit(job, AuditKind::Violation, change, now)
        })?;
        response.violations.push(ViolationReport {
            job: job.to_owned(),
            change: change.hash().0.to_vec().into(),
            field: violation.field.clone(),
            reason: violation.reason.clone(),
        });
    }
    if counted && tx.violation_count(from.device)? >= FLAG_AFTER_VIOLATIONS {
        tx.flag_device(from.device, now)?;
    }
    Ok(())
}

/// A job reassigned while its previous installer worked offline keeps that work and is flagged
/// for dispatch.
fn flag_work_from_previous_assignee(
    tx: &mut dyn WriteTx,
    job: &str,
    stored: &StoredJob,
    from: Origin<'_>,
    now: Millis,
) -> Result<(), DomainError> {
    let (device, user) = (from.device, from.user);
    if stored.summary.holder() == Some(user) {
        return Ok(());
    }
    tx.append_audit(&AuditEntry {
        user: Some(user.to_owned()),
        device: Some(device.to_owned()),
        detail: format!("work arrived from the previous assignee `{user}`"),
        ..AuditEntry::new(job, AuditKind::Flag, now)
    })?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn resync_round(
    tx: &mut dyn WriteTx,
    device: &str,
    user: &str,
    job: &str,
    message: Result<Message, String>,
    response: &mut SyncResponse,
    nudge: &mut BTreeSet<String>,
    now: Millis,
) -> Result<Option<ResyncMessage>, DomainError> {
    let Some(stored) = pushable_job(tx, job, user, response)? else {
        return Ok(None);
    };
    // Automerge's protocol runs on a scratch copy, to learn which changes the device sent; they
    // are then stored like pushed ones, one at a time under the field rules. The server keeps no
    // per-device sync state: each fallback round starts from a fresh state primed by the
    // device's message, which is enough for the protocol to converge.
    let mut scratch = server_doc(tx, job, &stored)?;
    let before = scratch.get_heads();
    let mut state = State::new();
    let received = message.and_then(|message| {
        guarded(|| {
            scratch
                .sync()
                .receive_sync_message(&mut state, message)
                .map_err(|e| format!("the sync message does not apply: {e}"))
        })
    });
    if let Err(reason) = received {
        response.refused.push(refusal(
            job,
            "invalid_sync_message",
            format!("job `{job}`: {reason}"),
        ));
        return Ok(None);
    }
    let sent = scratch.get_changes(&before);
    let from = Origin {
        device,
        user,
        fallback: true,
    };
    if !store_device_changes(tx, from, job, &stored, sent, response, nudge, now)? {
        return Ok(None);
    }
    let stored = tx
        .job(job)?
        .ok_or_else(|| DomainError::Internal(format!("job `{job}` vanished")))?;
    let mut doc = jobs::document(tx, job, &stored)?;
    // A device that no longer holds the job still delivers its captured work, but learns
    // nothing new about it: it is answered from the document as far as it already knows it.
    let message = if tx.in_scope(job, user)? {
        doc.sync().generate_sync_message(&mut state)
    } else {
        let theirs: Vec<ChangeHash> = state
            .their_heads
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|h| holds_change(&mut doc, h))
            .collect();
        doc.fork_at(&theirs)
            .map_err(|e| DomainError::Internal(format!("job `{job}`: {e}")))?
            .sync()
            .generate_sync_message(&mut state)
    };
    jobs::keep(tx, job, doc);
    Ok(message.map(|m| ResyncMessage {
        job: job.to_owned(),
        message: m.encode().into(),
    }))
}

/// Whether the device was already told to purge the job since it last left the user's scope
/// (a retried or reset page says it again; the audit trail says it once).
fn told_to_purge(tx: &dyn WriteTx, job: &str, request: &SyncRequest) -> Result<bool, DomainError> {
    let trail = tx.audit(Some(job), None, usize::MAX >> 1)?;
    let since_leave = trail
        .iter()
        .rposition(|e| e.kind == AuditKind::Leave && e.user.as_deref() == Some(&request.user))
        .map_or(&trail[..], |at| &trail[at..]);
    Ok(since_leave
        .iter()
        .any(|e| e.kind == AuditKind::Purge && e.device.as_deref() == Some(&request.device)))
}

/// Where a page starts, and what the device already holds.
struct PageStart {
    /// The history position after which the page begins.
    after: u64,
    /// The device's own uploads at or before this come back (accepted in an answer it has not
    /// acknowledged); later ones are left out (it holds them).
    own_through: u64,
    /// The device holds none of the server's jobs, so it is told of none leaving.
    holds_nothing: bool,
}

/// Fills the response with the history after `start.after` that concerns the device, up to the
/// page limits, and sets the cursor.
fn collect_page(
    tx: &mut dyn WriteTx,
    request: &SyncRequest,
    start: PageStart,
    limits: PageLimits,
    response: &mut SyncResponse,
    now: Millis,
) -> Result<(), DomainError> {
    let PageStart {
        after,
        own_through,
        holds_nothing,
    } = start;
    // Read the high-water mark first: everything up to it is either in this page or later pages.
    let max_seq = tx.max_seq()?;
    let events = tx.events_for_user(&request.user, after, limits.events)?;
    let full_page = events.len() == limits.events;
    let mut changes: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut documents: BTreeSet<String> = BTreeSet::new();
    let mut left: BTreeSet<String> = BTreeSet::new();
    let mut entered_since: BTreeMap<String, bool> = BTreeMap::new();
    let mut bytes = 0;
    let mut cursor = max_seq;
    let mut more = false;
    for event in &events {
        match event.kind {
            EventKind::Enter => {
                // Whole documents are read only for jobs in scope now, once per page.
                if documents.contains(&event.job_id)
                    || !tx.in_scope(&event.job_id, &request.user)?
                {
                    continue;
                }
                let Some(stored) = tx.job_document(&event.job_id)? else {
                    continue;
                };
                let doc = stored.into_bytes();
                documents.insert(event.job_id.clone());
                left.remove(&event.job_id);
                changes.remove(&event.job_id);
                bytes += doc.len();
                response.documents.push(JobDocument {
                    job: event.job_id.clone(),
                    doc: doc.into(),
                });
            }
            EventKind::Leave => {
                if !holds_nothing
                    && !tx.in_scope(&event.job_id, &request.user)?
                    && left.insert(event.job_id.clone())
                    && !told_to_purge(tx, &event.job_id, request)?
                {
                    tx.append_audit(&AuditEntry {
                        user: Some(request.user.clone()),
                        device: Some(request.device.clone()),
                        detail: "the device was told to purge the job once its work is safe".into(),
                        ..AuditEntry::new(&event.job_id, AuditKind::Purge, now)
                    })?;
                }
            }
            EventKind::Change => {
                if documents.contains(&event.job_id) {
                    continue;
                }
                // The device's own uploads come back only when it lost state, or has not
                // acknowledged the answer that accepted them.
                if !response.reset
                    && event.seq > own_through
                    && event.origin_device.as_deref() == Some(request.device.as_str())
                {
                    continue;
                }
                // A job that entered the scope after the cursor arrives whole at its entry event.
                let entered = match entered_since.get(&event.job_id) {
                    Some(entered) => *entered,
                    None => {
                        let entered = tx
                            .latest_entry(&event.job_id, &request.user)?
                            .is_some_and(|seq| seq > after);
                        entered_since.insert(event.job_id.clone(), entered);
                        entered
                    }
                };
                if entered {
                    continue;
                }
                if let Some(change) = &event.change {
                    bytes += change.len();
                    changes
                        .entry(event.job_id.clone())
                        .or_default()
                        .push(change.clone());
                }
            }
        }
        if bytes >= limits.bytes {
            cursor = event.seq;
            more = true;
            break;
        }
    }
    if full_page && !more {
        cursor = events.last().map_or(max_seq, |e| e.seq);
        more = true;
    }
    response.changes = changes
        .into_iter()
        .map(|(job, changes)| JobChanges {
            job,
            changes: changes.into_iter().map(Into::into).collect(),
        })
        .collect();
    response.left = left.into_iter().collect();
    response.cursor = cursor;
    response.more = more;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    fn request(cursor: u64) -> SyncRequest {
        SyncRequest {
            v: 1,
            device: "d1".into(),
            user: "u1".into(),
            actor: vec![1; 16].into(),
            cursor,
            ..Default::default()
        }
    }

    #[test]
    fn cursor_regression_and_unknown_cursor_reset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("s.db")).expect("open");
        let first = handle(&storage, &request(0), PageLimits::default(), 1).expect("round");
        assert!(!first.response.reset);
        // A brand-new device record that claims a cursor: the server cannot trust it.
        let mut stranger = request(7);
        stranger.device = "d2".into();
        stranger.actor = vec![2; 16].into();
        assert!(
            handle(&storage, &stranger, PageLimits::default(), 1)
                .expect("round")
                .response
                .reset
        );
        // Beyond what was issued to d1.
        assert!(
            handle(
                &storage,
                &request(first.response.cursor + 5),
                PageLimits::default(),
                1
            )
            .expect("round")
            .response
            .reset
        );
    }

    #[test]
    fn an_actor_belongs_to_one_device() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("s.db")).expect("open");
        handle(&storage, &request(0), PageLimits::default(), 1).expect("round");
        let mut impostor = request(0);
        impostor.device = "d2".into();
        let error = handle(&storage, &impostor, PageLimits::default(), 1).expect_err("forged");
        assert!(
            matches!(
                error,
                DomainError::Forbidden {
                    code: ErrorCode::ForgedActor,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_malformed_change_is_refused_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("s.db")).expect("open");
        let mut bad = request(0);
        bad.push.push(JobChanges {
            job: "j".into(),
            changes: vec![vec![0xde, 0xad].into()],
        });
        let outcome = handle(&storage, &bad, PageLimits::default(), 1).expect("round");
        // The job does not exist, so that is what is said first; nothing is stored either way.
        assert_eq!(outcome.response.refused.len(), 1);
        assert_eq!(outcome.response.refused[0].code, "unknown_job");
        assert!(outcome.response.accepted.is_empty());
    }
}
