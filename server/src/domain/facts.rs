//! The service facts of a job: the times its SLA clocks stopped, its visits and outcome, kept in
//! a projection table next to the job so the KPIs are SQL over one row per job.
//!
//! Work done offline reaches the server hours after it happened. A lifecycle move is timed by
//! the device's clock when that is plausible: not before the job existed, and not after the
//! server first saw the move. Otherwise (a phone whose clock is wrong) the server's time of
//! receipt is used. Both times are kept.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::{CallOutcome, Job, ReturnVisit, Transition};
use fieldsync_protocol::rules::Status;

pub use crate::storage::JobFacts;

/// A lifecycle move's identity: what, by whom, from which device, at which device time.
pub fn transition_key(t: &Transition) -> String {
    format!("{}|{}|{}|{}", t.to.as_str(), t.by, t.device, t.at)
}

impl JobFacts {
    /// The facts of `job` as the server stores it at `now`, keeping the receipt times of the
    /// moves it saw before (`previous`).
    pub fn derive(job: &Job, previous: Option<&JobFacts>, now: Millis) -> JobFacts {
        let created_at = if job.created_at > 0 {
            job.created_at
        } else {
            job.call_received_at
        };
        let mut receipts = previous.map(|p| p.receipts.clone()).unwrap_or_default();
        for transition in &job.transitions {
            receipts.entry(transition_key(transition)).or_insert(now);
        }
        // The effective time of a move: the device's when plausible, else the receipt's.
        let timed = |t: &Transition| -> (Millis, Millis) {
            let received = receipts.get(&transition_key(t)).copied().unwrap_or(now);
            let at = if (created_at..=received).contains(&t.at) {
                t.at
            } else {
                received
            };
            (at, received)
        };
        let first = |status: Status| job.transitions.iter().find(|t| t.to == status);
        let status = job.status();
        let completion = job
            .transitions
            .iter()
            .rev()
            .find(|t| t.to == Status::Completed)
            .filter(|_| matches!(status, Status::Completed | Status::Closed));
        let resolved = completion.map(timed);
        let visit_ends = job
            .transitions
            .iter()
            .filter(|t| matches!(t.to, Status::Completed | Status::Incomplete))
            .count();
        let first_visit_fixed =
            completion.map(|_| visit_ends == 1 && job.outcome.first_visit_success != Some(false));
        JobFacts {
            job_id: job.id.clone(),
            kind: job.kind,
            tier: job.customer.tier,
            region: job.site.region.clone(),
            category: job.problem.category.clone(),
            assignee: job.assignee.clone(),
            status,
            ring: job.ring(),
            call_received_at: job.call_received_at,
            created_at,
            dispatched_at: first(Status::Assigned).map(|t| timed(t).0),
            resolved_at: resolved.map(|(at, _)| at),
            resolved_device_at: completion.map(|t| t.at),
            resolved_server_at: resolved.map(|(_, received)| received),
            // Feedback is in when the job closed, or a complaint's answer reached the customer.
            feedback_at: first(Status::Closed)
                .map(|t| timed(t).0)
                .into_iter()
                .chain(job.complaint.as_ref().and_then(|c| c.answered_at))
                .min(),
            appointment_start: job.appointment.map(|a| a.start),
            deadlines: job.sla,
            visits: u32::try_from(visit_ends).unwrap_or(u32::MAX),
            first_visit_fixed,
            rating: job.rating.as_ref().map(|r| r.score),
            return_visit_by: resolved
                .zip(job.sla.return_visit_within_ms)
                .map(|((at, _), within)| at.saturating_add(within)),
            return_visit_at: resolved.and_then(|(at, _)| {
                reached_calls(job)
                    .map(|call| call.at)
                    .find(|&called| called >= at)
            }),
            customer_rating: customer_rating(job),
            call_again_at: job
                .return_visits
                .last()
                .filter(|call| call.outcome == CallOutcome::CallAgain)
                .and_then(|call| call.call_again_at),
            help_requests: u32::try_from(job.escalation.help_requests.len()).unwrap_or(u32::MAX),
            receipts,
        }
    }
}

/// The customer's latest word on the service away from the installer: the score of the
/// latest return-visit call that carried one or of their own survey, whichever came later.
fn customer_rating(job: &Job) -> Option<u8> {
    let calls = reached_calls(job).filter_map(|call| call.score.map(|score| (call.at, score)));
    let surveys = job.surveys.iter().map(|survey| (survey.at, survey.score));
    calls
        .chain(surveys)
        .max_by_key(|(at, _)| *at)
        .map(|(_, score)| score)
}

