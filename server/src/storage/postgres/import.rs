//! Moving an installation from its SQLite file to PostgreSQL (`fieldsync migrate`).
//!
//! Every table is copied row for row inside one PostgreSQL transaction that holds the writers'
//! lock, keeping every id: the history's `seq` and the devices' cursors, the credentials, the
//! server id, reminder and audit ids. Phones therefore keep syncing against the new database
//! without re-enrolling and without a reset. Afterwards both databases are compared table by
//! table, row by row.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ::postgres::types::ToSql;
use ::postgres::{Client, Config, NoTls, Transaction};
use rusqlite::OpenFlags;
use rusqlite::types::Value;
use sha2::{Digest, Sha256};

use super::{PostgresStorage, WRITE_LOCK};
use crate::storage::StorageError;
use crate::storage::sqlite::SqliteStorage;

/// Every table both backends keep, parents before the tables that refer to them. Not copied:
/// the readiness check's `probe` row and each backend's own bookkeeping (`sqlite_sequence`,
/// `schema_version`).
pub(crate) const TABLES: &[&str] = &[
    "meta",
    "users",
    "work_schedules",
    "list_entries",
    "sessions",
    "enrollment_codes",
    "credentials",
    "devices",
    "actors",
    "jobs",
    "job_snapshots",
    "events",
    "audit",
    "job_facts",
    "reminders",
    "blobs",
    "uploads",
    "job_blobs",
    "manuals",
    "manual_sections",
    "manual_attachments",
    "job_products",
    "cases",
    "tips",
    "report_links",
    "device_reports",
    "device_syncs",
    "device_logs",
    "sign_in_failures",
    "customers",
    "customer_jobs",
    "notifications",
    "deliveries",
];

/// What was copied: rows per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// `(table, rows)`.
    pub tables: Vec<(&'static str, u64)>,
}

/// A PostgreSQL column: its name, its type, whether the database numbers it.
struct Column {
    name: String,
    kind: ColumnType,
    identity: bool,
}

#[derive(Clone, Copy)]
enum ColumnType {
    Integer,
    Text,
    Bytes,
    Boolean,
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database at `to`, then
/// compares the two. The SQLite file is migrated to this server's layout first (as `serve`
/// would) and otherwise only read; stop the server before moving its database.
pub fn import_sqlite(from: &Path, to: &str) -> Result<Imported, StorageError> {
    if !from.exists() {
        return Err(StorageError::Database(format!(
            "there is no SQLite database at {}",
            from.display()
        )));
    }
    drop(SqliteStorage::open(from)?);
    let source = rusqlite::Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    drop(PostgresStorage::connect(to)?);
    let config = Config::from_str(to)
        .map_err(|e| StorageError::Database(format!("not a PostgreSQL connection string: {e}")))?;
    let mut target = config.connect(NoTls)?;
    let mut tables = Vec::with_capacity(TABLES.len());
    {
        let mut tx = target.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])?;
        refuse_unless_empty(&mut tx)?;
        // The PostgreSQL database got a server id of its own when it was made; the phones know
        // the SQLite one.
        tx.execute("DELETE FROM meta", &[])?;
        for &table in TABLES {
            let columns = columns(&mut tx, table)?;
            let rows = copy_table(&source, &mut tx, table, &columns)?;
            renumber_after(&source, &mut tx, table, &columns)?;
            tables.push((table, rows));
        }
        tx.commit()?;
    }
    for &table in TABLES {
        compare(&source, &mut target, table)?;
    }
    Ok(Imported { tables })
}

/// Fails unless every table but `meta` is empty: an import never merges two installations.
fn refuse_unless_empty(tx: &mut Transaction<'_>) -> Result<(), StorageError> {
    for &table in TABLES.iter().filter(|&&t| t != "meta") {
        let held: bool = tx
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])?
            .try_get(0)?;
        if held {
            return Err(StorageError::Database(format!(
                "the PostgreSQL database already holds data (table {table}): import into an \
                 empty database"
            )));
        }
    }
    Ok(())
}

/// The columns of `table` in the PostgreSQL layout, in order.
fn columns(tx: &mut Transaction<'_>, table: &str) -> Result<Vec<Column>, StorageError> {
    let rows = tx.query(
        "SELECT column_name::TEXT, data_type::TEXT, is_identity::TEXT = 'YES'
         FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1
         ORDER BY ordinal_position",
        &[&table],
    )?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get(0)?;
            let data_type: String = row.try_get(1)?;
            let kind = match data_type.as_str() {
                "bigint" => ColumnType::Integer,
                "text" => ColumnType::Text,
                "bytea" => ColumnType::Bytes,
                "boolean" => ColumnType::Boolean,
                other => {
                    return Err(StorageError::Database(format!(
                        "{table}.{name} has the type {other}, which the import does not know"
                    )));
                }
            };
            Ok(Column {
                name,
                kind,
                identity: row.try_get(2)?,
            })
        })
        .collect()
}

