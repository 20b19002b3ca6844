//! PostgreSQL for reference knowledge and media: which blobs the server holds and for which jobs,
//! uploads under way, published manuals, the case library, field tips and report links — their
//! tables ([`SCHEMA`]) and the [`KnowledgeStore`] and [`BlobIndex`] traits over them.

use ::postgres::Row;
use fieldsync_protocol::knowledge::{Attachment, Case, Manual, ManualSummary, Section};

use super::{Tx, to_i64, to_u64};
use crate::storage::{
    BlobIndex, BlobIndexMut, BlobRecord, KnowledgeStore, KnowledgeStoreMut, PendingUpload,
    ReportLink, StorageError,
};

/// The tables of blobs, uploads, manuals, cases, tips and report links: the layout SQLite's
/// migration 4 adds. Every text column compares and sorts bytewise (`COLLATE "C"`), as all text
/// does in SQLite, whatever the database's default collation. A case's `removed` flag is a
/// `BOOLEAN` where SQLite stores 0 or 1.
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE blobs (
        sha256 TEXT COLLATE "C" PRIMARY KEY,
        size BIGINT NOT NULL,
        mime TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE uploads (
        sha256 TEXT COLLATE "C" PRIMARY KEY,
        size BIGINT NOT NULL,
        mime TEXT COLLATE "C" NOT NULL,
        started_at BIGINT NOT NULL,
        started_by TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE job_blobs (
        job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(job_id),
        sha256 TEXT COLLATE "C" NOT NULL REFERENCES blobs(sha256),
        PRIMARY KEY (job_id, sha256)
    );
    CREATE INDEX job_blobs_by_blob ON job_blobs(sha256);
    CREATE TABLE manuals (
        model TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        title TEXT COLLATE "C" NOT NULL,
        published_at BIGINT NOT NULL,
        published_by TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (model, version)
    );
    CREATE TABLE manual_sections (
        model TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        position BIGINT NOT NULL,
        section_id TEXT COLLATE "C" NOT NULL,
        title TEXT COLLATE "C" NOT NULL,
        body TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (model, version, position),
        FOREIGN KEY (model, version) REFERENCES manuals(model, version)
    );
    CREATE TABLE manual_attachments (
        model TEXT COLLATE "C" NOT NULL,
        version BIGINT NOT NULL,
        position BIGINT NOT NULL,
        sha256 TEXT COLLATE "C" NOT NULL REFERENCES blobs(sha256),
        name TEXT COLLATE "C" NOT NULL,
        mime TEXT COLLATE "C" NOT NULL,
        size BIGINT NOT NULL,
        PRIMARY KEY (model, version, position),
        FOREIGN KEY (model, version) REFERENCES manuals(model, version)
    );
    CREATE INDEX manual_attachments_by_blob ON manual_attachments(sha256);
    CREATE TABLE job_products (
        job_id TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs(job_id),
        model TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX job_products_by_model ON job_products(model);
    CREATE TABLE cases (
        job_id TEXT COLLATE "C" PRIMARY KEY REFERENCES jobs(job_id),
        model TEXT COLLATE "C" NOT NULL,
        symptom TEXT COLLATE "C" NOT NULL,
        cause TEXT COLLATE "C" NOT NULL,
        fix TEXT COLLATE "C" NOT NULL,
        completed_at BIGINT NOT NULL,
        engineer TEXT COLLATE "C" NOT NULL,
        cursor BIGINT NOT NULL UNIQUE,
        removed BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX cases_by_model ON cases(model, cursor);
    CREATE TABLE tips (
        model TEXT COLLATE "C" PRIMARY KEY,
        doc BYTEA NOT NULL
    );
    CREATE TABLE report_links (
        token_hash BYTEA PRIMARY KEY,
        job_id TEXT COLLATE "C" NOT NULL REFERENCES jobs(job_id),
        expires_at BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        created_by TEXT COLLATE "C" NOT NULL
    );
"#;

/// A stored manual version as the protocol's `u32` (versions are written from `u32`s, so any
/// other value is corruption).
fn version_from(stored: i64) -> Result<u32, StorageError> {
    u32::try_from(stored)
        .map_err(|_| StorageError::Corrupt(format!("manual version {stored} out of range")))
}

/// What every case read selects, in the order [`case_from`] reads it.
const CASE_COLUMNS: &str =
    "job_id, model, symptom, cause, fix, completed_at, engineer, cursor, removed";

/// A case from a row of [`CASE_COLUMNS`].
fn case_from(row: &Row) -> Result<Case, StorageError> {
    Ok(Case {
        job_id: row.try_get(0)?,
        model: row.try_get(1)?,
        symptom: row.try_get(2)?,
        cause: row.try_get(3)?,
        fix: row.try_get(4)?,
        completed_at: row.try_get(5)?,
        engineer: row.try_get(6)?,
        cursor: to_u64(row.try_get(7)?),
        removed: row.try_get(8)?,
    })
}

impl KnowledgeStore for Tx<'_> {
    fn manual_summaries(&self) -> Result<Vec<ManualSummary>, StorageError> {
        let rows = self.query(
            "SELECT m.model, m.version, m.title, m.published_at, m.published_by,
               (SELECT COUNT(*) FROM manual_sections s WHERE s.model = m.model AND s.version = m.version),
               (SELECT COUNT(*) FROM manual_attachments a WHERE a.model = m.model AND a.version = m.version)
             FROM manuals m ORDER BY m.published_at DESC, m.model, m.version DESC",
            &[],
        )?;
        rows.iter()
            .map(|row| {
                Ok(ManualSummary {
                    model: row.try_get(0)?,
                    version: version_from(row.try_get(1)?)?,
                    title: row.try_get(2)?,
                    published_at: row.try_get(3)?,
                    published_by: row.try_get(4)?,
                    sections: to_u64(row.try_get(5)?),
                    attachments: to_u64(row.try_get(6)?),
                })
            })
            .collect::<Result<_, StorageError>>()
    }

    fn latest_manual_version(&self, model: &str) -> Result<Option<u32>, StorageError> {
        let latest: Option<i64> = self
            .query_one(
                "SELECT MAX(version) FROM manuals WHERE model = $1",
                &[&model],
            )?
            .try_get(0)?;
        latest.map(version_from).transpose()
    }

    fn manual(&self, model: &str, version: Option<u32>) -> Result<Option<Manual>, StorageError> {
        // `None` asks for the latest version.
        let Some(head) = self.query_opt(
            "SELECT version, title, published_at, published_by FROM manuals
             WHERE model = $1 AND ($2::BIGINT IS NULL OR version = $2)
             ORDER BY version DESC LIMIT 1",
            &[&model, &version.map(i64::from)],
        )?
        else {
            return Ok(None);
        };
        let stored_version: i64 = head.try_get(0)?;
        let sections = self
            .query(
                "SELECT section_id, title, body FROM manual_sections
                 WHERE model = $1 AND version = $2 ORDER BY position",
                &[&model, &stored_version],
            )?
            .iter()
            .map(|row| {
                Ok(Section {
                    id: row.try_get(0)?,
                    title: row.try_get(1)?,
                    body: row.try_get(2)?,
                })
            })
            .collect::<Result<_, StorageError>>()?;
        let attachments = self
            .query(
                "SELECT sha256, name, mime, size FROM manual_attachments
                 WHERE model = $1 AND version = $2 ORDER BY position",
                &[&model, &stored_version],
            )?
            .iter()
            .map(|row| {
                Ok(Attachment {
                    sha256: row.try_get(0)?,
                    name: row.try_get(1)?,
                    mime: row.try_get(2)?,
                    size: to_u64(row.try_get(3)?),
                })
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(Some(Manual {
            model: model.to_owned(),
            version: version_from(stored_version)?,
            title: head.try_get(1)?,
            published_at: head.try_get(2)?,
            published_by: head.try_get(3)?,
            sections,
            attachments,
        }))
    }

    fn models_of(&self, user: &str) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT DISTINCT p.model FROM job_products p JOIN jobs j USING (job_id)
             WHERE j.assignee = $1 AND j.status NOT IN ('closed', 'cancelled') AND p.model <> ''
             ORDER BY p.model",
            &[&user],
        )?
        .iter()
        .map(|row| Ok(row.try_get::<_, String>(0)?))
        .collect()
    }

    fn jobs_without_product(&self) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT job_id FROM jobs WHERE job_id NOT IN (SELECT job_id FROM job_products)
             ORDER BY job_id",
            &[],
        )?
        .iter()
        .map(|row| Ok(row.try_get::<_, String>(0)?))
        .collect()
    }

    fn cases(
        &self,
        model: Option<&str>,
        after: u64,
        limit: u64,
        removed: bool,
    ) -> Result<Vec<Case>, StorageError> {
        // `removed` includes the tombstones of jobs that are no longer cases (what phones need
        // to delete theirs).
        let (after, limit) = (to_i64(after), to_i64(limit));
        // Two statements rather than `($1::TEXT IS NULL OR model = $1)`, which would not use
        // the index.
        let rows = match model {
            Some(model) => self.query(
                &format!(
                    "SELECT {CASE_COLUMNS} FROM cases
                     WHERE model = $1 AND cursor > $2 AND ($4 OR NOT removed)
                     ORDER BY cursor LIMIT $3"
                ),
                &[&model, &after, &limit, &removed],
            )?,
            None => self.query(
                &format!(
                    "SELECT {CASE_COLUMNS} FROM cases WHERE cursor > $1 AND ($3 OR NOT removed)
                     ORDER BY cursor LIMIT $2"
                ),
                &[&after, &limit, &removed],
            )?,
        };
        rows.iter().map(case_from).collect()
    }

    fn tips_doc(&self, model: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .query_opt("SELECT doc FROM tips WHERE model = $1", &[&model])?
            .map(|row| row.try_get::<_, Vec<u8>>(0))
            .transpose()?)
    }
}

