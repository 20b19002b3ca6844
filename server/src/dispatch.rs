//! What dispatch does to jobs: open, schedule, assign, move status. Every edit is an Automerge
//! change by the server's actor, committed like a device's.

use fieldsync_protocol::automerge::{ActorId, AutoCommit};
use fieldsync_protocol::job::{
    Appointment, Editor, Job, JobDoc, JobKind, JobSummary, NewJob, Role, Tier,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Millis, SchemaError};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::jobs::Author;
use crate::jobs::{self, Committed};
use crate::storage::{AuditEntry, Storage, User, read, write};

/// SLA targets in milliseconds, per tier. PRODUCT.md's defaults; all configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTargets {
    /// Call received → job created.
    pub respond_ms: Millis,
    /// Job created → dispatched.
    pub dispatch_ms: Millis,
    /// Dispatched → technically resolved.
    pub resolve_ms: Millis,
    /// Complaint → feedback to the customer.
    pub feedback_ms: Millis,
}

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;

impl SlaTargets {
    /// The standard tier's defaults: 1 minute, 5 minutes, 48 hours, 48 hours.
    pub const STANDARD: SlaTargets = SlaTargets {
        respond_ms: MINUTE,
        dispatch_ms: 5 * MINUTE,
        resolve_ms: 48 * HOUR,
        feedback_ms: 48 * HOUR,
    };
    /// VIP defaults: tighter dispatch and resolution.
    pub const VIP: SlaTargets = SlaTargets {
        respond_ms: MINUTE,
        dispatch_ms: 2 * MINUTE,
        resolve_ms: 24 * HOUR,
        feedback_ms: 24 * HOUR,
    };

    /// The targets for a tier.
    pub fn for_tier(tier: Tier) -> SlaTargets {
        match tier {
            Tier::Standard => SlaTargets::STANDARD,
            Tier::Vip => SlaTargets::VIP,
        }
    }
}

/// A job with its projection, as the dispatch API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// The projection row.
    pub summary: JobSummary,
    /// The whole read model.
    pub job: Job,
    /// The job's audit trail: every change (who, which fields, device and server time), scope
    /// move, violation, compensation, purge and flag, oldest first.
    pub history: Vec<AuditEntry>,
    /// The document's current heads (hex change hashes), for comparing replicas.
    pub heads: Vec<String>,
}

/// The dispatch service over a storage backend.
pub struct Dispatch<'s> {
    storage: &'s dyn Storage,
    editor: Editor,
}

impl<'s> Dispatch<'s> {
    /// Dispatch acting as `user`.
    pub fn new(storage: &'s dyn Storage, user: &str) -> Self {
        Dispatch {
            storage,
            editor: Editor {
                user: user.to_owned(),
                device: "server".into(),
                role: Role::Dispatch,
            },
        }
    }

