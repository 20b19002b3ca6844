//! The offline lease: a phone that has not reached the server for a while locks its store, and
//! later deletes what the server already holds, on its own clock and without the server, so a
//! lost phone does not keep customers' data for ever. Work not yet uploaded is never deleted:
//! it stays, locked, until the phone reconnects and uploads it.
//!
//! The clock is the phone's, and a phone's clock can be moved: the lease adds up only the time
//! the clock moved forward between checks, so setting it back does not extend the lease, and
//! setting it ahead only brings the lock nearer.

use fieldsync_protocol::Millis;
use fieldsync_protocol::wire::Lease;
use rusqlite::Transaction;

use crate::db::CachedStatements;
use crate::error::{Error, Result};
use crate::store::{Store, meta_get, meta_set};

/// Where the phone stands with its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// No lease yet (never synced with a server that has one): nothing is locked.
    None,
    /// Usable; it locks at `locks_at` (phone clock, ms) unless the phone syncs before.
    Active {
        /// When the store locks.
        locks_at: Millis,
        /// When uploaded data is wiped.
        wipes_at: Millis,
    },
    /// Locked since `since`: the phone must sync. Uploaded data is wiped at `wipes_at`.
    Locked {
        /// When it locked.
        since: Millis,
        /// When uploaded data is wiped.
        wipes_at: Millis,
    },
    /// Locked, and what the server already held has been deleted from the phone; work not yet
    /// uploaded is still there, waiting for the next sync.
    Wiped {
        /// When it locked.
        since: Millis,
    },
}

impl LeaseState {
    /// Whether the job data may be used.
    pub fn is_usable(self) -> bool {
        matches!(self, LeaseState::None | LeaseState::Active { .. })
    }
}

const LEASE: &str = "lease";
/// Milliseconds counted since the last contact.
const ELAPSED: &str = "lease_elapsed";
/// The phone's clock at the last check (or contact).
const LAST_OBSERVED: &str = "lease_observed";
const WIPED: &str = "lease_wiped";

/// Checks closer together than this do not rewrite the counters (the next check counts the
/// time anyway): an ordinary read stays a read.
const WRITE_EVERY_MS: Millis = 60_000;

fn millis(tx: &rusqlite::Connection, key: &str) -> Result<Option<Millis>> {
    Ok(meta_get(tx, key)?.and_then(|v| v.parse().ok()))
}

/// Records a successful exchange with the server at `now` (phone clock) and the lease it
/// announced: the lease starts again.
pub(crate) fn record_contact(tx: &Transaction<'_>, lease: &Lease, now: Millis) -> Result<()> {
    let json = serde_json::to_string(lease).map_err(|e| Error::Protocol(e.to_string()))?;
    meta_set(tx, LEASE, &json)?;
    meta_set(tx, ELAPSED, "0")?;
    meta_set(tx, LAST_OBSERVED, &now.to_string())?;
    tx.execute_cached("DELETE FROM meta WHERE key = ?1", [WIPED])?;
    Ok(())
}

impl Store {
    /// Checks the lease at `now` (the phone's clock, ms) and applies it: past the wipe point,
    /// deletes every job whose work the server holds (no outbox entries, no media waiting, not
    /// in the fallback), the manuals, cases and field tips, and uploaded media; unsent work and
    /// unsent tips stay. Returns where the phone stands.
    pub fn enforce_lease(&self, now: Millis) -> Result<LeaseState> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let lease: Option<Lease> =
            meta_get(&tx, LEASE)?.and_then(|json| serde_json::from_str(&json).ok());
        let Some(lease) = lease else {
            return Ok(LeaseState::None);
        };
        // Only time the clock moved forward counts: set back, it counts nothing until it has
        // moved forward again.
        let observed = millis(&tx, LAST_OBSERVED)?.unwrap_or(now);
        let elapsed = millis(&tx, ELAPSED)?.unwrap_or(0);
        let forward = now.saturating_sub(observed);
        let total = elapsed.saturating_add(forward.max(0));
        let state = lease_state(&lease, total, now);
        let wipe = matches!(state, LeaseState::Wiped { .. }) && meta_get(&tx, WIPED)?.is_none();
        if wipe {
            wipe_what_the_server_holds(&tx)?;
            meta_set(&tx, WIPED, &now.to_string())?;
        }
        // A backward step is recorded at once (it is the new starting point); forward steps
        // are recorded once they add up to a minute.
        if wipe || !(0..WRITE_EVERY_MS).contains(&forward) {
            meta_set(&tx, ELAPSED, &total.to_string())?;
            meta_set(&tx, LAST_OBSERVED, &now.to_string())?;
            tx.commit()?;
        }
        Ok(state)
    }
}

