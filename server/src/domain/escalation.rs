//! The three-ring escalation ladder and the overdue reminders, run by a durable scheduler.
//!
//! Everything the ladder decides follows from the job facts ([`crate::domain::facts`]) and the time:
//! [`tick`] looks at the open jobs whose facts changed or whose next rule fell due (every open
//! job at start, [`Look`]), raises the rings that are due (an Automerge change by the
//! server, so the phones see the new ring; a ring is only ever raised here, and only when the
//! job is below it) and stores the reminders that are due. Each rule fires once per job
//! (storage keeps a reminder per job and rule), so a tick can run any number of times, and a
//! server that was down simply catches up on its first tick: nothing lives in an in-memory
//! timer. Storage keeps for each job when the ladder must look at it again; a facts write
//! resets it to "now". The scheduler (`crate::state::scheduler`) ticks at the next deadline,
//! at least every [`MAX_SLEEP`], and soon (no sooner than [`MIN_SLEEP`] after its last tick)
//! when something changed, such as a help request arriving with a sync.
//!
//! The rules (`RULES`, one row each), for a job not cancelled or closed:
//! - dispatch clock overdue (not assigned): remind dispatch; still overdue
//!   `remind_next_ring_after_ms` later, remind the supervisor;
//! - resolution clock overdue: the job climbs to ring 2; remind its engineer (dispatch when it
//!   has none) and the supervisor; still overdue `remind_next_ring_after_ms` later, it climbs to
//!   ring 3 and the head of engineering is reminded;
//! - a complaint unresolved `escalate_unresolved_ms` after the call climbs to ring 2 and the
//!   supervisor is reminded;
//! - complaint feedback overdue: remind dispatch, then the supervisor;
//! - a completed job's return-visit call overdue: remind dispatch (customer service);
//! - the engineer asked for help on a job not yet resolved: the first request takes the job to
//!   ring 2 (the supervisor is reminded), a second to ring 3 (the head of engineering).

use std::time::Duration;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobKind;

use crate::domain::dispatch::Dispatch;
use crate::domain::error::DomainError;
use crate::domain::facts::JobFacts;
use crate::domain::sla::{SlaPolicy, SlaTargets};
use crate::storage::{LadderEntry, Reminder, Storage, read, write};

/// The user the ladder's changes and audit entries are attributed to.
pub const SCHEDULER: &str = "@escalation";

/// The longest the scheduler sleeps between ticks.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);
/// The shortest: a busy fleet (every change wakes the scheduler) ticks at most this often.
pub const MIN_SLEEP: Duration = Duration::from_secs(1);

/// Who a rule reminds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recipient {
    /// The job's engineer, or dispatch when it has none.
    Engineer,
    /// A role.
    Role(&'static str),
}

/// An SLA clock a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Dispatch,
    Resolve,
    Feedback,
    ReturnVisit,
}

/// When a rule falls due for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// The clock's deadline passed and it has not stopped.
    Overdue(Clock),
    /// As `Overdue`, and still so `remind_next_ring_after_ms` later.
    StillOverdue(Clock),
    /// A complaint unresolved `escalate_unresolved_ms` after the call.
    ComplaintUnresolved,
    /// The engineer asked for help at least this many times on a job not yet resolved.
    HelpAsked(u32),
}

/// One rung of the ladder: when it fires, the ring it takes the job to (never lower), whom it
/// reminds and what it says. `key` names the rule in stored reminders: never rename or reuse one.
struct Rule {
    key: &'static str,
    clock: &'static str,
    when: Condition,
    raises_to: Option<u8>,
    to: Recipient,
    message: fn(&JobFacts, &SlaTargets) -> String,
}