/// The return-visit calls that reached the customer, in the order they were recorded.
fn reached_calls(job: &Job) -> impl DoubleEndedIterator<Item = &ReturnVisit> {
    job.return_visits
        .iter()
        .filter(|call| call.outcome == CallOutcome::Reached)
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::job::{Editor, Outcome, Role};

    use super::*;

    fn mv(to: Status, at: Millis) -> Transition {
        let editor = Editor {
            user: "anna".into(),
            device: "phone".into(),
            role: Role::Installer,
        };
        Transition::new(to, &editor, at, None)
    }

    fn job(transitions: Vec<Transition>) -> Job {
        Job {
            id: "j".into(),
            call_received_at: 1_000,
            created_at: 2_000,
            transitions,
            ..Job::default()
        }
    }

    #[test]
    fn a_plausible_device_time_is_used_and_both_times_kept() {
        let done = job(vec![
            mv(Status::Assigned, 3_000),
            mv(Status::Completed, 50_000),
        ]);
        let facts = JobFacts::derive(&done, None, 90_000);
        assert_eq!(
            facts.resolved_at,
            Some(50_000),
            "done offline, synced later"
        );
        assert_eq!(facts.resolved_device_at, Some(50_000));
        assert_eq!(facts.resolved_server_at, Some(90_000));
        assert_eq!(facts.dispatched_at, Some(3_000));
        assert_eq!(facts.first_visit_fixed, Some(true));
    }

    #[test]
    fn an_implausible_device_time_falls_back_to_the_receipt() {
        // Before the job existed: a phone clock set in the past.
        let early = job(vec![mv(Status::Completed, 500)]);
        assert_eq!(
            JobFacts::derive(&early, None, 90_000).resolved_at,
            Some(90_000)
        );
        // After the server received it: a phone clock running ahead.
        let future = job(vec![mv(Status::Completed, 95_000)]);
        let facts = JobFacts::derive(&future, None, 90_000);
        assert_eq!(facts.resolved_at, Some(90_000));
        assert_eq!(facts.resolved_device_at, Some(95_000), "the claim is kept");
    }

    #[test]
    fn receipts_are_kept_from_the_first_sight() {
        let first = job(vec![mv(Status::Completed, 50_000)]);
        let seen = JobFacts::derive(&first, None, 60_000);
        let later = JobFacts::derive(&first, Some(&seen), 999_000);
        assert_eq!(later.resolved_server_at, Some(60_000));
        assert_eq!(later.resolved_at, Some(50_000));
    }

    /// Dispatch moving the job back to assigned (a reopen or a follow-up visit).
    fn back_to_assigned(at: Millis) -> Transition {
        let office = Editor {
            user: "dispatch".into(),
            device: "server".into(),
            role: Role::Dispatch,
        };
        Transition::new(Status::Assigned, &office, at, None)
    }

    #[test]
    fn a_reopened_job_is_unresolved_until_completed_again() {
        let mut reopened = job(vec![mv(Status::Completed, 10_000)]);
        reopened.transitions.push(back_to_assigned(15_000));
        let facts = JobFacts::derive(&reopened, None, 16_000);
        assert_eq!((facts.resolved_at, facts.first_visit_fixed), (None, None));
        reopened.transitions.push(mv(Status::Completed, 20_000));
        let facts = JobFacts::derive(&reopened, None, 21_000);
        assert_eq!(facts.resolved_at, Some(20_000), "the last completion");
        assert_eq!(facts.first_visit_fixed, Some(false), "two visits");
    }

    #[test]
    fn an_incomplete_first_visit_is_not_a_first_time_fix() {
        let two_visits = job(vec![
            mv(Status::Incomplete, 10_000),
            back_to_assigned(12_000),
            mv(Status::Completed, 20_000),
        ]);
        let facts = JobFacts::derive(&two_visits, None, 30_000);
        assert_eq!(facts.visits, 2);
        assert_eq!(facts.first_visit_fixed, Some(false));
        let mut said_so = job(vec![mv(Status::Completed, 20_000)]);
        said_so.outcome = Outcome {
            first_visit_success: Some(false),
            ..Outcome::default()
        };
        assert_eq!(
            JobFacts::derive(&said_so, None, 30_000).first_visit_fixed,
            Some(false)
        );
        assert_eq!(
            JobFacts::derive(&job(vec![]), None, 1).first_visit_fixed,
            None
        );
    }
}
