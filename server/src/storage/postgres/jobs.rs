//! PostgreSQL for jobs, the history and scope events.

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;

use super::{Tx, summary_from, to_i64, to_u64};
use crate::storage::{
    DocumentCache, Event, EventKind, JobStore, JobStoreMut, NewChange, StorageError,
    StoredDocument, StoredJob,
};

/// The layout of jobs, their snapshots and the history: SQLite's after its migrations 1, 7 and
/// 8. Keys and compared text sort bytewise (`COLLATE "C"`), as in SQLite, whatever the
/// database's default collation. `seq` is an identity, never reused, like SQLite's
/// `AUTOINCREMENT`; it grows in commit order because writes are serial (see the parent module).
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE jobs (
        job_id TEXT COLLATE "C" PRIMARY KEY,
        assignee TEXT COLLATE "C",
        status TEXT COLLATE "C" NOT NULL,
        call_received_at BIGINT NOT NULL,
        summary TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        heads BYTEA NOT NULL DEFAULT '',
        snapshot_bytes BIGINT NOT NULL DEFAULT 0,
        tail_bytes BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_by_assignee ON jobs(assignee);
    CREATE INDEX jobs_by_status ON jobs(status);
    CREATE TABLE job_snapshots (
        job_id TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs(job_id),
        doc BYTEA NOT NULL,
        through_seq BIGINT NOT NULL
    );
    CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(job_id),
        kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('change', 'enter', 'leave')),
        user_id TEXT COLLATE "C",
        origin_device TEXT COLLATE "C",
        hash BYTEA,
        change BYTEA,
        received_at BIGINT NOT NULL
    );
    CREATE INDEX events_by_job ON events(job_id, seq);
    CREATE INDEX events_by_user ON events(user_id, seq) WHERE user_id IS NOT NULL;
    CREATE UNIQUE INDEX events_change_hash ON events(job_id, hash) WHERE hash IS NOT NULL;
    CREATE INDEX events_scope ON events(job_id, user_id, seq) WHERE user_id IS NOT NULL;
"#;

