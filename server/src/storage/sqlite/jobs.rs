//! SQLite for jobs, the history and scope events.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;
use rusqlite::{Connection, OptionalExtension, params};

use super::{CachedStatements, Tx, summary_from, to_i64, to_u64};
use crate::storage::{
    DocumentCache, Event, EventKind, JobStore, JobStoreMut, NewChange, StorageError,
    StoredDocument, StoredJob,
};

/// Migration 8: see `MIGRATIONS` in the parent module. A job stored before it keeps its whole
/// document as its snapshot, covering every change it had; its heads are unknown (empty) until
/// its next edit, so its document is loaded from storage until then.
pub(super) const INCREMENTAL_DOCUMENTS: &str = "
    CREATE TABLE job_snapshots (
        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(job_id),
        doc BLOB NOT NULL,
        through_seq INTEGER NOT NULL
    ) STRICT;
    INSERT INTO job_snapshots (job_id, doc, through_seq)
        SELECT job_id, doc, COALESCE((SELECT MAX(seq) FROM events e WHERE e.job_id = jobs.job_id), 0)
        FROM jobs;
    ALTER TABLE jobs ADD COLUMN heads BLOB NOT NULL DEFAULT x'';
    ALTER TABLE jobs ADD COLUMN snapshot_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN tail_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET snapshot_bytes = length(doc);
    ALTER TABLE jobs DROP COLUMN doc;";