    fn author(&self) -> Author<'_> {
        Author {
            user: &self.editor.user,
            device: None,
            fields: jobs::NO_FIELDS,
            binds_actors: true,
        }
    }

    /// Opens a job from a call. Fills the id, the call time and the SLA deadlines when absent.
    pub fn create(
        &self,
        mut new: NewJob,
        now: Millis,
    ) -> Result<(JobSummary, Committed), AppError> {
        if new.customer.name.trim().is_empty() {
            return Err(AppError::bad_request(
                "invalid_job",
                "customer.name is required",
            ));
        }
        if new.id.is_empty() {
            new.id = format!("job-{}", uuid::Uuid::new_v4().simple());
        }
        if new.call_received_at == 0 {
            new.call_received_at = now;
        }
        if new.call_received_at > now + MINUTE {
            return Err(AppError::bad_request(
                "invalid_job",
                "call_received_at is in the future",
            ));
        }
        let targets = SlaTargets::for_tier(new.customer.tier);
        let received = new.call_received_at;
        new.sla
            .respond_by
            .get_or_insert(received + targets.respond_ms);
        new.sla
            .dispatch_by
            .get_or_insert(received + targets.dispatch_ms);
        new.sla
            .resolve_by
            .get_or_insert(received + targets.resolve_ms);
        if new.kind == JobKind::Complaint {
            new.sla
                .feedback_by
                .get_or_insert(received + targets.feedback_ms);
        }
        write(self.storage, |tx| {
            if tx.job(&new.id)?.is_some() {
                return Err(AppError::Conflict(format!(
                    "job `{}` already exists",
                    new.id
                )));
            }
            let actor = ActorId::from(tx.server_actor()?.as_slice());
            let mut doc = JobDoc::create(actor, &new, &self.editor, now)?.into_automerge();
            let changes = doc.get_changes(&[]);
            let committed =
                jobs::commit(tx, &new.id, &mut doc, None, &changes, self.author(), now)?;
            let summary = committed
                .summary
                .clone()
                .ok_or_else(|| AppError::Internal("no summary".into()))?;
            Ok((summary, committed))
        })
    }

    /// Applies a dispatch edit to a job and commits it.
    fn edit(
        &self,
        job_id: &str,
        now: Millis,
        f: impl FnOnce(&mut JobDoc, &Editor) -> Result<(), SchemaError>,
    ) -> Result<(JobSummary, Committed), AppError> {
        write(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| AppError::NotFound(format!("there is no job `{job_id}`")))?;
            let actor = ActorId::from(tx.server_actor()?.as_slice());
            let mut doc: AutoCommit = jobs::load(job_id, &stored.doc)?.with_actor(actor);
            let before = doc.get_heads();
            let mut job_doc = JobDoc::from_automerge(doc);
            f(&mut job_doc, &self.editor)?;
            let mut doc = job_doc.into_automerge();
            let changes = doc.get_changes(&before);
            let committed = jobs::commit(
                tx,
                job_id,
                &mut doc,
                Some(&stored.summary),
                &changes,
                self.author(),
                now,
            )?;
            let summary = committed.summary.clone().unwrap_or(stored.summary);
            Ok((summary, committed))
        })
    }

    /// Assigns, reassigns or (with `None`) unassigns a job. The assignee must be a known
    /// installer.
    pub fn assign(
        &self,
        job_id: &str,
        assignee: Option<&str>,
        now: Millis,
    ) -> Result<(JobSummary, Committed), AppError> {
        if let Some(user) = assignee {
            let users = read(self.storage, |tx| tx.users())?;
            if !users.iter().any(|u| u.id == user && u.role == "installer") {
                return Err(AppError::bad_request(
                    "unknown_installer",
                    format!("`{user}` is not an installer"),
                ));
            }
        }
        self.edit(job_id, now, |doc, editor| doc.assign(assignee, editor, now))
    }

    /// Sets or moves the appointment window.
    pub fn set_appointment(
        &self,
        job_id: &str,
        window: Appointment,
        now: Millis,
    ) -> Result<(JobSummary, Committed), AppError> {
        self.edit(job_id, now, |doc, editor| {
            doc.set_appointment(window, editor, now)
        })
    }

    /// Moves the status as dispatch (cancel, close, reopen, schedule a follow-up).
    pub fn move_status(
        &self,
        job_id: &str,
        to: Status,
        now: Millis,
    ) -> Result<(JobSummary, Committed), AppError> {
        self.edit(job_id, now, |doc, editor| {
            doc.transition(to, editor, now, None)
        })
    }

    /// One job with its history.
    pub fn get(&self, job_id: &str) -> Result<JobView, AppError> {
        read(self.storage, |tx| {
            let stored = tx
                .job(job_id)?
                .ok_or_else(|| AppError::NotFound(format!("there is no job `{job_id}`")))?;
            let mut doc = jobs::load(job_id, &stored.doc)?;
            let job = jobs::read(job_id, &doc)?;
            let heads = doc.get_heads().iter().map(ToString::to_string).collect();
            let history = tx.audit(Some(job_id), None, usize::MAX >> 1)?;
            Ok(JobView {
                summary: stored.summary,
                job,
                history,
                heads,
            })
        })
    }

    /// Every job's projection.
    pub fn list(&self) -> Result<Vec<JobSummary>, AppError> {
        read(self.storage, |tx| Ok(tx.list_jobs()?))
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>, AppError> {
        read(self.storage, |tx| Ok(tx.users()?))
    }
}