/// The ladder, in the order it is evaluated (a rule's reminder carries the ring reached so far).
const RULES: &[Rule] = &[
    Rule {
        key: "dispatch:owner",
        clock: "dispatch",
        when: Condition::Overdue(Clock::Dispatch),
        raises_to: None,
        to: Recipient::Role("dispatcher"),
        message: |f, _| {
            format!(
                "{} is not dispatched: its dispatch deadline passed",
                f.job_id
            )
        },
    },
    Rule {
        key: "dispatch:next",
        clock: "dispatch",
        when: Condition::StillOverdue(Clock::Dispatch),
        raises_to: None,
        to: Recipient::Role("supervisor"),
        message: |f, _| format!("{} is still not dispatched", f.job_id),
    },
    Rule {
        key: "resolve:owner",
        clock: "resolve",
        when: Condition::Overdue(Clock::Resolve),
        raises_to: Some(2),
        to: Recipient::Engineer,
        message: |f, _| format!("{} is overdue: its resolution deadline passed", f.job_id),
    },
    Rule {
        key: "resolve:ring2",
        clock: "resolve",
        when: Condition::Overdue(Clock::Resolve),
        raises_to: Some(2),
        to: Recipient::Role("supervisor"),
        message: |f, _| {
            format!(
                "{} escalated to ring 2: its resolution deadline passed",
                f.job_id
            )
        },
    },
    Rule {
        key: "resolve:ring3",
        clock: "resolve",
        when: Condition::StillOverdue(Clock::Resolve),
        raises_to: Some(3),
        to: Recipient::Role("head_of_engineering"),
        message: |f, _| {
            format!(
                "{} escalated to ring 3: still unresolved past its deadline",
                f.job_id
            )
        },
    },
    Rule {
        key: "complaint:ring2",
        clock: "complaint",
        when: Condition::ComplaintUnresolved,
        raises_to: Some(2),
        to: Recipient::Role("supervisor"),
        message: |f, targets| {
            let hours = targets.escalate_unresolved_ms.unwrap_or(0) / 3_600_000;
            format!("complaint {} unresolved for {hours} h", f.job_id)
        },
    },
    Rule {
        key: "feedback:owner",
        clock: "feedback",
        when: Condition::Overdue(Clock::Feedback),
        raises_to: None,
        to: Recipient::Role("dispatcher"),
        message: |f, _| format!("complaint {} owes the customer feedback", f.job_id),
    },
    Rule {
        key: "feedback:next",
        clock: "feedback",
        when: Condition::StillOverdue(Clock::Feedback),
        raises_to: None,
        to: Recipient::Role("supervisor"),
        message: |f, _| format!("complaint {} still owes the customer feedback", f.job_id),
    },
    Rule {
        key: "return_visit:owner",
        clock: "return_visit",
        when: Condition::Overdue(Clock::ReturnVisit),
        raises_to: None,
        to: Recipient::Role("dispatcher"),
        message: |f, _| format!("{} is waiting for its return-visit call", f.job_id),
    },
    Rule {
        key: "help:1",
        clock: "help",
        when: Condition::HelpAsked(1),
        raises_to: Some(2),
        to: Recipient::Role("supervisor"),
        message: |f, _| format!("the engineer on {} asked for help", f.job_id),
    },
    Rule {
        key: "help:2",
        clock: "help",
        when: Condition::HelpAsked(2),
        raises_to: Some(3),
        to: Recipient::Role("head_of_engineering"),
        message: |f, _| format!("the engineer on {} asked for help again", f.job_id),
    },
];

/// Every rule of the ladder as (key, clock): what a reminder's `rule` and `clock` can be, for
/// clients that word reminders themselves.
pub fn rules() -> impl Iterator<Item = (&'static str, &'static str)> {
    RULES.iter().map(|rule| (rule.key, rule.clock))
}

/// One rule that is due for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Due {
    rule: &'static str,
    clock: &'static str,
    ring: u8,
    to: Recipient,
    message: String,
}

impl Clock {
    /// The clock's deadline, while it runs (not yet stopped).
    fn running_deadline(self, f: &JobFacts) -> Option<Millis> {
        let (deadline, stopped) = match self {
            Clock::Dispatch => (f.deadlines.dispatch_by, f.dispatched_at),
            Clock::Resolve => (f.deadlines.resolve_by, f.resolved_at),
            Clock::Feedback => (f.deadlines.feedback_by, f.feedback_at),
            Clock::ReturnVisit => (f.return_visit_by, f.return_visit_at),
        };
        deadline.filter(|_| stopped.is_none())
    }
}