/// Where a lease stands after `elapsed` ms of forward clock since the last contact, reported on
/// the phone's clock at `now`.
fn lease_state(lease: &Lease, elapsed: Millis, now: Millis) -> LeaseState {
    let ms = |v: u64| Millis::try_from(v).unwrap_or(Millis::MAX);
    let (lock, wipe) = (ms(lease.lock_after_ms), ms(lease.wipe_after_ms));
    let at = |after: Millis| now.saturating_add(after.saturating_sub(elapsed));
    if elapsed < lock {
        LeaseState::Active {
            locks_at: at(lock),
            wipes_at: at(wipe),
        }
    } else if elapsed < wipe {
        LeaseState::Locked {
            since: now.saturating_sub(elapsed - lock),
            wipes_at: at(wipe),
        }
    } else {
        LeaseState::Wiped {
            since: now.saturating_sub(elapsed - lock),
        }
    }
}

fn wipe_what_the_server_holds(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_cached(
        "DELETE FROM docs WHERE needs_resync = 0
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.job_id = docs.job_id)
           AND NOT EXISTS (SELECT 1 FROM job_blobs JOIN blob_state USING (sha256)
                           WHERE job_blobs.job_id = docs.job_id AND blob_state.kind = 'captured'
                             AND blob_state.uploaded = 0)",
        [],
    )?;
    tx.execute_batch(
        "DELETE FROM manual_sections;
         DELETE FROM manual_attachments;
         DELETE FROM manuals;
         DELETE FROM cases;
         DELETE FROM case_cursors;
         DELETE FROM tips_docs WHERE model NOT IN (SELECT model FROM tip_outbox);
         DELETE FROM knowledge_fts;
         DELETE FROM job_blobs WHERE sha256 IN
           (SELECT sha256 FROM blob_state WHERE kind != 'captured' OR uploaded = 1);
         DELETE FROM blobs WHERE NOT EXISTS
           (SELECT 1 FROM job_blobs WHERE job_blobs.sha256 = blobs.sha256);
         DELETE FROM refusals WHERE job_id NOT IN (SELECT job_id FROM docs);
         -- The next sync starts over: the server sends every job in scope whole again.
         DELETE FROM meta WHERE key = 'cursor';",
    )?;
    // Customers' names, numbers and histories are the server's: they come back at the next sync.
    crate::customers::forget(tx)?;
    // Reminders too, but for acknowledgements not yet sent: they are the installer's work.
    tx.execute_cached("DELETE FROM reminders WHERE acknowledged_at IS NULL", [])?;
    // Tips not yet sent stay, searchable.
    let kept: Vec<String> = tx
        .prepare("SELECT DISTINCT model FROM tips_docs")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for model in kept {
        crate::knowledge::reindex(tx, &model)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::seed;

    const DAY: Millis = 24 * 60 * 60 * 1000;

    fn contact(store: &Store, at: Millis) {
        let mut conn = store.conn();
        let tx = conn.transaction().expect("tx");
        record_contact(&tx, &Lease::default(), at).expect("contact");
        tx.commit().expect("commit");
    }

    #[test]
    fn the_lease_locks_then_wipes_only_what_the_server_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        assert_eq!(store.enforce_lease(0).expect("lease"), LeaseState::None);
        seed(&store, "synced", "anna");
        seed(&store, "unsent", "anna");
        let t0 = 1_000 * DAY;
        contact(&store, t0);
        // The customers of the jobs, as a sync brought them.
        {
            let mut conn = store.conn();
            let tx = conn.transaction().expect("tx");
            let cards = fieldsync_protocol::wire::CustomerCards {
                token: "1.0.0.00".into(),
                unchanged: false,
                cards: vec![crate::CustomerCard {
                    id: "cus-1".into(),
                    name: "Ada".into(),
                    ..Default::default()
                }],
            };
            crate::customers::apply(&tx, &cards).expect("cards");
            tx.commit().expect("commit");
        }
        assert_eq!(store.customer_cards().expect("cards").len(), 1);
        // Work captured after the last sync: an outbox entry and a photo not yet uploaded.
        store
            .append_note("unsent", "replaced the valve")
            .expect("note");
        store
            .attach_photo(
                "unsent",
                b"\xff\xd8 not much of a photo",
                "image/jpeg",
                "valve",
            )
            .expect("photo");

        let state = store.enforce_lease(t0 + DAY).expect("lease");
        assert!(matches!(state, LeaseState::Active { locks_at, .. } if locks_at == t0 + 14 * DAY));
        assert!(state.is_usable());

        let state = store.enforce_lease(t0 + 15 * DAY).expect("lease");
        assert_eq!(
            state,
            LeaseState::Locked {
                since: t0 + 14 * DAY,
                wipes_at: t0 + 30 * DAY
            }
        );
        assert!(!state.is_usable());
        // Moving the phone's clock back does not unlock it.
        assert!(!store.enforce_lease(t0 + DAY).expect("lease").is_usable());
        assert!(store.job("synced").is_ok(), "locked, not yet wiped");

        // 30 more days of forward clock: 45 in all, past the wipe.
        let state = store.enforce_lease(t0 + 31 * DAY).expect("lease");
        assert!(matches!(state, LeaseState::Wiped { .. }), "{state:?}");
        assert!(
            store.job("synced").is_err(),
            "what the server holds is gone"
        );
        assert!(store.job("unsent").is_ok(), "unsent work stays");
        assert!(
            store.customer_cards().expect("cards").is_empty(),
            "customers are the server's"
        );
        assert_eq!(
            crate::customers::token(&store.conn()).expect("token"),
            None,
            "the next sync brings them whole"
        );
        // The note and the photo's change, both still waiting to be sent.
        assert_eq!(store.outbox_status().expect("outbox").depth, 2);
        assert_eq!(store.pending_media().expect("media").len(), 1);
        // Clock moved back after the wipe: still wiped, still locked.
        assert!(!store.enforce_lease(t0).expect("lease").is_usable());

        // The phone reaches the server: the lease starts again.
        contact(&store, t0 + 32 * DAY);
        assert!(
            store
                .enforce_lease(t0 + 32 * DAY)
                .expect("lease")
                .is_usable()
        );
    }

    #[test]
    fn a_clock_set_ahead_then_back_does_not_switch_the_lease_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let t0 = 1_000 * DAY;
        contact(&store, t0);
        // The clock is set ten years ahead and the phone syncs there.
        let ahead = t0 + 3_650 * DAY;
        assert!(
            !store.enforce_lease(ahead).expect("lease").is_usable(),
            "ahead: locked at once"
        );
        contact(&store, ahead);
        // Set right again: the lease runs on real time from here.
        assert!(store.enforce_lease(t0 + DAY).expect("lease").is_usable());
        assert!(
            store
                .enforce_lease(t0 + 10 * DAY)
                .expect("lease")
                .is_usable()
        );
        let state = store.enforce_lease(t0 + 16 * DAY).expect("lease");
        assert!(matches!(state, LeaseState::Locked { .. }), "{state:?}");
    }
}
