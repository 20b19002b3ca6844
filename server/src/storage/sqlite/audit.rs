//! SQLite for the audit trail.

use rusqlite::params;

use super::{CachedStatements, Tx, to_i64, to_u64};
use crate::storage::{AuditEntry, AuditKind, AuditLog, AuditLogMut, StorageError};

impl AuditLog for Tx<'_> {
    fn audit(
        &self,
        job_id: Option<&str>,
        kind: Option<AuditKind>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT * FROM (
               SELECT id, job_id, kind, user_id, device_id, actor, change_hash, fields,
                      device_time, server_time, detail
               FROM audit WHERE (?1 IS NULL OR job_id = ?1) AND (?2 IS NULL OR kind = ?2)
               ORDER BY id DESC LIMIT ?3)
             ORDER BY id",
        )?;
        let rows = stmt.query_map(
            params![job_id, kind.map(AuditKind::as_str), to_i64(limit as u64)],
            |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ),
                    (
                        r.get(6)?,
                        r.get::<_, String>(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                    ),
                ))
            },
        )?;
        rows.map(|row| {
            let (
                (id, job_id, kind, user, device, actor),
                (change, fields, device_time, server_time, detail),
            ) = row?;
            Ok(AuditEntry {
                id: to_u64(id),
                job_id,
                kind: AuditKind::parse(&kind)
                    .ok_or_else(|| StorageError::Corrupt(format!("unknown audit kind `{kind}`")))?,
                user,
                device,
                actor,
                change,
                fields: serde_json::from_str(&fields)
                    .map_err(|e| StorageError::Corrupt(format!("audit fields: {e}")))?,
                device_time,
                server_time,
                detail,
            })
        })
        .collect()
    }

    fn violation_count(&self, device_id: &str) -> Result<u64, StorageError> {
        let count: i64 = self.0.query_row_cached(
            "SELECT COUNT(DISTINCT change_hash) FROM audit
             WHERE kind = 'violation' AND device_id = ?1",
            [device_id],
            |r| r.get(0),
        )?;
        Ok(to_u64(count))
    }
}

impl AuditLogMut for Tx<'_> {
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StorageError> {
        let fields = serde_json::to_string(&entry.fields)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.0
            .prepare_cached(
                "INSERT INTO audit (job_id, kind, user_id, device_id, actor, change_hash, fields,
                   device_time, server_time, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                entry.job_id,
                entry.kind.as_str(),
                entry.user,
                entry.device,
                entry.actor,
                entry.change,
                fields,
                entry.device_time,
                entry.server_time,
                entry.detail
            ])?;
        Ok(())
    }
}