impl Condition {
    /// Whether the condition holds at `now`; a time-bound condition still ahead records when it
    /// will hold in `next`.
    fn holds(
        self,
        f: &JobFacts,
        targets: &SlaTargets,
        policy: &SlaPolicy,
        now: Millis,
        next: &mut Option<Millis>,
    ) -> bool {
        let due_at = match self {
            Condition::Overdue(clock) => clock.running_deadline(f),
            Condition::StillOverdue(clock) => clock
                .running_deadline(f)
                .map(|deadline| deadline.saturating_add(policy.remind_next_ring_after_ms)),
            Condition::ComplaintUnresolved => targets
                .escalate_unresolved_ms
                .filter(|_| f.kind == JobKind::Complaint && f.resolved_at.is_none())
                .map(|limit| f.call_received_at.saturating_add(limit)),
            // Help asked for on a job since resolved needs nobody any more.
            Condition::HelpAsked(times) => {
                return f.resolved_at.is_none() && f.help_requests >= times;
            }
        };
        match due_at {
            Some(time) if time < now => true,
            Some(time) => {
                *next = Some(next.map_or(time, |n| n.min(time)));
                false
            }
            None => false,
        }
    }
}

/// What the ladder wants for one job at `now`: the ring it should be in and the reminders due.
/// Also returns the next future time a rule of this job becomes due.
fn evaluate(f: &JobFacts, policy: &SlaPolicy, now: Millis) -> (u8, Vec<Due>, Option<Millis>) {
    let targets = policy.targets(f.tier, f.kind);
    let mut ring = f.ring;
    let mut due = Vec::new();
    let mut next = None;
    for rule in RULES {
        if !rule.when.holds(f, &targets, policy, now, &mut next) {
            continue;
        }
        if let Some(raised) = rule.raises_to {
            ring = ring.max(raised);
        }
        due.push(Due {
            rule: rule.key,
            clock: rule.clock,
            ring,
            to: rule.to,
            message: (rule.message)(f, &targets),
        });
    }
    (ring, due, next)
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickOutcome {
    /// Reminders stored by this tick (not those that fired before).
    pub reminders: Vec<Reminder>,
    /// Jobs whose ring this tick raised, each with the users whose devices should sync.
    pub escalated: Vec<(String, Vec<String>)>,
    /// Jobs the tick looked at (changed or due).
    pub looked: usize,
    /// Jobs the tick could not handle (logged; tried again [`MAX_SLEEP`] later, or once their
    /// facts are written again when they cannot be read).
    pub failed: usize,
    /// When the ladder must look at a job next (at or before `now`: at once), if ever.
    pub next_due: Option<Millis>,
}

/// Which open jobs a tick looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Those whose facts changed since the ladder last looked and those with a rule due by
    /// now: the scheduler's every tick after the first.
    Due,
    /// Every open job: at start, when the policy may differ from the one that computed when
    /// each job falls due.
    Everything,
}

/// How long a job the ladder failed to handle waits before it is tried again.
const RETRY_FAILED: Millis = MAX_SLEEP.as_millis() as Millis;