impl KnowledgeStoreMut for Tx<'_> {
    fn put_manual(&mut self, manual: &Manual) -> Result<(), StorageError> {
        let version = i64::from(manual.version);
        self.execute(
            "INSERT INTO manuals (model, version, title, published_at, published_by)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &manual.model,
                &version,
                &manual.title,
                &manual.published_at,
                &manual.published_by,
            ],
        )?;
        for (position, section) in manual.sections.iter().enumerate() {
            self.execute(
                "INSERT INTO manual_sections (model, version, position, section_id, title, body)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &manual.model,
                    &version,
                    &to_i64(position as u64),
                    &section.id,
                    &section.title,
                    &section.body,
                ],
            )?;
        }
        for (position, attachment) in manual.attachments.iter().enumerate() {
            self.execute(
                "INSERT INTO manual_attachments (model, version, position, sha256, name, mime, size)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &manual.model,
                    &version,
                    &to_i64(position as u64),
                    &attachment.sha256,
                    &attachment.name,
                    &attachment.mime,
                    &to_i64(attachment.size),
                ],
            )?;
        }
        Ok(())
    }

    fn put_job_product(
        &mut self,
        job_id: &str,
        model: &str,
        case: Option<&Case>,
    ) -> Result<(), StorageError> {
        // A new, changed or removed case moves to the end of the library (a new cursor), so
        // phones that read up to an older cursor receive it again. A removed case stays as a
        // tombstone, so phones learn to delete it. Writers hold the writers' lock, so no other
        // transaction takes the same `MAX(cursor) + 1` meanwhile.
        self.execute(
            "INSERT INTO job_products (job_id, model) VALUES ($1, $2)
             ON CONFLICT (job_id) DO UPDATE SET model = excluded.model
               WHERE job_products.model <> excluded.model",
            &[&job_id, &model],
        )?;
        let Some(case) = case else {
            self.execute(
                "UPDATE cases SET removed = TRUE, cursor = (SELECT MAX(cursor) + 1 FROM cases)
                 WHERE job_id = $1 AND NOT removed",
                &[&job_id],
            )?;
            return Ok(());
        };
        let unchanged: bool = self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM cases WHERE job_id = $1 AND model = $2
                   AND symptom = $3 AND cause = $4 AND fix = $5 AND completed_at = $6
                   AND engineer = $7 AND NOT removed)",
                &[
                    &job_id,
                    &case.model,
                    &case.symptom,
                    &case.cause,
                    &case.fix,
                    &case.completed_at,
                    &case.engineer,
                ],
            )?
            .try_get(0)?;
        if unchanged {
            return Ok(());
        }
        self.execute(
            "INSERT INTO cases (job_id, model, symptom, cause, fix, completed_at, engineer, cursor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(cursor), 0) + 1 FROM cases))
             ON CONFLICT (job_id) DO UPDATE SET model = excluded.model, symptom = excluded.symptom,
               cause = excluded.cause, fix = excluded.fix, completed_at = excluded.completed_at,
               engineer = excluded.engineer, cursor = excluded.cursor, removed = FALSE",
            &[
                &job_id,
                &case.model,
                &case.symptom,
                &case.cause,
                &case.fix,
                &case.completed_at,
                &case.engineer,
            ],
        )?;
        Ok(())
    }

    fn put_tips_doc(&mut self, model: &str, doc: &[u8]) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO tips (model, doc) VALUES ($1, $2)
             ON CONFLICT (model) DO UPDATE SET doc = excluded.doc",
            &[&model, &doc],
        )?;
        Ok(())
    }
}

