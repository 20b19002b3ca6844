//! The reminders the escalation ladder sent to this phone's installer: synced with every round
//! (the server lists every open one), readable offline, acknowledged offline (the
//! acknowledgement goes with the next sync until the server no longer lists the reminder).

use std::collections::BTreeSet;

use fieldsync_protocol::wire::PhoneReminder;
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::CachedStatements;
use crate::error::{Error, Result};
use crate::store::Store;

/// A reminder addressed to the installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    /// The server's id.
    pub id: u64,
    /// The job it is about.
    pub job_id: String,
    /// The escalation rule that fired it, e.g. `resolve:owner`.
    pub rule: String,
    /// The job's escalation ring when it fired.
    pub ring: u8,
    /// The clock that ran out (`dispatch`, `resolve`, …) or `help`.
    pub clock: String,
    /// What it says, in English (word it from `rule` and `clock` for other languages).
    pub message: String,
    /// When it fired (ms since the Unix epoch, the server's clock).
    pub created_at: i64,
    /// When the installer acknowledged it on this phone, if they did (it stays until the
    /// server has the acknowledgement).
    pub acknowledged_at: Option<i64>,
}

/// Migration 4: the installer's reminders.
pub(crate) const MIGRATION: &str = "CREATE TABLE reminders (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        rule TEXT NOT NULL,
        ring INTEGER NOT NULL,
        clock TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        acknowledged_at INTEGER
    ) STRICT;";

fn to_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl Store {
    /// The reminders addressed to the installer that they have not acknowledged, newest first.
    /// Works offline: they are what the last sync brought.
    pub fn reminders(&self) -> Result<Vec<Reminder>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, job_id, rule, ring, clock, message, created_at, acknowledged_at
             FROM reminders WHERE acknowledged_at IS NULL ORDER BY created_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Reminder {
                id: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                job_id: r.get(1)?,
                rule: r.get(2)?,
                ring: u8::try_from(r.get::<_, i64>(3)?).unwrap_or(1),
                clock: r.get(4)?,
                message: r.get(5)?,
                created_at: r.get(6)?,
                acknowledged_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Acknowledges reminder `id` now, offline: it leaves [`Store::reminders`] at once and the
    /// server records the acknowledgement (by this installer) at the next sync. Acknowledging
    /// it again changes nothing; a reminder the phone does not hold is
    /// [`Error::UnknownReminder`].
    pub fn acknowledge_reminder(&self, id: u64) -> Result<()> {
        let conn = self.conn();
        let known: Option<i64> = conn
            .query_row_cached(
                "SELECT id FROM reminders WHERE id = ?1",
                [to_i64(id)],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_none() {
            return Err(Error::UnknownReminder(id));
        }
        conn.execute_cached(
            "UPDATE reminders SET acknowledged_at = ?2 WHERE id = ?1 AND acknowledged_at IS NULL",
            params![to_i64(id), fieldsync_protocol::now_millis()],
        )?;
        Ok(())
    }
}

/// The reminders acknowledged on the phone, for the next request.
pub(crate) fn acknowledged(conn: &Connection) -> Result<Vec<u64>> {
    let mut stmt = conn
        .prepare_cached("SELECT id FROM reminders WHERE acknowledged_at IS NOT NULL ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
    rows.map(|id| Ok(u64::try_from(id?).unwrap_or(0))).collect()
}

/// Keeps exactly the server's open reminders (with the phone's own acknowledgements of those
/// still listed, which go again with the next sync); returns the ones new to the phone.
pub(crate) fn replace(conn: &Connection, open: &[PhoneReminder]) -> Result<Vec<Reminder>> {
    let listed: BTreeSet<i64> = open.iter().map(|r| to_i64(r.id)).collect();
    let held: BTreeSet<i64> = {
        let mut stmt = conn.prepare_cached("SELECT id FROM reminders")?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        rows.collect::<std::result::Result<_, _>>()?
    };
    for gone in held.difference(&listed) {
        conn.execute_cached("DELETE FROM reminders WHERE id = ?1", [gone])?;
    }
    let mut arrived = Vec::new();
    for r in open {
        if held.contains(&to_i64(r.id)) {
            continue;
        }
        conn.execute_cached(
            "INSERT INTO reminders (id, job_id, rule, ring, clock, message, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                to_i64(r.id),
                r.job,
                r.rule,
                i64::from(r.ring),
                r.clock,
                r.message,
                r.created_at
            ],
        )?;
        arrived.push(Reminder {
            id: r.id,
            job_id: r.job.clone(),
            rule: r.rule.clone(),
            ring: r.ring,
            clock: r.clock.clone(),
            message: r.message.clone(),
            created_at: r.created_at,
            acknowledged_at: None,
        });
    }
    Ok(arrived)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: u64) -> PhoneReminder {
        PhoneReminder {
            id,
            job: format!("job-{id}"),
            rule: "resolve:owner".into(),
            ring: 1,
            clock: "resolve".into(),
            message: "resolve overdue".into(),
            created_at: i64::try_from(id).expect("id"),
        }
    }

    /// The server's list is the truth: new ones are reported once, ones it no longer lists
    /// leave, and an acknowledgement it has not recorded yet stays to be sent again.
    #[test]
    fn the_servers_list_replaces_the_phones_keeping_unsent_acknowledgements() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let arrived = replace(&store.conn(), &[sent(1), sent(2)]).expect("replace");
        assert_eq!(arrived.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2]);
        assert!(
            replace(&store.conn(), &[sent(1), sent(2)])
                .expect("again")
                .is_empty(),
            "reported once"
        );
        store.acknowledge_reminder(2).expect("acknowledge");
        store
            .acknowledge_reminder(2)
            .expect("again: nothing changes");
        assert_eq!(
            store
                .reminders()
                .expect("list")
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(acknowledged(&store.conn()).expect("acks"), [2]);
        // The round that carried the acknowledgement was built before it: 2 is still listed,
        // and its acknowledgement goes again.
        replace(&store.conn(), &[sent(1), sent(2), sent(3)]).expect("replace");
        assert_eq!(acknowledged(&store.conn()).expect("acks"), [2]);
        // The server recorded it (and someone in the office acknowledged 1).
        replace(&store.conn(), &[sent(3)]).expect("replace");
        assert!(acknowledged(&store.conn()).expect("acks").is_empty());
        let left: Vec<u64> = store
            .reminders()
            .expect("list")
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, [3]);
        assert!(matches!(
            store.acknowledge_reminder(2),
            Err(Error::UnknownReminder(2))
        ));
    }
}
