//! The offline lease: a phone that has not reached the server for a while locks its store, and
//! later deletes what the server already holds, on its own clock and without the server, so a
//! lost phone does not keep customers' data for ever. Work not yet uploaded is never deleted:
//! it stays, locked, until the phone reconnects and uploads it.
//!
//! The clock is the phone's, and a phone's clock can be moved: the lease counts from the
//! highest clock value the store has seen, so moving the clock back does not extend it.

use fieldsync_protocol::Millis;
use fieldsync_protocol::wire::Lease;
use rusqlite::Transaction;

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
const LAST_CONTACT: &str = "last_contact";
const CLOCK_HIGH_WATER: &str = "clock_high_water";
const WIPED: &str = "lease_wiped";

fn millis(tx: &rusqlite::Connection, key: &str) -> Result<Option<Millis>> {
    Ok(meta_get(tx, key)?.and_then(|v| v.parse().ok()))
}

/// Records a successful exchange with the server at `now` (phone clock) and the lease it
/// announced: the lease starts again.
pub(crate) fn record_contact(tx: &Transaction<'_>, lease: &Lease, now: Millis) -> Result<()> {
    let json = serde_json::to_string(lease).map_err(|e| Error::Protocol(e.to_string()))?;
    meta_set(tx, LEASE, &json)?;
    // On the same forward-only scale the lease is checked on: a clock that was once ahead
    // (and then set right) does not leave the phone locked after it synced.
    let high_water = millis(tx, CLOCK_HIGH_WATER)?.unwrap_or(now).max(now);
    meta_set(tx, LAST_CONTACT, &high_water.to_string())?;
    meta_set(tx, CLOCK_HIGH_WATER, &high_water.to_string())?;
    tx.execute("DELETE FROM meta WHERE key = ?1", [WIPED])?;
    Ok(())
}

impl Store {
    /// Checks the lease at `now` (the phone's clock, ms) and applies it: past the wipe point,
    /// deletes every job whose work the server holds (no outbox entries, no media waiting, not
    /// in the fallback), the manuals, cases and field tips, and uploaded media; unsent work and
    /// unsent tips stay. Returns where the phone stands.
    pub fn enforce_lease(&self, now: Millis) -> Result<LeaseState> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let lease: Option<Lease> =
            meta_get(&tx, LEASE)?.and_then(|json| serde_json::from_str(&json).ok());
        let (Some(lease), Some(contact)) = (lease, millis(&tx, LAST_CONTACT)?) else {
            return Ok(LeaseState::None);
        };
        // The clock only counts forward: moving it back does not extend the lease.
        let high_water = millis(&tx, CLOCK_HIGH_WATER)?.unwrap_or(now);
        let now = now.max(high_water);
        if now > high_water {
            meta_set(&tx, CLOCK_HIGH_WATER, &now.to_string())?;
        }
        let after = |ms: u64| contact.saturating_add(Millis::try_from(ms).unwrap_or(Millis::MAX));
        let (locks_at, wipes_at) = (after(lease.lock_after_ms), after(lease.wipe_after_ms));
        let state = if now < locks_at {
            LeaseState::Active { locks_at, wipes_at }
        } else if now < wipes_at {
            LeaseState::Locked {
                since: locks_at,
                wipes_at,
            }
        } else {
            if meta_get(&tx, WIPED)?.is_none() {
                wipe_what_the_server_holds(&tx)?;
                meta_set(&tx, WIPED, &now.to_string())?;
            }
            LeaseState::Wiped { since: locks_at }
        };
        tx.commit()?;
        Ok(state)
    }
}

fn wipe_what_the_server_holds(tx: &Transaction<'_>) -> Result<()> {
    tx.execute(
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
         DELETE FROM tips_docs;
         DELETE FROM knowledge_fts;
         DELETE FROM job_blobs WHERE sha256 IN
           (SELECT sha256 FROM blob_state WHERE kind != 'captured' OR uploaded = 1);
         DELETE FROM blobs WHERE NOT EXISTS
           (SELECT 1 FROM job_blobs WHERE job_blobs.sha256 = blobs.sha256);
         DELETE FROM refusals WHERE job_id NOT IN (SELECT job_id FROM docs);
         -- The next sync starts over: the server sends every job in scope whole again.
         DELETE FROM meta WHERE key = 'cursor';",
    )?;
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

        let state = store.enforce_lease(t0 + 31 * DAY).expect("lease");
        assert_eq!(
            state,
            LeaseState::Wiped {
                since: t0 + 14 * DAY
            }
        );
        assert!(
            store.job("synced").is_err(),
            "what the server holds is gone"
        );
        assert!(store.job("unsent").is_ok(), "unsent work stays");
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
}
