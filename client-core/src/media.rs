//! Captured media on the phone: photos and the customer's signature with the service report it
//! signs, stored in the blob store in the same transaction as the job change that refers to
//! them, and handed to the transport for upload until the server holds them.

use crate::db::CachedStatements;
use crate::report::{ReportOptions, service_report_pdf};
use fieldsync_protocol::job::{BlobRef, Signature};
use fieldsync_protocol::{Millis, SchemaError};
use rusqlite::{MAIN_DB, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::knowledge::enforce_budget;
use crate::store::{Store, hex};

/// The largest photo or signature image accepted.
pub const MAX_PHOTO_BYTES: usize = 25 << 20;

/// A captured blob waiting for upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMedia {
    /// Its SHA-256.
    pub sha256: String,
    /// A job it belongs to (the upload names it).
    pub job_id: String,
    /// Its MIME type.
    pub mime: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Checks captured image bytes before anything is written.
fn check_image(bytes: &[u8], mime: &str, field: &'static str) -> Result<()> {
    if bytes.is_empty() || bytes.len() > MAX_PHOTO_BYTES {
        return Err(Error::Refused(SchemaError::InvalidValue {
            field,
            value: format!(
                "{} bytes (an image has 1 byte to {MAX_PHOTO_BYTES} bytes)",
                bytes.len()
            ),
        }));
    }
    if !mime.starts_with("image/") {
        return Err(Error::Refused(SchemaError::InvalidValue {
            field: "mime type",
            value: format!("`{mime}` (an image type such as image/jpeg)"),
        }));
    }
    fieldsync_protocol::knowledge::check_mime(mime)?;
    Ok(())
}

/// Stores captured bytes once (by hash) and links them to the job. Returns the hash.
fn store_captured(
    tx: &Transaction<'_>,
    job_id: &str,
    bytes: &[u8],
    mime: &str,
    now: Millis,
) -> Result<String> {
    let sha256 = hex(&Sha256::digest(bytes));
    tx.execute_cached(
        "INSERT INTO blobs (sha256, mime, bytes, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (sha256) DO NOTHING",
        params![sha256, mime, bytes, now],
    )?;
    // Bytes a manual also uses become captured work: kept until the server holds them.
    tx.execute_cached(
        "INSERT INTO blob_state (sha256, kind, size, last_used) VALUES (?1, 'captured', ?2, ?3)
         ON CONFLICT (sha256) DO UPDATE SET kind = 'captured',
           uploaded = CASE WHEN kind = 'captured' THEN uploaded ELSE 0 END",
        params![sha256, i64::try_from(bytes.len()).unwrap_or(i64::MAX), now],
    )?;
    tx.execute_cached(
        "INSERT INTO job_blobs (job_id, sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![job_id, sha256],
    )?;
    Ok(sha256)
}

impl Store {
    /// Attaches a photo to the job: the bytes go into the phone's blob store and the job
    /// references them by SHA-256, both in one durable step. The same bytes are stored once,
    /// and attaching them to the same job again changes nothing. The bytes stay on the phone
    /// at least until the server holds them ([`Store::pending_media`]).
    pub fn attach_photo(
        &self,
        job_id: &str,
        bytes: &[u8],
        mime: &str,
        caption: &str,
    ) -> Result<BlobRef> {
        check_image(bytes, mime, "photo")?;
        let mut attached = None;
        self.edit_in(job_id, |doc, now, tx| {
            let sha256 = store_captured(tx, job_id, bytes, mime, now)?;
            let existing = doc.read()?.photos.into_iter().find(|p| p.sha256 == sha256);
            let photo = match existing {
                Some(photo) => photo,
                None => {
                    let photo = BlobRef {
                        sha256,
                        mime: mime.to_owned(),
                        size: bytes.len() as u64,
                        caption: caption.to_owned(),
                        taken_at: now,
                    };
                    doc.add_photo(&photo, now)?;
                    photo
                }
            };
            attached = Some(photo);
            Ok(())
        })?;
        attached.ok_or_else(|| Error::UnknownJob(job_id.to_owned()))
    }

    /// The service report the customer would sign now: a PDF of the job as it stands (work
    /// done, parts, time, outcome), to show before signing.
    pub fn preview_report(&self, job_id: &str, signed_by: &str) -> Result<Vec<u8>> {
        let job = self.job(job_id)?;
        let options = self.report_options()?;
        Ok(service_report_pdf(
            &job,
            signed_by,
            fieldsync_protocol::now_millis(),
            &options,
        ))
    }

    /// How this phone prints reports: in its language, in the organisation's time zone (UTC
    /// until a server has announced one), with its font files, naming its installer as the
    /// office does.
    fn report_options(&self) -> Result<ReportOptions> {
        let time_zone = self.organisation_zone()?.unwrap_or(jiff::tz::TimeZone::UTC);
        let names = self
            .user_name()?
            .filter(|name| !name.trim().is_empty())
            .map(|name| (self.identity().user_id.clone(), name))
            .into_iter()
            .collect();
        Ok(ReportOptions {
            language: self.language,
            time_zone,
            fonts: self.report_fonts.clone(),
            names,
        })
    }

    /// Records the customer's signature: generates the service report from the job's state
    /// at this moment, stores the report and the signature image as captured media, and puts
    /// the signature, with the report's SHA-256, into the job, all in one durable step. A later
    /// change to the job cannot change what was signed: the report's bytes are fixed by their
    /// hash.
    pub fn sign(
        &self,
        job_id: &str,
        image: &[u8],
        mime: &str,
        signed_by: &str,
    ) -> Result<Signature> {
        check_image(image, mime, "signature image")?;
        let options = self.report_options()?;
        let mut signed = None;
        self.edit_in(job_id, |doc, now, tx| {
            let report = service_report_pdf(&doc.read()?, signed_by, now, &options);
            let report_sha256 = store_captured(tx, job_id, &report, "application/pdf", now)?;
            let image_sha256 = store_captured(tx, job_id, image, mime, now)?;
            let signature = Signature {
                image: BlobRef {
                    sha256: image_sha256,
                    mime: mime.to_owned(),
                    size: image.len() as u64,
                    caption: format!("signature of {signed_by}"),
                    taken_at: now,
                },
                signed_by: signed_by.to_owned(),
                report_sha256,
            };
            doc.sign(&signature, now)?;
            signed = Some(signature);
            Ok(())
        })?;
        signed.ok_or_else(|| Error::UnknownJob(job_id.to_owned()))
    }

    /// The bytes of a blob on the phone, by SHA-256 (lower-case hex): captured media, a
    /// signed report, or a manual attachment.
    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn();
        Ok(conn
            .query_row_cached(
                "SELECT bytes FROM blobs WHERE sha256 = ?1",
                [sha256],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Captured media the server does not hold yet, oldest first.
    pub fn pending_media(&self) -> Result<Vec<PendingMedia>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT b.sha256, MIN(j.job_id), b.mime, s.size FROM blob_state s
             JOIN blobs b USING (sha256) JOIN job_blobs j USING (sha256)
             WHERE s.kind = 'captured' AND s.uploaded = 0
             GROUP BY b.sha256 ORDER BY b.created_at, b.sha256",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(PendingMedia {
                sha256: row.get(0)?,
                job_id: row.get(1)?,
                mime: row.get(2)?,
                size: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The jobs on the phone a blob belongs to.
    pub fn blob_jobs(&self, sha256: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT job_id FROM job_blobs WHERE sha256 = ?1 ORDER BY job_id")?;
        let rows = stmt.query_map([sha256], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Reads up to `len` bytes of a blob from `offset` into `part`, without loading the whole
    /// blob (`part`'s allocation is reused: uploads cycle a few buffers instead of allocating
    /// one per part).
    pub fn read_blob_part(
        &self,
        sha256: &str,
        offset: u64,
        len: usize,
        part: &mut Vec<u8>,
    ) -> Result<()> {
        let conn = self.conn();
        let rowid: i64 = conn
            .query_row_cached(
                "SELECT rowid FROM blobs WHERE sha256 = ?1",
                [sha256],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::Protocol(format!("blob {sha256} is not on this device")))?;
        let blob = conn.blob_open(MAIN_DB, c"blobs", c"bytes", rowid, true)?;
        let size = u64::try_from(blob.len()).unwrap_or(0);
        let start = offset.min(size);
        let end = start.saturating_add(len as u64).min(size);
        part.resize(usize::try_from(end - start).unwrap_or(0), 0);
        blob.read_at_exact(part, usize::try_from(start).unwrap_or(usize::MAX))?;
        Ok(())
    }

    /// Records that the server holds a blob: from now on it may be evicted under the storage
    /// budget, and the job it belongs to can show as accepted.
    pub fn mark_uploaded(&self, sha256: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_cached(
            "UPDATE blob_state SET uploaded = 1 WHERE sha256 = ?1",
            [sha256],
        )?;
        enforce_budget(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::store::tests::seed;

    #[test]
    fn a_photo_is_stored_once_and_referenced_by_its_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let job = String::from("job-1");
        seed(&store, &job, "anna");
        let bytes = b"\xff\xd8\xff not really a jpeg".to_vec();
        let photo = store
            .attach_photo(&job, &bytes, "image/jpeg", "broken valve")
            .expect("attach");
        assert_eq!(photo.sha256, hex(&Sha256::digest(&bytes)));
        let again = store
            .attach_photo(&job, &bytes, "image/jpeg", "same bytes")
            .expect("again");
        assert_eq!(again, photo);
        assert_eq!(store.job(&job).expect("job").photos, vec![photo.clone()]);
        assert_eq!(store.blob(&photo.sha256).expect("blob"), Some(bytes));
        let blobs: i64 = store
            .conn()
            .query_row_cached("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
            .expect("count");
        assert_eq!(blobs, 1);
        assert!(store.attach_photo(&job, b"", "image/jpeg", "").is_err());
        assert!(
            store
                .attach_photo(&job, b"%PDF", "application/pdf", "")
                .is_err()
        );
        assert_eq!(store.outbox_status().expect("outbox").depth, 1);
    }

    #[test]
    fn a_full_disk_is_a_clear_error_and_loses_nothing_captured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let job = String::from("job-1");
        seed(&store, &job, "anna");
        let first = vec![7u8; 50_000];
        store
            .attach_photo(&job, &first, "image/jpeg", "first")
            .expect("attach");
        let before = store.job(&job).expect("job");
        // The file may not grow past its current size: the next photo does not fit.
        let pages: i64 = store
            .conn()
            .query_row_cached("PRAGMA page_count", [], |r| r.get(0))
            .expect("page count");
        store
            .conn()
            .pragma_update(None, "max_page_count", pages + 2)
            .expect("cap the file");
        let error = store
            .attach_photo(&job, &vec![9u8; 200_000], "image/jpeg", "second")
            .expect_err("the disk is full");
        assert!(matches!(error, Error::StorageFull), "{error:?}");
        assert!(error.to_string().contains("storage is full"), "{error}");
        assert_eq!(store.job(&job).expect("job"), before);
        assert_eq!(
            store.blob(&hex(&Sha256::digest(&first))).expect("blob"),
            Some(first)
        );
        assert_eq!(store.pending_media().expect("pending").len(), 1);
        assert_eq!(store.outbox_status().expect("outbox").depth, 1);
    }

    #[test]
    fn a_signature_stores_the_report_it_signs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let job = String::from("job-1");
        seed(&store, &job, "anna");
        let signature = store
            .sign(&job, b"signature strokes", "image/png", "Ada")
            .expect("sign");
        let report = store
            .blob(&signature.report_sha256)
            .expect("blob")
            .expect("report");
        assert_eq!(hex(&Sha256::digest(&report)), signature.report_sha256);
        assert!(report.starts_with(b"%PDF-1.4"));
        assert_eq!(store.job(&job).expect("job").signature, Some(signature));
        assert_eq!(store.pending_media().expect("pending").len(), 2);
        assert!(
            store.sign(&job, b"x", "image/png", " ").is_err(),
            "a signer has a name"
        );
    }
}
