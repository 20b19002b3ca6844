//! PostgreSQL for customer records.

use super::{Tx, to_i64};
use crate::storage::StorageError;
use crate::storage::customers::{
    CustomerJob, CustomerRecord, CustomerStore, CustomerStoreMut, MAX_PATTERNS, decode,
    decode_line, encode, encode_line, like_clause,
};

/// Customer records: SQLite's migration 12. Ids sort bytewise (`COLLATE "C"`), as in SQLite.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE customers (
        customer_id TEXT COLLATE "C" PRIMARY KEY,
        record TEXT NOT NULL,
        search TEXT NOT NULL,
        merged_into TEXT COLLATE "C",
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX customers_by_change ON customers(updated_at) WHERE merged_into IS NULL;
    CREATE INDEX customers_merged ON customers(merged_into) WHERE merged_into IS NOT NULL;
"#;

/// Each job as its customer's history shows it: SQLite's migration 16.
pub(super) const HISTORY: &str = r#"
    CREATE TABLE customer_jobs (
        job_id TEXT COLLATE "C" PRIMARY KEY,
        customer_id TEXT COLLATE "C" NOT NULL,
        call_received_at BIGINT NOT NULL,
        line TEXT NOT NULL
    );
    CREATE INDEX customer_jobs_by_customer ON customer_jobs(customer_id, call_received_at);
"#;

impl CustomerStore for Tx<'_> {
    fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StorageError> {
        let row = self.query_opt(
            "SELECT record FROM customers WHERE customer_id = $1",
            &[&id],
        )?;
        row.map(|r| decode(r.try_get(0)?)).transpose()
    }

    fn customers_like(
        &self,
        patterns: &[String],
        limit: usize,
    ) -> Result<Vec<CustomerRecord>, StorageError> {
        let patterns = &patterns[..patterns.len().min(MAX_PATTERNS)];
        let sql = format!(
            "SELECT record FROM customers WHERE {} ORDER BY updated_at DESC, customer_id LIMIT $1",
            like_clause(patterns.len(), '$', 2)
        );
        let limit = to_i64(limit as u64);
        let mut bound: Vec<&(dyn ::postgres::types::ToSql + Sync)> = vec![&limit];
        bound.extend(
            patterns
                .iter()
                .map(|p| p as &(dyn ::postgres::types::ToSql + Sync)),
        );
        let rows = self.query(&sql, &bound)?;
        rows.iter().map(|r| decode(r.try_get(0)?)).collect()
    }

    fn merged_into(&self, id: &str) -> Result<Vec<String>, StorageError> {
        let rows = self.query(
            "SELECT customer_id FROM customers WHERE merged_into = $1 ORDER BY customer_id",
            &[&id],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn customer_jobs(
        &self,
        customer_ids: &[String],
        limit: usize,
    ) -> Result<Vec<CustomerJob>, StorageError> {
        let rows = self.query(
            "SELECT line FROM customer_jobs WHERE customer_id = ANY($1)
             ORDER BY call_received_at DESC, job_id LIMIT $2",
            &[&customer_ids, &to_i64(limit as u64)],
        )?;
        rows.iter().map(|r| decode_line(r.try_get(0)?)).collect()
    }

    fn customer_jobs_of(&self, job_ids: &[String]) -> Result<Vec<CustomerJob>, StorageError> {
        let rows = self.query(
            "SELECT line FROM customer_jobs WHERE job_id = ANY($1) ORDER BY job_id",
            &[&job_ids],
        )?;
        rows.iter().map(|r| decode_line(r.try_get(0)?)).collect()
    }

    fn jobs_without_customer_line(&self, limit: usize) -> Result<Vec<String>, StorageError> {
        let rows = self.query(
            "SELECT job_id FROM jobs j
             WHERE NOT EXISTS (SELECT 1 FROM customer_jobs c WHERE c.job_id = j.job_id)
             ORDER BY job_id LIMIT $1",
            &[&to_i64(limit as u64)],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

impl CustomerStoreMut for Tx<'_> {
    fn put_customer(&mut self, record: &CustomerRecord) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO customers (customer_id, record, search, merged_into, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (customer_id) DO UPDATE SET record = excluded.record,
               search = excluded.search, merged_into = excluded.merged_into,
               updated_at = excluded.updated_at",
            &[
                &record.id,
                &encode(record)?,
                &record.search_text(),
                &record.merged_into,
                &record.updated_at,
            ],
        )?;
        Ok(())
    }

    fn put_customer_job(&mut self, line: &CustomerJob) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO customer_jobs (job_id, customer_id, call_received_at, line)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (job_id) DO UPDATE SET customer_id = excluded.customer_id,
               call_received_at = excluded.call_received_at, line = excluded.line
             WHERE customer_jobs.line IS DISTINCT FROM excluded.line",
            &[
                &line.job_id,
                &line.customer_id,
                &line.call_received_at,
                &encode_line(line)?,
            ],
        )?;
        Ok(())
    }
}