/// Runs the ladder once at `now` over the jobs `look` selects, and records when it must look
/// at each again. A job that fails is logged and tried again [`MAX_SLEEP`] later, so one bad
/// job cannot hold up the others.
pub fn tick(
    storage: &dyn Storage,
    policy: &SlaPolicy,
    now: Millis,
    look: Look,
) -> Result<TickOutcome, DomainError> {
    let until = match look {
        Look::Due => now,
        Look::Everything => Millis::MAX,
    };
    let (entries, next_due) = read(storage, |tx| {
        Ok::<_, DomainError>((tx.ladder_due(until)?, tx.ladder_next()?))
    })?;
    let mut outcome = TickOutcome {
        next_due,
        looked: entries.len(),
        ..TickOutcome::default()
    };
    if entries.is_empty() {
        return Ok(outcome);
    }
    let dispatch = Dispatch::new(storage, SCHEDULER).with_sla(policy);
    let mut due_reminders = Vec::new();
    // Each job looked at, with the revision of its facts read and when to look again.
    let mut marks = Vec::with_capacity(entries.len());
    for LadderEntry {
        job_id,
        facts,
        revision,
    } in entries
    {
        let Some(facts) = facts else {
            // Looked at again once its facts are written anew.
            tracing::error!(job = %job_id, "the ladder skips a job whose facts cannot be read");
            outcome.failed += 1;
            marks.push((job_id, revision, None));
            continue;
        };
        let (ring, due, next) = evaluate(&facts, policy, now);
        if ring > facts.ring {
            match dispatch.raise_ring(&facts.job_id, ring, now) {
                Ok((_, committed)) if committed.summary.is_some() => {
                    outcome
                        .escalated
                        .push((facts.job_id.clone(), committed.nudge));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(job = %facts.job_id, error = %e, "escalation failed");
                    outcome.failed += 1;
                    marks.push((
                        facts.job_id,
                        revision,
                        Some(now.saturating_add(RETRY_FAILED)),
                    ));
                    continue;
                }
            }
        }
        due_reminders.extend(due.into_iter().map(|d| reminder(&facts, d, now)));
        // A rule holds once its time has passed: look again just after it.
        marks.push((facts.job_id, revision, next.map(|at| at.saturating_add(1))));
    }
    // One transaction for the tick's reminders (those that fired before are left alone) and
    // its marks. A raised ring wrote new facts, so its job keeps "look now" and the next tick
    // confirms it.
    (outcome.reminders, outcome.next_due) = write(storage, |tx| {
        let mut stored = Vec::new();
        for reminder in &due_reminders {
            stored.extend(tx.add_reminder(reminder)?);
        }
        for (job_id, revision, at) in &marks {
            tx.set_ladder_at(job_id, *revision, *at)?;
        }
        Ok::<_, DomainError>((stored, tx.ladder_next()?))
    })?;
    Ok(outcome)
}

/// The reminder a due rule sends about a job.
fn reminder(facts: &JobFacts, due: Due, now: Millis) -> Reminder {
    let (to_user, to_role) = match (due.to, &facts.assignee) {
        (Recipient::Engineer, Some(engineer)) => (Some(engineer.clone()), None),
        (Recipient::Engineer, None) => (None, Some("dispatcher".to_owned())),
        (Recipient::Role(role), _) => (None, Some(role.to_owned())),
    };
    Reminder {
        id: 0,
        job_id: facts.job_id.clone(),
        rule: due.rule.to_owned(),
        to_user,
        to_role,
        ring: due.ring,
        clock: due.clock.to_owned(),
        message: due.message,
        created_at: now,
        acknowledged_at: None,
        acknowledged_by: None,
    }
}

