//! The escalation scheduler: runs the ladder ([`crate::domain::escalation::tick`]) beside the
//! server and publishes what each tick did; after each tick it moves closed jobs idle for
//! [`AppState::keep_closed`] off phones.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_protocol::Millis;

use crate::domain::escalation::{Look, MAX_SLEEP, MIN_SLEEP, tick};
use crate::domain::jobs::RETIRE_BATCH;
use crate::domain::sla::SlaPolicy;
use crate::state::AppState;

/// How often closed jobs are checked for leaving phones.
const RETIRE_EVERY: Millis = 3_600_000;

/// Runs the ladder for as long as the server runs: a tick over every open job at start (catching
/// up on whatever fell due while the server was down, under the policy it starts with), then
/// ticks over the jobs that changed or fell due, at the next deadline, at least every
/// [`MAX_SLEEP`], and whenever [`AppState::changed`] wakes it.
pub async fn run(state: AppState) {
    let mut last_retired: Option<Millis> = None;
    let mut look = Look::Everything;
    loop {
        let began = std::time::Instant::now();
        let storage = state.storage.clone();
        let policy: Arc<SlaPolicy> = state.sla.clone();
        let now = state.now();
        let result =
            tokio::task::spawn_blocking(move || tick(storage.as_ref(), &policy, now, look)).await;
        let next_due = match result {
            Ok(Ok(outcome)) => {
                look = Look::Due;
                let next = outcome.next_due;
                state.publish_tick(outcome);
                next
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "escalation tick failed");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "escalation tick panicked");
                None
            }
        };
        // Jobs age out slowly: once an hour is enough, and keeps the pass off every wake.
        if last_retired.is_none_or(|at| now.saturating_sub(at) >= RETIRE_EVERY) {
            let retiring = state.clone();
            let full_batch =
                match tokio::task::spawn_blocking(move || retiring.retire_closed(now)).await {
                    Ok(Ok(retired)) => retired >= RETIRE_BATCH,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "moving closed jobs off phones failed");
                        false
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "moving closed jobs off phones panicked");
                        false
                    }
                };
            // After a full batch more are due: the next wake takes them. A failure waits an hour.
            if !full_batch {
                last_retired = Some(now);
            }
        }
        let wait = next_due
            .map(|due| Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0)))
            .unwrap_or(MAX_SLEEP)
            .clamp(MIN_SLEEP, MAX_SLEEP);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.scheduler_wake.notified() => {
                // Woken by a change: still no sooner than MIN_SLEEP after this tick began.
                tokio::time::sleep(MIN_SLEEP.saturating_sub(began.elapsed())).await;
            }
        }
    }
}