impl BlobIndex for Tx<'_> {
    fn held_blob_bytes(&self) -> Result<u64, StorageError> {
        // SUM over BIGINT is NUMERIC in PostgreSQL.
        let bytes: i64 = self
            .query_one("SELECT COALESCE(SUM(size), 0)::BIGINT FROM blobs", &[])?
            .try_get(0)?;
        Ok(to_u64(bytes))
    }

    fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>, StorageError> {
        let Some(row) = self.query_opt(
            "SELECT sha256, size, mime, created_at, created_by FROM blobs WHERE sha256 = $1",
            &[&sha256],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(BlobRecord {
            sha256: row.try_get(0)?,
            size: to_u64(row.try_get(1)?),
            mime: row.try_get(2)?,
            created_at: row.try_get(3)?,
            created_by: row.try_get(4)?,
        }))
    }

    fn upload(&self, sha256: &str) -> Result<Option<PendingUpload>, StorageError> {
        let Some(row) = self.query_opt(
            "SELECT sha256, size, mime, started_at, started_by FROM uploads WHERE sha256 = $1",
            &[&sha256],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(PendingUpload {
            sha256: row.try_get(0)?,
            size: to_u64(row.try_get(1)?),
            mime: row.try_get(2)?,
            started_at: row.try_get(3)?,
            started_by: row.try_get(4)?,
        }))
    }

    fn blob_jobs(&self, sha256: &str) -> Result<Vec<String>, StorageError> {
        self.query(
            "SELECT job_id FROM job_blobs WHERE sha256 = $1 ORDER BY job_id",
            &[&sha256],
        )?
        .iter()
        .map(|row| Ok(row.try_get::<_, String>(0)?))
        .collect()
    }

    fn is_manual_attachment(&self, sha256: &str) -> Result<bool, StorageError> {
        Ok(self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM manual_attachments WHERE sha256 = $1)",
                &[&sha256],
            )?
            .try_get(0)?)
    }

    fn report_link(&self, token_hash: &[u8]) -> Result<Option<ReportLink>, StorageError> {
        let Some(row) = self.query_opt(
            "SELECT job_id, expires_at, created_at, created_by FROM report_links
             WHERE token_hash = $1",
            &[&token_hash],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(ReportLink {
            job_id: row.try_get(0)?,
            expires_at: row.try_get(1)?,
            created_at: row.try_get(2)?,
            created_by: row.try_get(3)?,
        }))
    }
}