impl JobStore for Tx<'_> {
    fn server_id(&self) -> Result<String, StorageError> {
        let bytes: Vec<u8> =
            self.0
                .query_row_cached("SELECT value FROM meta WHERE key = 'server_id'", [], |r| {
                    r.get(0)
                })?;
        String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
    }

    fn server_actor(&self) -> Result<Vec<u8>, StorageError> {
        Ok(self.1.to_vec())
    }

    fn max_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 =
            self.0
                .query_row_cached("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        Ok(to_u64(seq))
    }

    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError> {
        let row = self
            .0
            .prepare_cached(
                "SELECT summary, heads, snapshot_bytes, tail_bytes FROM jobs WHERE job_id = ?1",
            )?
            .query_row([job_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .optional()?;
        row.map(|(summary, heads, snapshot_bytes, tail_bytes)| {
            Ok(StoredJob {
                summary: summary_from(&summary)?,
                heads,
                snapshot_bytes: to_u64(snapshot_bytes),
                tail_bytes: to_u64(tail_bytes),
            })
        })
        .transpose()
    }

    fn job_document(&self, job_id: &str) -> Result<Option<StoredDocument>, StorageError> {
        let exists = self
            .0
            .prepare_cached("SELECT 1 FROM jobs WHERE job_id = ?1")?
            .exists([job_id])?;
        if !exists {
            return Ok(None);
        }
        let (snapshot, through) = self
            .0
            .prepare_cached("SELECT doc, through_seq FROM job_snapshots WHERE job_id = ?1")?
            .query_row([job_id], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
            .unwrap_or_default();
        let mut stmt = self.0.prepare_cached(
            "SELECT change FROM events WHERE job_id = ?1 AND seq > ?2 AND kind = 'change'
             ORDER BY seq",
        )?;
        let tail = stmt
            .query_map(params![job_id, through], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<Result<_, _>>()?;
        Ok(Some(StoredDocument { snapshot, tail }))
    }

    fn documents(&self) -> &DocumentCache {
        self.2
    }

    fn list_jobs(&self) -> Result<Vec<JobSummary>, StorageError> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT summary FROM jobs ORDER BY call_received_at, job_id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|row| summary_from(&row?)).collect()
    }

    fn events_for_user(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError> {
        let behind = self.max_seq()?.saturating_sub(after);
        // Counted only as far as it decides the plan: a year of an installer's jobs is not
        // counted on every round.
        let counted_to = behind / SCOPE_JOB_COST_IN_EVENTS + 1;
        let assigned: i64 = self.0.query_row_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE assignee = ?1 LIMIT ?2)",
            params![user, to_i64(counted_to)],
            |r| r.get(0),
        )?;
        let plan = if to_u64(assigned) < counted_to {
            EventsPlan::FromScope
        } else {
            EventsPlan::WalkEvents
        };
        events_for_user(&self.0, user, after, limit, plan)
    }

    fn latest_entry(&self, job_id: &str, user: &str) -> Result<Option<u64>, StorageError> {
        let seq: Option<i64> = self.0.query_row_cached(
            "SELECT MAX(seq) FROM events WHERE job_id = ?1 AND user_id = ?2 AND kind = 'enter'",
            [job_id, user],
            |r| r.get(0),
        )?;
        Ok(seq.map(to_u64))
    }

    fn ever_in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError> {
        Ok(self.latest_entry(job_id, user)?.is_some())
    }

    fn in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError> {
        let kind: Option<String> = self.0.query_row_cached(
            &format!("SELECT {}", latest_scope_kind("?1", "?2")),
            [job_id, user],
            |r| r.get(0),
        )?;
        Ok(kind.as_deref() == Some("enter"))
    }

    fn jobs_in_scope(&self, user: &str) -> Result<Vec<String>, StorageError> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT DISTINCT e.job_id FROM events e
             WHERE e.user_id = ?1 AND e.kind = 'enter' AND {} = 'enter'
             ORDER BY e.job_id",
            latest_scope_kind("e.job_id", "?1")
        ))?;
        let rows = stmt.query_map([user], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest_scope_seq(&self, user: &str) -> Result<u64, StorageError> {
        let seq: Option<i64> = self.0.query_row_cached(
            "SELECT MAX(seq) FROM events WHERE user_id = ?1 AND kind IN ('enter', 'leave')",
            [user],
            |r| r.get(0),
        )?;
        Ok(seq.map_or(0, to_u64))
    }

    fn idle_closed_in_scope(
        &self,
        idle_since: Millis,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StorageError> {
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT j.job_id, j.assignee FROM jobs j
             WHERE j.status = 'closed' AND j.assignee IS NOT NULL AND j.updated_at <= ?1
               AND {} = 'enter'
             ORDER BY j.updated_at LIMIT ?2",
            latest_scope_kind("j.job_id", "j.assignee")
        ))?;
        let rows = stmt.query_map(params![idle_since, to_i64(limit as u64)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// How [`events_for_user`] finds a user's events: the same rows either way, at different costs.
/// The cheaper is the one with less to read: the events after the cursor, or the jobs
/// assigned to the user ([`SCOPE_JOB_COST_IN_EVENTS`] converts between them).
#[derive(Debug, Clone, Copy)]
enum EventsPlan {
    /// Walk the events after the cursor, checking each one's job: for a user with many jobs
    /// whose cursor is close behind (a dispatcher's test phone, an installer with years of
    /// jobs who syncs often in a quiet fleet).
    WalkEvents,
    /// Look up the events of each job in the user's scope through the index by job: reads
    /// only theirs, however busy the rest of the fleet was since the cursor (a first sync, a
    /// phone back after weeks, any phone of a large fleet online). Unlike the walk, it reads
    /// all of them before the page's limit applies, on every page.
    FromScope,
}

/// What looking up one assigned job costs against walking one event: measured on a fleet's
/// database, about 1 µs per job (its scope check and its events' index) against 0.5 µs per
/// event walked.
const SCOPE_JOB_COST_IN_EVENTS: u64 = 2;

/// Changes of jobs in the user's scope now (assigned to them, not cancelled, and not closed long
/// enough to have left the phone) and the user's scope events, after `after`, in order.
fn events_for_user(
    conn: &Connection,
    user: &str,
    after: u64,
    limit: usize,
    plan: EventsPlan,
) -> Result<Vec<Event>, StorageError> {
    let in_scope = match plan {
        EventsPlan::WalkEvents => format!(
            "EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = e.job_id AND j.assignee = ?2
               AND j.status <> 'cancelled' AND {} = 'enter')",
            latest_scope_kind("e.job_id", "?2")
        ),
        EventsPlan::FromScope => format!(
            "job_id IN (SELECT j.job_id FROM jobs j WHERE j.assignee = ?2
               AND j.status <> 'cancelled' AND {} = 'enter')",
            latest_scope_kind("j.job_id", "?2")
        ),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT seq, job_id, kind, user_id, origin_device, change FROM events e
         WHERE seq > ?1 AND ((kind = 'change' AND {in_scope})
           OR (kind IN ('enter', 'leave') AND user_id = ?2))
         ORDER BY seq LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![to_i64(after), user, to_i64(limit as u64)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<Vec<u8>>>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (seq, job_id, kind, user, origin_device, change) = row?;
        Ok(Event {
            seq: to_u64(seq),
            job_id,
            kind: EventKind::parse(&kind)?,
            user,
            origin_device,
            change,
        })
    })
    .collect()
}

/// SQL for the kind of the latest scope event of job `job` for user `user` (`enter`, `leave`,
/// or NULL), both SQL expressions: whether the job is in the user's scope now.
fn latest_scope_kind(job: &str, user: &str) -> String {
    format!(
        "(SELECT kind FROM events
          WHERE job_id = {job} AND user_id = {user} AND kind IN ('enter', 'leave')
          ORDER BY seq DESC LIMIT 1)"
    )
}

