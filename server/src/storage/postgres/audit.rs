//! PostgreSQL for the audit trail.

use super::{Tx, to_i64, to_u64};
use crate::storage::{AuditEntry, AuditKind, AuditLog, AuditLogMut, StorageError};

/// The audit trail's layout: SQLite's after its migration 2. Its entries may name jobs the
/// store no longer holds, so `job_id` refers to nothing. Compared text sorts bytewise
/// (`COLLATE "C"`), as in SQLite.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        user_id TEXT COLLATE "C",
        device_id TEXT COLLATE "C",
        actor TEXT,
        change_hash TEXT COLLATE "C",
        fields TEXT NOT NULL DEFAULT '[]',
        device_time BIGINT,
        server_time BIGINT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_by_job ON audit(job_id, id);
    CREATE INDEX audit_by_kind ON audit(kind, id);
    CREATE INDEX audit_violations_by_device ON audit(device_id) WHERE kind = 'violation';
"#;

impl AuditLog for Tx<'_> {
    fn audit(
        &self,
        job_id: Option<&str>,
        kind: Option<AuditKind>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        // The casts type the filters PostgreSQL cannot infer from `IS NULL` alone.
        let rows = self.query(
            "SELECT * FROM (
               SELECT id, job_id, kind, user_id, device_id, actor, change_hash, fields,
                      device_time, server_time, detail
               FROM audit WHERE ($1::TEXT IS NULL OR job_id = $1)
                 AND ($2::TEXT IS NULL OR kind = $2)
               ORDER BY id DESC LIMIT $3) AS newest
             ORDER BY id",
            &[&job_id, &kind.map(AuditKind::as_str), &to_i64(limit as u64)],
        )?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(2)?;
                let fields: String = r.try_get(7)?;
                Ok(AuditEntry {
                    id: to_u64(r.try_get(0)?),
                    job_id: r.try_get(1)?,
                    kind: AuditKind::parse(&kind).ok_or_else(|| {
                        StorageError::Corrupt(format!("unknown audit kind `{kind}`"))
                    })?,
                    user: r.try_get(3)?,
                    device: r.try_get(4)?,
                    actor: r.try_get(5)?,
                    change: r.try_get(6)?,
                    fields: serde_json::from_str(&fields)
                        .map_err(|e| StorageError::Corrupt(format!("audit fields: {e}")))?,
                    device_time: r.try_get(8)?,
                    server_time: r.try_get(9)?,
                    detail: r.try_get(10)?,
                })
            })
            .collect()
    }

    fn violation_count(&self, device_id: &str) -> Result<u64, StorageError> {
        let count: i64 = self
            .query_one(
                "SELECT COUNT(DISTINCT change_hash) FROM audit
                 WHERE kind = 'violation' AND device_id = $1",
                &[&device_id],
            )?
            .try_get(0)?;
        Ok(to_u64(count))
    }
}

impl AuditLogMut for Tx<'_> {
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StorageError> {
        let fields = serde_json::to_string(&entry.fields)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.execute(
            "INSERT INTO audit (job_id, kind, user_id, device_id, actor, change_hash, fields,
               device_time, server_time, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &entry.job_id,
                &entry.kind.as_str(),
                &entry.user,
                &entry.device,
                &entry.actor,
                &entry.change,
                &fields,
                &entry.device_time,
                &entry.server_time,
                &entry.detail,
            ],
        )?;
        Ok(())
    }
}