impl BlobIndexMut for Tx<'_> {
    fn put_upload(&mut self, upload: &PendingUpload) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO uploads (sha256, size, mime, started_at, started_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, mime = excluded.mime,
               started_at = excluded.started_at, started_by = excluded.started_by",
            &[
                &upload.sha256,
                &to_i64(upload.size),
                &upload.mime,
                &upload.started_at,
                &upload.started_by,
            ],
        )?;
        Ok(())
    }

    fn finish_upload(&mut self, blob: &BlobRecord) -> Result<(), StorageError> {
        self.execute("DELETE FROM uploads WHERE sha256 = $1", &[&blob.sha256])?;
        self.execute(
            "INSERT INTO blobs (sha256, size, mime, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sha256) DO NOTHING",
            &[
                &blob.sha256,
                &to_i64(blob.size),
                &blob.mime,
                &blob.created_at,
                &blob.created_by,
            ],
        )?;
        Ok(())
    }

    fn discard_upload(&mut self, sha256: &str) -> Result<(), StorageError> {
        self.execute("DELETE FROM uploads WHERE sha256 = $1", &[&sha256])?;
        Ok(())
    }

    fn link_job_blob(&mut self, job_id: &str, sha256: &str) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO job_blobs (job_id, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&job_id, &sha256],
        )?;
        Ok(())
    }

    fn put_report_link(
        &mut self,
        token_hash: &[u8],
        link: &ReportLink,
    ) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO report_links (token_hash, job_id, expires_at, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &token_hash,
                &link.job_id,
                &link.expires_at,
                &link.created_at,
                &link.created_by,
            ],
        )?;
        Ok(())
    }
}
