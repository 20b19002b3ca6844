//! SQLite for jobs, the history and scope events.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;
use rusqlite::{OptionalExtension, params};

use super::{Tx, summary_from, to_i64, to_u64};
use crate::storage::{Event, EventKind, JobStore, JobStoreMut, NewChange, StorageError, StoredJob};

impl JobStore for Tx<'_> {
    fn server_id(&self) -> Result<String, StorageError> {
        let bytes: Vec<u8> =
            self.0
                .query_row("SELECT value FROM meta WHERE key = 'server_id'", [], |r| {
                    r.get(0)
                })?;
        String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
    }

    fn server_actor(&self) -> Result<Vec<u8>, StorageError> {
        Ok(self.1.to_vec())
    }

    fn max_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 = self
            .0
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        Ok(to_u64(seq))
    }

    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError> {
        let row = self
            .0
            .query_row(
                "SELECT doc, summary FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        row.map(|(doc, summary)| {
            Ok(StoredJob {
                doc,
                summary: summary_from(&summary)?,
            })
        })
        .transpose()
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
        // Changes of jobs in the user's scope now (assigned to them, not cancelled, and not
        // closed long enough to have left the phone) and the user's scope events.
        let mut stmt = self.0.prepare_cached(&format!(
            "SELECT seq, job_id, kind, user_id, origin_device, change FROM events
             WHERE seq > ?1 AND (
               (kind = 'change' AND job_id IN
                 (SELECT j.job_id FROM jobs j WHERE j.assignee = ?2 AND j.status <> 'cancelled'
                    AND {} = 'enter'))
               OR (kind IN ('enter', 'leave') AND user_id = ?2))
             ORDER BY seq LIMIT ?3",
            latest_scope_kind("j.job_id", "?2")
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

    fn latest_entry(&self, job_id: &str, user: &str) -> Result<Option<u64>, StorageError> {
        let seq: Option<i64> = self.0.query_row(
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
        let kind: Option<String> = self.0.query_row(
            &format!("SELECT {}", latest_scope_kind("?1", "?2")),
            [job_id, user],
            |r| r.get(0),
        )?;
        Ok(kind.as_deref() == Some("enter"))
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
        now: Millis,
    ) -> Result<(), StorageError> {
        let summary = serde_json::to_string(&job.summary)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.0.execute(
            "INSERT INTO jobs (job_id, doc, assignee, status, call_received_at, summary, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (job_id) DO UPDATE SET doc = excluded.doc, assignee = excluded.assignee,
               status = excluded.status, call_received_at = excluded.call_received_at,
               summary = excluded.summary, updated_at = excluded.updated_at",
            params![
                job.summary.id,
                job.doc,
                job.summary.assignee,
                job.summary.status.as_str(),
                job.summary.call_received_at,
                summary,
                now
            ],
        )?;
        let mut stmt = self.0.prepare_cached(
            "INSERT INTO events (job_id, kind, origin_device, hash, change, received_at)
             VALUES (?1, 'change', ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?;
        for change in changes {
            stmt.execute(params![
                job.summary.id,
                change.origin_device,
                change.hash.as_slice(),
                change.bytes,
                now
            ])?;
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
        self.0.execute(
            "INSERT INTO events (job_id, kind, user_id, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![job_id, kind.as_str(), user, now],
        )?;
        Ok(())
    }
}