/// A SQLite value as the parameter for a PostgreSQL column of `kind`.
fn parameter(
    value: Value,
    kind: ColumnType,
    at: impl Fn() -> String,
) -> Result<Box<dyn ToSql + Sync>, StorageError> {
    let mismatch = |found: &str| {
        StorageError::Corrupt(format!("{} holds {found}, not what its column holds", at()))
    };
    Ok(match (kind, value) {
        (ColumnType::Integer, Value::Null) => Box::new(None::<i64>),
        (ColumnType::Integer, Value::Integer(n)) => Box::new(n),
        (ColumnType::Boolean, Value::Null) => Box::new(None::<bool>),
        (ColumnType::Boolean, Value::Integer(n)) => Box::new(n != 0),
        (ColumnType::Text, Value::Null) => Box::new(None::<String>),
        (ColumnType::Text, Value::Text(text)) => Box::new(text),
        (ColumnType::Bytes, Value::Null) => Box::new(None::<Vec<u8>>),
        (ColumnType::Bytes, Value::Blob(bytes)) => Box::new(bytes),
        (_, Value::Integer(_)) => return Err(mismatch("an integer")),
        (_, Value::Real(_)) => return Err(mismatch("a real number")),
        (_, Value::Text(_)) => return Err(mismatch("text")),
        (_, Value::Blob(_)) => return Err(mismatch("bytes")),
    })
}

/// Copies every row of `table`; returns how many.
fn copy_table(
    source: &rusqlite::Connection,
    tx: &mut Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<u64, StorageError> {
    let names = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let placeholders = (1..=columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Ids the database would number itself are copied as they are.
    let overriding = if columns.iter().any(|c| c.identity) {
        "OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let insert = tx.prepare(&format!(
        "INSERT INTO {table} ({names}) {overriding} VALUES ({placeholders})"
    ))?;
    let mut select = source.prepare(&format!("SELECT {names} FROM {table}"))?;
    let mut rows = select.query([])?;
    let mut copied = 0;
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let at = || format!("{table}.{} (row {})", column.name, copied + 1);
            values.push(parameter(row.get::<_, Value>(i)?, column.kind, at)?);
        }
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(AsRef::as_ref).collect();
        tx.execute(&insert, &params)?;
        copied += 1;
    }
    Ok(copied)
}

/// Sets the numbering of `table`'s identity columns past every id SQLite ever gave, rows
/// since deleted included, so that no id is handed out twice.
fn renumber_after(
    source: &rusqlite::Connection,
    tx: &mut Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<(), StorageError> {
    for column in columns.iter().filter(|c| c.identity) {
        let highest: i64 = source.query_row(
            &format!(
                "SELECT MAX(COALESCE((SELECT MAX({0}) FROM {table}), 0),
                   COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0))",
                column.name
            ),
            [table],
            |r| r.get(0),
        )?;
        tx.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST($3::BIGINT, 1), $3::BIGINT > 0)",
            &[&table, &column.name, &highest],
        )?;
    }
    Ok(())
}

/// Fails unless `table` holds the same rows on both sides (compared as digests of every value,
/// in any order).
fn compare(
    source: &rusqlite::Connection,
    target: &mut Client,
    table: &str,
) -> Result<(), StorageError> {
    let columns = {
        let mut tx = target.transaction()?;
        let columns = columns(&mut tx, table)?;
        tx.commit()?;
        columns
    };
    let names = columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut on_source: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    let mut select = source.prepare(&format!("SELECT {names} FROM {table}"))?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let mut digest = Sha256::new();
        for (i, column) in columns.iter().enumerate() {
            let value = match (column.kind, row.get::<_, Value>(i)?) {
                (ColumnType::Boolean, Value::Integer(n)) => Value::Integer(i64::from(n != 0)),
                (_, value) => value,
            };
            feed(&mut digest, &value);
        }
        *on_source.entry(digest.finalize().into()).or_default() += 1;
    }
    let mut on_target: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    for row in target.query(&format!("SELECT {names} FROM {table}"), &[])? {
        let mut digest = Sha256::new();
        for (i, column) in columns.iter().enumerate() {
            let value = match column.kind {
                ColumnType::Integer => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
                ColumnType::Boolean => row
                    .try_get::<_, Option<bool>>(i)?
                    .map(|b| Value::Integer(i64::from(b))),
                ColumnType::Text => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
                ColumnType::Bytes => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            };
            feed(&mut digest, &value.unwrap_or(Value::Null));
        }
        *on_target.entry(digest.finalize().into()).or_default() += 1;
    }
    if on_source != on_target {
        return Err(StorageError::Corrupt(format!(
            "table {table} differs after the import ({} rows in SQLite, {} in PostgreSQL)",
            on_source.values().sum::<u64>(),
            on_target.values().sum::<u64>()
        )));
    }
    Ok(())
}

/// Adds one value to a row's digest, tagged by its kind and length so that no two rows of
/// different values feed the same bytes.
fn feed(digest: &mut Sha256, value: &Value) {
    let (tag, bytes): (u8, Vec<u8>) = match value {
        Value::Null => (0, Vec::new()),
        Value::Integer(n) => (1, n.to_le_bytes().to_vec()),
        Value::Real(x) => (2, x.to_le_bytes().to_vec()),
        Value::Text(text) => (3, text.as_bytes().to_vec()),
        Value::Blob(bytes) => (4, bytes.clone()),
    };
    digest.update([tag]);
    digest.update((bytes.len() as u64).to_le_bytes());
    digest.update(&bytes);
}
