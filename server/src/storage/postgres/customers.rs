//! PostgreSQL for customer records.

use super::{Tx, to_i64};
use crate::storage::StorageError;
use crate::storage::customers::{
    CustomerRecord, CustomerStore, CustomerStoreMut, MAX_PATTERNS, decode, encode, like_clause,
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
}