impl JobStoreMut for Tx<'_> {
    fn put_job(
        &mut self,
        job: &StoredJob,
        changes: &[NewChange],
        snapshot: Option<&[u8]>,
        now: Millis,
    ) -> Result<(), StorageError> {
        let id = &job.summary.id;
        let summary = serde_json::to_string(&job.summary)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let row = params![
            id,
            job.summary.assignee,
            job.summary.status.as_str(),
            job.summary.call_received_at,
            summary,
            now,
            job.heads,
        ];
        // Most commits keep the job's holder and status: leaving those columns out of the
        // update leaves their indexes' pages clean.
        let kept = self.0.execute_cached(
            "UPDATE jobs SET call_received_at = ?4, summary = ?5, updated_at = ?6, heads = ?7
             WHERE job_id = ?1 AND assignee IS ?2 AND status = ?3",
            row,
        )?;
        if kept == 0 {
            self.0.execute_cached(
                "INSERT INTO jobs (job_id, assignee, status, call_received_at, summary,
                   updated_at, heads)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (job_id) DO UPDATE SET assignee = excluded.assignee,
                   status = excluded.status, call_received_at = excluded.call_received_at,
                   summary = excluded.summary, updated_at = excluded.updated_at,
                   heads = excluded.heads",
                row,
            )?;
        }
        let mut appended = 0;
        let mut stmt = self.0.prepare_cached(
            "INSERT INTO events (job_id, kind, origin_device, hash, change, received_at)
             VALUES (?1, 'change', ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?;
        for change in changes {
            let inserted = stmt.execute(params![
                id,
                change.origin_device,
                change.hash.as_slice(),
                change.bytes,
                now
            ])?;
            if inserted > 0 {
                appended += change.bytes.len();
            }
        }
        match snapshot {
            Some(snapshot) => {
                self.0
                    .prepare_cached(
                        "INSERT INTO job_snapshots (job_id, doc, through_seq)
                         VALUES (?1, ?2, (SELECT MAX(seq) FROM events WHERE job_id = ?1))
                         ON CONFLICT (job_id) DO UPDATE SET doc = excluded.doc,
                           through_seq = excluded.through_seq",
                    )?
                    .execute(params![id, snapshot])?;
                self.0
                    .prepare_cached(
                        "UPDATE jobs SET snapshot_bytes = ?2, tail_bytes = 0 WHERE job_id = ?1",
                    )?
                    .execute(params![id, to_i64(snapshot.len() as u64)])?;
            }
            None if appended > 0 => {
                self.0
                    .prepare_cached(
                        "UPDATE jobs SET tail_bytes = tail_bytes + ?2 WHERE job_id = ?1",
                    )?
                    .execute(params![id, to_i64(appended as u64)])?;
            }
            None => {}
        }
        Ok(())
    }

    fn record_scope(
        &mut self,
        job_id: &str,
        user: &str,
        kind: EventKind,
        now: Millis,
    ) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO events (job_id, kind, user_id, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![job_id, kind.as_str(), user, now],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::automerge::{AutoCommit, ROOT, transaction::Transactable};
    use rusqlite::Connection;

    use super::super::{MIGRATIONS, SqliteStorage};
    use crate::storage::documents::heads_bytes;
    use crate::storage::read;

    /// Both ways of finding a user's events give the same rows, from every cursor and with a
    /// page limit, over the scope scenarios of the conformance suite (jobs entering, leaving
    /// and entering again, another user's jobs, closed jobs idle long enough to leave), a
    /// cancelled job and a job moved from one installer to another.
    #[test]
    fn both_plans_find_the_same_events() {
        use super::{EventsPlan, events_for_user};
        use crate::storage::conformance;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let store = SqliteStorage::open(&path).expect("open");
        conformance::events_follow_current_scope(&store);
        conformance::idle_closed_jobs_leave_scope(&store);
        crate::storage::write(&store, |tx| {
            use crate::storage::EventKind;
            use fieldsync_protocol::rules::Status;
            let mut cancelled = conformance::summary("cancelled", Some("u1"));
            cancelled.status = Status::Cancelled;
            tx.put_job(
                &conformance::stored(cancelled),
                &[conformance::change(40)],
                None,
                90,
            )?;
            tx.record_scope("cancelled", "u1", EventKind::Enter, 90)?;
            let moved = |to| conformance::stored(conformance::summary("moved", Some(to)));
            tx.put_job(&moved("u1"), &[conformance::change(41)], None, 91)?;
            tx.record_scope("moved", "u1", EventKind::Enter, 91)?;
            tx.record_scope("moved", "u1", EventKind::Leave, 92)?;
            tx.put_job(&moved("u2"), &[conformance::change(42)], None, 92)?;
            tx.record_scope("moved", "u2", EventKind::Enter, 92)
        })
        .expect("write");
        let max = read(&store, |tx| tx.max_seq()).expect("max");
        drop(store);
        let conn = Connection::open(&path).expect("open raw");
        let mut found = 0;
        for user in ["u1", "u2", "nobody"] {
            for after in 0..=max {
                for limit in [1, 3, 100] {
                    let walked = events_for_user(&conn, user, after, limit, EventsPlan::WalkEvents)
                        .expect("walk");
                    let scoped = events_for_user(&conn, user, after, limit, EventsPlan::FromScope)
                        .expect("scope");
                    assert_eq!(walked, scoped, "{user} after {after}, limit {limit}");
                    found += walked.len();
                }
            }
        }
        assert!(found > 0, "the scenarios leave events to find");
    }

    /// Every table's and index's definition, for comparing two databases' layouts.
    fn layout(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn a_database_from_before_incremental_documents_keeps_every_job_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old.db");
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "note", "first").expect("put");
        doc.commit();
        doc.put(ROOT, "note", "second").expect("put");
        {
            // The layout before migration 8, with a job stored whole the way it was then.
            let conn = Connection::open(&old).expect("open");
            for migration in &MIGRATIONS[..7] {
                conn.execute_batch(migration).expect("migrate");
            }
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('server_id', x'73')",
                [],
            )
            .expect("meta");
            conn.pragma_update(None, "user_version", 7)
                .expect("version");
            conn.execute(
                "INSERT INTO jobs (job_id, doc, status, call_received_at, summary, updated_at)
                 VALUES ('j1', ?1, 'new', 1, '{}', 1)",
                [doc.save()],
            )
            .expect("job");
            for change in doc.get_changes(&[]) {
                conn.execute(
                    "INSERT INTO events (job_id, kind, hash, change, received_at)
                     VALUES ('j1', 'change', ?1, ?2, 1)",
                    rusqlite::params![change.hash().0.as_slice(), change.raw_bytes()],
                )
                .expect("event");
            }
        }
        let store = SqliteStorage::open(&old).expect("upgrade");
        let stored = read(&store, |tx| tx.job_document("j1"))
            .expect("read")
            .expect("document");
        assert!(stored.tail.is_empty(), "the whole document is the snapshot");
        let mut loaded = AutoCommit::load(&stored.into_bytes()).expect("load");
        assert_eq!(
            heads_bytes(&loaded.get_heads()),
            heads_bytes(&doc.get_heads())
        );
        drop(store);
        let fresh = dir.path().join("fresh.db");
        drop(SqliteStorage::open(&fresh).expect("fresh"));
        assert_eq!(
            layout(&Connection::open(&old).expect("old")),
            layout(&Connection::open(&fresh).expect("fresh"))
        );
    }
}
