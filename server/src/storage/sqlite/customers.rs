//! SQLite for customer records.

use rusqlite::{OptionalExtension, params};

use super::{Tx, to_i64};
use crate::storage::StorageError;
use crate::storage::customers::{
    CustomerRecord, CustomerStore, CustomerStoreMut, MAX_PATTERNS, decode, encode, like_clause,
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

impl CustomerStore for Tx<'_> {
    fn customer(&self, id: &str) -> Result<Option<CustomerRecord>, StorageError> {
        let json: Option<String> = self
            .0
            .query_row(
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
}

impl CustomerStoreMut for Tx<'_> {
    fn put_customer(&mut self, record: &CustomerRecord) -> Result<(), StorageError> {
        self.0.execute(
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
}
