//! SQLite for customer records.

use rusqlite::{OptionalExtension, params};

use super::{CachedStatements, Tx, to_i64};
use crate::storage::StorageError;
use crate::storage::customers::{
    CustomerJob, CustomerRecord, CustomerStore, CustomerStoreMut, MAX_PATTERNS, decode,
    decode_line, encode, encode_line, like_clause,
};

/// Migration 12: customer records, each whole as JSON beside what search matches.
pub(super) const MIGRATION: &str = "
    CREATE TABLE customers (
        customer_id TEXT PRIMARY KEY NOT NULL,
        record TEXT NOT NULL,
        search TEXT NOT NULL,
        merged_into TEXT,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX customers_by_change ON customers(updated_at) WHERE merged_into IS NULL;
    CREATE INDEX customers_merged ON customers(merged_into) WHERE merged_into IS NOT NULL;";

/// Migration 16: each job as its customer's history shows it, found by customer.
pub(super) const HISTORY: &str = "
    CREATE TABLE customer_jobs (
        job_id TEXT PRIMARY KEY NOT NULL,
        customer_id TEXT NOT NULL,
        call_received_at INTEGER NOT NULL,
        line TEXT NOT NULL
    ) STRICT;
    CREATE INDEX customer_jobs_by_customer ON customer_jobs(customer_id, call_received_at);";

/// Runs `sql` with `ids` bound as one JSON array (`?1`, read with `json_each`) and the extra
/// parameters after it, decoding the history line in the first column of each row.
fn lines_for(
    tx: &Tx<'_>,
    sql: &str,
    ids: &[String],
    extra: &[&dyn rusqlite::ToSql],
) -> Result<Vec<CustomerJob>, StorageError> {
    let ids = serde_json::to_string(ids)
        .map_err(|e| StorageError::Corrupt(format!("customer ids: {e}")))?;
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&ids];
    bound.extend_from_slice(extra);
    let mut statement = tx.0.prepare_cached(sql)?;
    let rows = statement.query_map(&bound[..], |r| r.get::<_, String>(0))?;
    rows.map(|json| decode_line(&json?)).collect()
}

impl CustomerStore for Tx<'_> {
    fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StorageError> {
        let json: Option<String> = self
            .0
            .query_row_cached(
                "SELECT record FROM customers WHERE customer_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        json.as_deref().map(decode).transpose()
    }

    fn customers_like(
        &self,
        patterns: &[String],
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, StorageError> {
        let patterns = &patterns[..patterns.len().min(MAX_PATTERNS)];
        let sql = format!(
            "SELECT record FROM customers WHERE {} ORDER BY updated_at DESC, customer_id LIMIT ?1",
            like_clause(patterns.len(), '?', 2)
        );
        let mut statement = self.0.prepare_cached(&sql)?;
        let limit = to_i64(limit as u64);
        let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&limit];
        bound.extend(patterns.iter().map(|p| p as &dyn rusqlite::ToSql));
        let rows = statement.query_map(&bound[..], |r| r.get::<_, String>(0))?;
        rows.map(|json| decode(&json?)).collect()
    }

    fn merged_into(&self, id: &str) -> Result<Vec<String>, StorageError> {
        let mut statement = self.0.prepare_cached(
            "SELECT customer_id FROM customers WHERE merged_into = ?1 ORDER BY customer_id",
        )?;
        let rows = statement.query_map([id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn customer_jobs(
        &self,
        customer_ids: &[String],
        limit: usize,
    ) -> Result<Vec<CustomerJob>, StorageError> {
        lines_for(
            self,
            "SELECT line FROM customer_jobs
             WHERE customer_id IN (SELECT value FROM json_each(?1))
             ORDER BY call_received_at DESC, job_id LIMIT ?2",
            customer_ids,
            &[&to_i64(limit as u64)],
        )
    }

    fn customer_jobs_of(&self, job_ids: &[String]) -> Result<Vec<CustomerJob>, StorageError> {
        lines_for(
            self,
            "SELECT line FROM customer_jobs
             WHERE job_id IN (SELECT value FROM json_each(?1)) ORDER BY job_id",
            job_ids,
            &[],
        )
    }

    fn jobs_without_customer_line(&self, limit: usize) -> Result<Vec<String>, StorageError> {
        let mut statement = self.0.prepare_cached(
            "SELECT job_id FROM jobs j
             WHERE NOT EXISTS (SELECT 1 FROM customer_jobs c WHERE c.job_id = j.job_id)
             ORDER BY job_id LIMIT ?1",
        )?;
        let rows = statement.query_map([to_i64(limit as u64)], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl CustomerStoreMut for Tx<'_> {
    fn put_customer(&mut self, record: &CustomerRecord) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO customers (customer_id, record, search, merged_into, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (customer_id) DO UPDATE SET record = excluded.record,
               search = excluded.search, merged_into = excluded.merged_into,
               updated_at = excluded.updated_at",
            params![
                record.id,
                encode(record)?,
                record.search_text(),
                record.merged_into,
                record.updated_at
            ],
        )?;
        Ok(())
    }

    fn put_customer_job(&mut self, line: &CustomerJob) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO customer_jobs (job_id, customer_id, call_received_at, line)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job_id) DO UPDATE SET customer_id = excluded.customer_id,
               call_received_at = excluded.call_received_at, line = excluded.line
             WHERE customer_jobs.line IS NOT excluded.line",
            params![
                line.job_id,
                line.customer_id,
                line.call_received_at,
                encode_line(line)?
            ],
        )?;
        Ok(())
    }
}
