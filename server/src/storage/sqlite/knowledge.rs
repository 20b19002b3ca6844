//! SQLite for reference knowledge and media: which blobs the server holds and for which jobs,
//! uploads under way, published manuals, the case library, field tips and report links.

use fieldsync_protocol::knowledge::{Attachment, Case, Manual, ManualSummary, Section};
use rusqlite::{Connection, OptionalExtension, params};

use super::{CachedStatements, Tx, to_i64, to_u64};
use crate::storage::{
    BlobIndex, BlobIndexMut, BlobRecord, KnowledgeStore, KnowledgeStoreMut, PendingUpload,
    ReportLink, StorageError,
};

/// Migration 4: blobs, uploads, manuals, cases, tips and report links.
pub(super) const MIGRATION: &str = "
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY NOT NULL,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL
    ) STRICT;
    CREATE TABLE uploads (
        sha256 TEXT PRIMARY KEY NOT NULL,
        size INTEGER NOT NULL,
        mime TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        started_by TEXT NOT NULL
    ) STRICT;
    CREATE TABLE job_blobs (
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        PRIMARY KEY (job_id, sha256)
    ) STRICT;
    CREATE INDEX job_blobs_by_blob ON job_blobs(sha256);
    CREATE TABLE manuals (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        title TEXT NOT NULL,
        published_at INTEGER NOT NULL,
        published_by TEXT NOT NULL,
        PRIMARY KEY (model, version)
    ) STRICT;
    CREATE TABLE manual_sections (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        position INTEGER NOT NULL,
        section_id TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (model, version, position),
        FOREIGN KEY (model, version) REFERENCES manuals(model, version)
    ) STRICT;
    CREATE TABLE manual_attachments (
        model TEXT NOT NULL,
        version INTEGER NOT NULL,
        position INTEGER NOT NULL,
        sha256 TEXT NOT NULL REFERENCES blobs(sha256),
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (model, version, position),
        FOREIGN KEY (model, version) REFERENCES manuals(model, version)
    ) STRICT;
    CREATE INDEX manual_attachments_by_blob ON manual_attachments(sha256);
    CREATE TABLE job_products (
        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(job_id),
        model TEXT NOT NULL
    ) STRICT;
    CREATE INDEX job_products_by_model ON job_products(model);
    CREATE TABLE cases (
        job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs(job_id),
        model TEXT NOT NULL,
        symptom TEXT NOT NULL,
        cause TEXT NOT NULL,
        fix TEXT NOT NULL,
        completed_at INTEGER NOT NULL,
        engineer TEXT NOT NULL,
        cursor INTEGER NOT NULL UNIQUE,
        removed INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX cases_by_model ON cases(model, cursor);
    CREATE TABLE tips (
        model TEXT PRIMARY KEY NOT NULL,
        doc BLOB NOT NULL
    ) STRICT;
    CREATE TABLE report_links (
        token_hash BLOB PRIMARY KEY NOT NULL,
        job_id TEXT NOT NULL REFERENCES jobs(job_id),
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL
    ) STRICT;";

pub(super) fn blob(conn: &Connection, sha256: &str) -> Result<Option<BlobRecord>, StorageError> {
    Ok(conn
        .query_row_cached(
            "SELECT sha256, size, mime, created_at, created_by FROM blobs WHERE sha256 = ?1",
            [sha256],
            |r| {
                Ok(BlobRecord {
                    sha256: r.get(0)?,
                    size: to_u64(r.get(1)?),
                    mime: r.get(2)?,
                    created_at: r.get(3)?,
                    created_by: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn upload(
    conn: &Connection,
    sha256: &str,
) -> Result<Option<PendingUpload>, StorageError> {
    Ok(conn
        .query_row_cached(
            "SELECT sha256, size, mime, started_at, started_by FROM uploads WHERE sha256 = ?1",
            [sha256],
            |r| {
                Ok(PendingUpload {
                    sha256: r.get(0)?,
                    size: to_u64(r.get(1)?),
                    mime: r.get(2)?,
                    started_at: r.get(3)?,
                    started_by: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn blob_jobs(conn: &Connection, sha256: &str) -> Result<Vec<String>, StorageError> {
    let mut stmt =
        conn.prepare_cached("SELECT job_id FROM job_blobs WHERE sha256 = ?1 ORDER BY job_id")?;
    let rows = stmt.query_map([sha256], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn is_manual_attachment(conn: &Connection, sha256: &str) -> Result<bool, StorageError> {
    Ok(conn.query_row_cached(
        "SELECT EXISTS (SELECT 1 FROM manual_attachments WHERE sha256 = ?1)",
        [sha256],
        |r| r.get(0),
    )?)
}

pub(super) fn put_upload(conn: &Connection, upload: &PendingUpload) -> Result<(), StorageError> {
    conn.execute_cached(
        "INSERT INTO uploads (sha256, size, mime, started_at, started_by) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, mime = excluded.mime,
           started_at = excluded.started_at, started_by = excluded.started_by",
        params![upload.sha256, to_i64(upload.size), upload.mime, upload.started_at, upload.started_by],
    )?;
    Ok(())
}

pub(super) fn finish_upload(conn: &Connection, blob: &BlobRecord) -> Result<(), StorageError> {
    conn.execute_cached("DELETE FROM uploads WHERE sha256 = ?1", [&blob.sha256])?;
    conn.execute_cached(
        "INSERT INTO blobs (sha256, size, mime, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sha256) DO NOTHING",
        params![
            blob.sha256,
            to_i64(blob.size),
            blob.mime,
            blob.created_at,
            blob.created_by
        ],
    )?;
    Ok(())
}

pub(super) fn discard_upload(conn: &Connection, sha256: &str) -> Result<(), StorageError> {
    conn.execute_cached("DELETE FROM uploads WHERE sha256 = ?1", [sha256])?;
    Ok(())
}

pub(super) fn link_job_blob(
    conn: &Connection,
    job_id: &str,
    sha256: &str,
) -> Result<(), StorageError> {
    conn.execute_cached(
        "INSERT INTO job_blobs (job_id, sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![job_id, sha256],
    )?;
    Ok(())
}

pub(super) fn manual_summaries(conn: &Connection) -> Result<Vec<ManualSummary>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.model, m.version, m.title, m.published_at, m.published_by,
           (SELECT COUNT(*) FROM manual_sections s WHERE s.model = m.model AND s.version = m.version),
           (SELECT COUNT(*) FROM manual_attachments a WHERE a.model = m.model AND a.version = m.version)
         FROM manuals m ORDER BY m.published_at DESC, m.model, m.version DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ManualSummary {
            model: r.get(0)?,
            version: r.get(1)?,
            title: r.get(2)?,
            published_at: r.get(3)?,
            published_by: r.get(4)?,
            sections: to_u64(r.get(5)?),
            attachments: to_u64(r.get(6)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn latest_manual_version(
    conn: &Connection,
    model: &str,
) -> Result<Option<u32>, StorageError> {
    Ok(conn.query_row_cached(
        "SELECT MAX(version) FROM manuals WHERE model = ?1",
        [model],
        |r| r.get(0),
    )?)
}

/// A model's manual at `version`, or its latest when `version` is `None`.
pub(super) fn manual(
    conn: &Connection,
    model: &str,
    version: Option<u32>,
) -> Result<Option<Manual>, StorageError> {
    let head = conn
        .query_row_cached(
            "SELECT version, title, published_at, published_by FROM manuals
             WHERE model = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
            params![model, version],
            |r| Ok((r.get::<_, u32>(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((version, title, published_at, published_by)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT section_id, title, body FROM manual_sections
         WHERE model = ?1 AND version = ?2 ORDER BY position",
    )?;
    let sections = stmt
        .query_map(params![model, version], |r| {
            Ok(Section {
                id: r.get(0)?,
                title: r.get(1)?,
                body: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT sha256, name, mime, size FROM manual_attachments
         WHERE model = ?1 AND version = ?2 ORDER BY position",
    )?;
    let attachments = stmt
        .query_map(params![model, version], |r| {
            Ok(Attachment {
                sha256: r.get(0)?,
                name: r.get(1)?,
                mime: r.get(2)?,
                size: to_u64(r.get(3)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(Manual {
        model: model.to_owned(),
        version,
        title,
        published_at,
        published_by,
        sections,
        attachments,
    }))
}

pub(super) fn put_manual(conn: &Connection, manual: &Manual) -> Result<(), StorageError> {
    conn.execute_cached(
        "INSERT INTO manuals (model, version, title, published_at, published_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![manual.model, manual.version, manual.title, manual.published_at, manual.published_by],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO manual_sections (model, version, position, section_id, title, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (position, section) in manual.sections.iter().enumerate() {
        stmt.execute(params![
            manual.model,
            manual.version,
            to_i64(position as u64),
            section.id,
            section.title,
            section.body
        ])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO manual_attachments (model, version, position, sha256, name, mime, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (position, attachment) in manual.attachments.iter().enumerate() {
        stmt.execute(params![
            manual.model,
            manual.version,
            to_i64(position as u64),
            attachment.sha256,
            attachment.name,
            attachment.mime,
            to_i64(attachment.size)
        ])?;
    }
    Ok(())
}

/// The product models on `user`'s open jobs.
pub(super) fn models_of(conn: &Connection, user: &str) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT p.model FROM job_products p JOIN jobs j USING (job_id)
         WHERE j.assignee = ?1 AND j.status NOT IN ('closed', 'cancelled') AND p.model <> ''
         ORDER BY p.model",
    )?;
    let rows = stmt.query_map([user], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn jobs_without_product(conn: &Connection) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT job_id FROM jobs WHERE job_id NOT IN (SELECT job_id FROM job_products) ORDER BY job_id",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Cases after `after` in library order; `removed` includes the tombstones of jobs that are
/// no longer cases (what phones need to delete theirs).
pub(super) fn cases(
    conn: &Connection,
    model: Option<&str>,
    after: u64,
    limit: u64,
    removed: bool,
) -> Result<Vec<Case>, StorageError> {
    const COLUMNS: &str =
        "job_id, model, symptom, cause, fix, completed_at, engineer, cursor, removed";
    // Two statements rather than `(?1 IS NULL OR model = ?1)`, which would not use the index.
    let mut stmt = match model {
        Some(_) => conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM cases WHERE model = ?1 AND cursor > ?2 AND (?4 OR removed = 0)
             ORDER BY cursor LIMIT ?3"
        ))?,
        None => conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM cases WHERE ?1 IS NULL AND cursor > ?2 AND (?4 OR removed = 0)
             ORDER BY cursor LIMIT ?3"
        ))?,
    };
    let rows = stmt.query_map(params![model, to_i64(after), to_i64(limit), removed], |r| {
        Ok(Case {
            job_id: r.get(0)?,
            model: r.get(1)?,
            symptom: r.get(2)?,
            cause: r.get(3)?,
            fix: r.get(4)?,
            completed_at: r.get(5)?,
            engineer: r.get(6)?,
            cursor: to_u64(r.get(7)?),
            removed: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a job's product model and its case: a new, changed or removed case moves to the end
/// of the library (a new cursor), so phones that read up to an older cursor receive it again. A
/// removed case stays as a tombstone, so phones learn to delete it.
pub(super) fn put_job_product(
    conn: &Connection,
    job_id: &str,
    model: &str,
    case: Option<&Case>,
) -> Result<(), StorageError> {
    conn.execute_cached(
        "INSERT INTO job_products (job_id, model) VALUES (?1, ?2)
         ON CONFLICT (job_id) DO UPDATE SET model = excluded.model
           WHERE model <> excluded.model",
        params![job_id, model],
    )?;
    let Some(case) = case else {
        conn.execute_cached(
            "UPDATE cases SET removed = 1, cursor = (SELECT MAX(cursor) + 1 FROM cases)
             WHERE job_id = ?1 AND removed = 0",
            [job_id],
        )?;
        return Ok(());
    };
    let unchanged: bool = conn.query_row_cached(
        "SELECT EXISTS (SELECT 1 FROM cases WHERE job_id = ?1 AND model = ?2 AND symptom = ?3
           AND cause = ?4 AND fix = ?5 AND completed_at = ?6 AND engineer = ?7 AND removed = 0)",
        params![
            job_id,
            case.model,
            case.symptom,
            case.cause,
            case.fix,
            case.completed_at,
            case.engineer
        ],
        |r| r.get(0),
    )?;
    if unchanged {
        return Ok(());
    }
    conn.execute_cached(
        "INSERT INTO cases (job_id, model, symptom, cause, fix, completed_at, engineer, cursor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT COALESCE(MAX(cursor), 0) + 1 FROM cases))
         ON CONFLICT (job_id) DO UPDATE SET model = excluded.model, symptom = excluded.symptom,
           cause = excluded.cause, fix = excluded.fix, completed_at = excluded.completed_at,
           engineer = excluded.engineer, cursor = excluded.cursor, removed = 0",
        params![
            job_id,
            case.model,
            case.symptom,
            case.cause,
            case.fix,
            case.completed_at,
            case.engineer
        ],
    )?;
    Ok(())
}

pub(super) fn tips_doc(conn: &Connection, model: &str) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(conn
        .query_row_cached("SELECT doc FROM tips WHERE model = ?1", [model], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(super) fn put_tips_doc(conn: &Connection, model: &str, doc: &[u8]) -> Result<(), StorageError> {
    conn.execute_cached(
        "INSERT INTO tips (model, doc) VALUES (?1, ?2) ON CONFLICT (model) DO UPDATE SET doc = excluded.doc",
        params![model, doc],
    )?;
    Ok(())
}

pub(super) fn report_link(
    conn: &Connection,
    token_hash: &[u8],
) -> Result<Option<ReportLink>, StorageError> {
    Ok(conn
        .query_row_cached(
            "SELECT job_id, expires_at, created_at, created_by FROM report_links WHERE token_hash = ?1",
            [token_hash],
            |r| {
                Ok(ReportLink {
                    job_id: r.get(0)?,
                    expires_at: r.get(1)?,
                    created_at: r.get(2)?,
                    created_by: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn put_report_link(
    conn: &Connection,
    token_hash: &[u8],
    link: &ReportLink,
) -> Result<(), StorageError> {
    conn.execute_cached(
        "INSERT INTO report_links (token_hash, job_id, expires_at, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![token_hash, link.job_id, link.expires_at, link.created_at, link.created_by],
    )?;
    Ok(())
}

impl KnowledgeStore for Tx<'_> {
    fn manual_summaries(&self) -> Result<Vec<ManualSummary>, StorageError> {
        manual_summaries(&self.0)
    }

    fn latest_manual_version(&self, model: &str) -> Result<Option<u32>, StorageError> {
        latest_manual_version(&self.0, model)
    }

    fn manual(&self, model: &str, version: Option<u32>) -> Result<Option<Manual>, StorageError> {
        manual(&self.0, model, version)
    }

    fn models_of(&self, user: &str) -> Result<Vec<String>, StorageError> {
        models_of(&self.0, user)
    }

    fn jobs_without_product(&self) -> Result<Vec<String>, StorageError> {
        jobs_without_product(&self.0)
    }

    fn cases(
        &self,
        model: Option<&str>,
        after: u64,
        limit: u64,
        removed: bool,
    ) -> Result<Vec<Case>, StorageError> {
        cases(&self.0, model, after, limit, removed)
    }

    fn tips_doc(&self, model: &str) -> Result<Option<Vec<u8>>, StorageError> {
        tips_doc(&self.0, model)
    }
}

impl KnowledgeStoreMut for Tx<'_> {
    fn put_manual(&mut self, manual: &Manual) -> Result<(), StorageError> {
        put_manual(&self.0, manual)
    }

    fn put_job_product(
        &mut self,
        job_id: &str,
        model: &str,
        case: Option<&Case>,
    ) -> Result<(), StorageError> {
        put_job_product(&self.0, job_id, model, case)
    }

    fn put_tips_doc(&mut self, model: &str, doc: &[u8]) -> Result<(), StorageError> {
        put_tips_doc(&self.0, model, doc)
    }
}

impl BlobIndex for Tx<'_> {
    fn held_blob_bytes(&self) -> Result<u64, StorageError> {
        let bytes: i64 =
            self.0
                .query_row_cached("SELECT COALESCE(SUM(size), 0) FROM blobs", [], |r| r.get(0))?;
        Ok(to_u64(bytes))
    }

    fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>, StorageError> {
        blob(&self.0, sha256)
    }

    fn upload(&self, sha256: &str) -> Result<Option<PendingUpload>, StorageError> {
        upload(&self.0, sha256)
    }

    fn blob_jobs(&self, sha256: &str) -> Result<Vec<String>, StorageError> {
        blob_jobs(&self.0, sha256)
    }

    fn is_manual_attachment(&self, sha256: &str) -> Result<bool, StorageError> {
        is_manual_attachment(&self.0, sha256)
    }

    fn report_link(&self, token_hash: &[u8]) -> Result<Option<ReportLink>, StorageError> {
        report_link(&self.0, token_hash)
    }
}

impl BlobIndexMut for Tx<'_> {
    fn put_upload(&mut self, upload: &PendingUpload) -> Result<(), StorageError> {
        put_upload(&self.0, upload)
    }

    fn finish_upload(&mut self, blob: &BlobRecord) -> Result<(), StorageError> {
        finish_upload(&self.0, blob)
    }

    fn discard_upload(&mut self, sha256: &str) -> Result<(), StorageError> {
        discard_upload(&self.0, sha256)
    }

    fn link_job_blob(&mut self, job_id: &str, sha256: &str) -> Result<(), StorageError> {
        link_job_blob(&self.0, job_id, sha256)
    }

    fn put_report_link(
        &mut self,
        token_hash: &[u8],
        link: &ReportLink,
    ) -> Result<(), StorageError> {
        put_report_link(&self.0, token_hash, link)
    }
}