impl JobStore for Tx<'_> {
    fn server_id(&self) -> Result<String, StorageError> {
        let bytes: Vec<u8> = self
            .query_one("SELECT value FROM meta WHERE key = 'server_id'", &[])?
            .try_get(0)?;
        String::from_utf8(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
    }

    fn server_actor(&self) -> Result<Vec<u8>, StorageError> {
        Ok(self.actor.to_vec())
    }

    fn max_seq(&self) -> Result<u64, StorageError> {
        let seq: i64 = self
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])?
            .try_get(0)?;
        Ok(to_u64(seq))
    }

    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError> {
        let row = self.query_opt(
            "SELECT summary, heads, snapshot_bytes, tail_bytes FROM jobs WHERE job_id = $1",
            &[&job_id],
        )?;
        row.map(|r| {
            Ok(StoredJob {
                summary: summary_from(&r.try_get::<_, String>(0)?)?,
                heads: r.try_get(1)?,
                snapshot_bytes: to_u64(r.try_get(2)?),
                tail_bytes: to_u64(r.try_get(3)?),
            })
        })
        .transpose()
    }

    fn job_document(&self, job_id: &str) -> Result<Option<StoredDocument>, StorageError> {
        let exists = self
            .query_opt("SELECT 1 FROM jobs WHERE job_id = $1", &[&job_id])?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let (snapshot, through) = match self.query_opt(
            "SELECT doc, through_seq FROM job_snapshots WHERE job_id = $1",
            &[&job_id],
        )? {
            Some(r) => (r.try_get::<_, Vec<u8>>(0)?, r.try_get::<_, i64>(1)?),
            None => Default::default(),
        };
        let tail = self
            .query(
                "SELECT change FROM events WHERE job_id = $1 AND seq > $2 AND kind = 'change'
                 ORDER BY seq",
                &[&job_id, &through],
            )?
            .iter()
            .map(|r| r.try_get::<_, Vec<u8>>(0))
            .collect::<Result<_, _>>()?;
        Ok(Some(StoredDocument { snapshot, tail }))
    }

    fn documents(&self) -> &DocumentCache {
        self.documents
    }

    fn list_jobs(&self) -> Result<Vec<JobSummary>, StorageError> {
        let rows = self.query(
            "SELECT summary FROM jobs ORDER BY call_received_at, job_id",
            &[],
        )?;
        rows.iter()
            .map(|r| summary_from(&r.try_get::<_, String>(0)?))
            .collect()
    }

    fn events_for_user(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError> {
        // Changes of jobs in the user's scope now (assigned to them, not cancelled, and not
        // closed long enough to have left the phone) and the user's scope events.
        let rows = self.query(
            &format!(
                "SELECT seq, job_id, kind, user_id, origin_device, change FROM events
                 WHERE seq > $1 AND (
                   (kind = 'change' AND job_id IN
                     (SELECT j.job_id FROM jobs j WHERE j.assignee = $2
                        AND j.status <> 'cancelled' AND {} = 'enter'))
                   OR (kind IN ('enter', 'leave') AND user_id = $2))
                 ORDER BY seq LIMIT $3",
                latest_scope_kind("j.job_id", "$2")
            ),
            &[&to_i64(after), &user, &to_i64(limit as u64)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    seq: to_u64(r.try_get(0)?),
                    job_id: r.try_get(1)?,
                    kind: EventKind::parse(r.try_get(2)?)?,
                    user: r.try_get(3)?,
                    origin_device: r.try_get(4)?,
                    change: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn latest_entry(&self, job_id: &str, user: &str) -> Result<Option<u64>, StorageError> {
        let seq: Option<i64> = self
            .query_one(
                "SELECT MAX(seq) FROM events WHERE job_id = $1 AND user_id = $2 AND kind = 'enter'",
                &[&job_id, &user],
            )?
            .try_get(0)?;
        Ok(seq.map(to_u64))
    }

    fn ever_in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError> {
        Ok(self.latest_entry(job_id, user)?.is_some())
    }

    fn in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError> {
        let kind: Option<String> = self
            .query_one(
                &format!("SELECT {}", latest_scope_kind("$1", "$2")),
                &[&job_id, &user],
            )?
            .try_get(0)?;
        Ok(kind.as_deref() == Some("enter"))
    }

    fn jobs_in_scope(&self, user: &str) -> Result<Vec<String>, StorageError> {
        let rows = self.query(
            &format!(
                "SELECT DISTINCT e.job_id FROM events e
                 WHERE e.user_id = $1 AND e.kind = 'enter' AND {} = 'enter'
                 ORDER BY e.job_id",
                latest_scope_kind("e.job_id", "$1")
            ),
            &[&user],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn latest_scope_seq(&self, user: &str) -> Result<u64, StorageError> {
        let seq: Option<i64> = self
            .query_one(
                "SELECT MAX(seq) FROM events WHERE user_id = $1 AND kind IN ('enter', 'leave')",
                &[&user],
            )?
            .try_get(0)?;
        Ok(seq.map_or(0, to_u64))
    }

    fn idle_closed_in_scope(
        &self,
        idle_since: Millis,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StorageError> {
        let rows = self.query(
            &format!(
                "SELECT j.job_id, j.assignee FROM jobs j
                 WHERE j.status = 'closed' AND j.assignee IS NOT NULL AND j.updated_at <= $1
                   AND {} = 'enter'
                 ORDER BY j.updated_at LIMIT $2",
                latest_scope_kind("j.job_id", "j.assignee")
            ),
            &[&idle_since, &to_i64(limit as u64)],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
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
        snapshot: Option<&[u8]>,
        now: Millis,
    ) -> Result<(), StorageError> {
        let id = job.summary.id.as_str();
        let summary = serde_json::to_string(&job.summary)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.execute(
            "INSERT INTO jobs (job_id, assignee, status, call_received_at, summary, updated_at,
               heads)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (job_id) DO UPDATE SET assignee = excluded.assignee,
               status = excluded.status, call_received_at = excluded.call_received_at,
               summary = excluded.summary, updated_at = excluded.updated_at,
               heads = excluded.heads",
            &[
                &id,
                &job.summary.assignee,
                &job.summary.status.as_str(),
                &job.summary.call_received_at,
                &summary,
                &now,
                &job.heads,
            ],
        )?;
        let mut appended = 0;
        for change in changes {
            // A change already held (same job and hash) is skipped and adds nothing to the tail.
            let inserted = self.execute(
                "INSERT INTO events (job_id, kind, origin_device, hash, change, received_at)
                 VALUES ($1, 'change', $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &id,
                    &change.origin_device,
                    &change.hash.as_slice(),
                    &change.bytes,
                    &now,
                ],
            )?;
            if inserted > 0 {
                appended += change.bytes.len();
            }
        }
        match snapshot {
            Some(snapshot) => {
                self.execute(
                    "INSERT INTO job_snapshots (job_id, doc, through_seq)
                     VALUES ($1, $2, (SELECT MAX(seq) FROM events WHERE job_id = $1))
                     ON CONFLICT (job_id) DO UPDATE SET doc = excluded.doc,
                       through_seq = excluded.through_seq",
                    &[&id, &snapshot],
                )?;
                self.execute(
                    "UPDATE jobs SET snapshot_bytes = $2, tail_bytes = 0 WHERE job_id = $1",
                    &[&id, &to_i64(snapshot.len() as u64)],
                )?;
            }
            None if appended > 0 => {
                self.execute(
                    "UPDATE jobs SET tail_bytes = tail_bytes + $2 WHERE job_id = $1",
                    &[&id, &to_i64(appended as u64)],
                )?;
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
        self.execute(
            "INSERT INTO events (job_id, kind, user_id, received_at) VALUES ($1, $2, $3, $4)",
            &[&job_id, &kind.as_str(), &user, &now],
        )?;
        Ok(())
    }
}