/// Gives jobs stored before the facts projection existed their facts (device times are
/// taken as plausible when they fall between the job's creation and `now`).
pub fn backfill_facts(storage: &dyn Storage, now: Millis) -> Result<usize, DomainError> {
    let missing = read(storage, |tx| Ok::<_, DomainError>(tx.jobs_without_facts()?))?;
    for job_id in &missing {
        write(storage, |tx| {
            let Some(stored) = tx.job(job_id)? else {
                return Ok(());
            };
            let job = crate::domain::jobs::read_stored(tx, job_id, &stored)?;
            tx.put_job_facts(&JobFacts::derive(&job, None, now))?;
            Ok::<_, DomainError>(())
        })?;
    }
    Ok(missing.len())
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::job::{SlaDeadlines, Tier};
    use fieldsync_protocol::rules::Status;

    use super::*;
    use crate::domain::sla::{HOUR, MINUTE};

    fn facts(kind: JobKind, tier: Tier) -> JobFacts {
        let policy = SlaPolicy::default();
        JobFacts {
            job_id: "job-1".into(),
            kind,
            tier,
            region: "north".into(),
            category: "no heat".into(),
            assignee: Some("anna".into()),
            status: Status::Assigned,
            ring: 1,
            call_received_at: 0,
            created_at: 30_000,
            dispatched_at: Some(60_000),
            resolved_at: None,
            resolved_device_at: None,
            resolved_server_at: None,
            feedback_at: None,
            appointment_start: None,
            deadlines: policy.deadlines(tier, kind, 0),
            visits: 0,
            first_visit_fixed: None,
            rating: None,
            return_visit_by: None,
            return_visit_at: None,
            customer_rating: None,
            call_again_at: None,
            help_requests: 0,
            receipts: Default::default(),
        }
    }

    #[test]
    fn a_tick_looks_only_at_jobs_that_changed_or_fell_due() {
        use crate::storage::sqlite::SqliteStorage;
        use fieldsync_protocol::job::{Appointment, Customer, NewJob, Problem, Site};

        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("server.db")).expect("open");
        let policy = SlaPolicy::default();
        let received = 1_790_000_000_000;
        let dispatch = Dispatch::new(&storage, "dispatch").with_sla(&policy);
        for id in ["job-1", "job-2"] {
            let call = NewJob {
                id: id.into(),
                call_received_at: received,
                customer: Customer {
                    name: "Customer".into(),
                    ..Customer::default()
                },
                site: Site {
                    address: "1 Main Street".into(),
                    ..Site::default()
                },
                problem: Problem {
                    category: "no heat".into(),
                    description: "cold".into(),
                },
                ..NewJob::default()
            };
            dispatch.create(call, received + MINUTE).expect("create");
        }
        let dispatch_by = read(&storage, |tx| tx.job_facts("job-1"))
            .expect("read")
            .expect("facts")
            .deadlines
            .dispatch_by
            .expect("a dispatch clock");
        let tick_at = |now: Millis, look: Look| tick(&storage, &policy, now, look).expect("tick");

        let first = tick_at(received + 2 * MINUTE, Look::Due);
        assert_eq!((first.looked, first.reminders.len()), (2, 0), "new jobs");
        assert_eq!(first.next_due, Some(dispatch_by + 1));
        let idle = tick_at(received + 3 * MINUTE, Look::Due);
        assert_eq!(idle.looked, 0, "nothing changed, nothing due");
        assert_eq!(idle.next_due, Some(dispatch_by + 1));
        assert_eq!(tick_at(received + 3 * MINUTE, Look::Everything).looked, 2);

        // A change to one job: only that job is looked at again.
        dispatch
            .set_appointment(
                "job-2",
                Appointment {
                    start: received + 2 * HOUR,
                    end: received + 4 * HOUR,
                },
                None,
                received + 4 * MINUTE,
            )
            .expect("appointment");
        assert_eq!(
            tick_at(dispatch_by, Look::Due).looked,
            1,
            "due only once past"
        );

        // The dispatch clock runs out: both jobs fall due and each reminds dispatch once.
        let due = tick_at(dispatch_by + 1, Look::Due);
        assert_eq!(due.looked, 2);
        assert!(
            due.reminders.iter().all(|r| r.rule.starts_with("dispatch")),
            "{:?}",
            due.reminders
        );
        assert_eq!(due.reminders.len(), 2);
        assert!(due.next_due.is_some_and(|next| next > dispatch_by + 1));
        assert_eq!(tick_at(dispatch_by + 2, Look::Due).looked, 0);
    }

    fn rules(due: &[Due]) -> Vec<&str> {
        due.iter().map(|d| d.rule).collect()
    }

    #[test]
    fn resolution_overdue_climbs_to_ring_2_then_3() {
        let policy = SlaPolicy::default();
        let job = facts(JobKind::Repair, Tier::Standard);
        let (ring, due, next) = evaluate(&job, &policy, 47 * HOUR);
        assert_eq!((ring, due.len()), (1, 0));
        assert_eq!(next, Some(48 * HOUR));
        let (ring, due, next) = evaluate(&job, &policy, 48 * HOUR + 1);
        assert_eq!(ring, 2);
        assert_eq!(rules(&due), ["resolve:owner", "resolve:ring2"]);
        assert_eq!(due[0].to, Recipient::Engineer);
        assert_eq!(
            next,
            Some(49 * HOUR),
            "the next ring is reminded an hour later"
        );
        let (ring, due, _) = evaluate(&job, &policy, 49 * HOUR + 1);
        assert_eq!(ring, 3);
        assert_eq!(
            rules(&due),
            ["resolve:owner", "resolve:ring2", "resolve:ring3"]
        );
    }

    #[test]
    fn vip_jobs_run_out_sooner() {
        let policy = SlaPolicy::default();
        let job = facts(JobKind::Repair, Tier::Vip);
        assert_eq!(evaluate(&job, &policy, 24 * HOUR + 1).0, 2);
        let standard = facts(JobKind::Repair, Tier::Standard);
        assert_eq!(evaluate(&standard, &policy, 24 * HOUR + 1).0, 1);
    }

    #[test]
    fn an_unresolved_complaint_reaches_the_supervisor_after_24_hours() {
        let policy = SlaPolicy::default();
        let complaint = facts(JobKind::Complaint, Tier::Standard);
        let (ring, due, next) = evaluate(&complaint, &policy, 24 * HOUR - 1);
        assert_eq!((ring, due.len()), (1, 0));
        assert_eq!(next, Some(24 * HOUR));
        let (ring, due, _) = evaluate(&complaint, &policy, 24 * HOUR + 1);
        assert_eq!(ring, 2);
        assert_eq!(rules(&due), ["complaint:ring2"]);
        let mut resolved = complaint;
        resolved.resolved_at = Some(HOUR);
        assert_eq!(evaluate(&resolved, &policy, 30 * HOUR).0, 1);
    }

    #[test]
    fn an_undispatched_job_reminds_dispatch_then_the_supervisor() {
        let policy = SlaPolicy::default();
        let mut job = facts(JobKind::Repair, Tier::Standard);
        job.dispatched_at = None;
        job.assignee = None;
        assert!(evaluate(&job, &policy, 5 * MINUTE).1.is_empty());
        let (_, due, _) = evaluate(&job, &policy, 5 * MINUTE + 1);
        assert_eq!(rules(&due), ["dispatch:owner"]);
        let (_, due, _) = evaluate(&job, &policy, 65 * MINUTE + 1);
        assert_eq!(rules(&due), ["dispatch:owner", "dispatch:next"]);
    }

    #[test]
    fn help_requests_climb_one_ring_each() {
        let policy = SlaPolicy::default();
        let mut job = facts(JobKind::Repair, Tier::Standard);
        job.help_requests = 1;
        let (ring, due, _) = evaluate(&job, &policy, HOUR);
        assert_eq!((ring, rules(&due)), (2, vec!["help:1"]));
        job.help_requests = 2;
        let (ring, due, _) = evaluate(&job, &policy, HOUR);
        assert_eq!((ring, rules(&due)), (3, vec!["help:1", "help:2"]));
        job.ring = 1;
        job.resolved_at = Some(HOUR / 2);
        let (ring, due, _) = evaluate(&job, &policy, HOUR);
        assert_eq!(
            (ring, due.len()),
            (1, 0),
            "resolved: nobody needs reminding"
        );
    }

    #[test]
    fn a_return_visit_not_made_in_time_reminds_dispatch() {
        let policy = SlaPolicy::default();
        let mut job = facts(JobKind::Repair, Tier::Standard);
        job.status = Status::Completed;
        job.resolved_at = Some(HOUR);
        job.return_visit_by = Some(49 * HOUR);
        let (_, due, next) = evaluate(&job, &policy, 49 * HOUR);
        assert_eq!((due.len(), next), (0, Some(49 * HOUR)));
        let (ring, due, _) = evaluate(&job, &policy, 49 * HOUR + 1);
        assert_eq!((ring, rules(&due)), (1, vec!["return_visit:owner"]));
        assert_eq!(due[0].to, Recipient::Role("dispatcher"));
        job.return_visit_at = Some(50 * HOUR);
        assert!(
            evaluate(&job, &policy, 60 * HOUR).1.is_empty(),
            "called back"
        );
    }

    #[test]
    fn done_clocks_fire_nothing() {
        let policy = SlaPolicy::default();
        let mut job = facts(JobKind::Complaint, Tier::Standard);
        job.resolved_at = Some(HOUR);
        job.feedback_at = Some(2 * HOUR);
        job.deadlines = SlaDeadlines {
            feedback_by: Some(48 * HOUR),
            ..job.deadlines
        };
        let (ring, due, next) = evaluate(&job, &policy, 100 * HOUR);
        assert_eq!((ring, due.len(), next), (1, 0, None));
    }
}
