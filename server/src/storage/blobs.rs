//! Blob bytes (photos, signatures, service reports, manual attachments) behind one trait.
//!
//! A blob is named by the SHA-256 of its bytes. An upload is staged under that name and made
//! visible only by [`BlobStore::finish`], which verifies the hash first: a reader never sees a
//! half-written or wrong blob. Staged bytes survive a cut connection and a restart, so an upload
//! resumes at the byte where it stopped. [`FsBlobStore`] keeps blobs as files; an object store
//! (S3-compatible: staged parts as a multipart upload, `finish` as its completion) implements the
//! same trait, and callers do not change. Which blobs exist for whom is the database's business
//! (`blobs`, `job_blobs`); this trait only holds bytes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fieldsync_protocol::hex;
use sha2::{Digest, Sha256};

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A part does not start where the staged bytes end.
    #[error(
        "the part starts at byte {offset}, but the server holds bytes 0 to {received} of this blob: send from byte {received}"
    )]
    OutOfOrder {
        /// Where the part starts.
        offset: u64,
        /// How many bytes are staged.
        received: u64,
    },
    /// The staged bytes do not hash to the blob's name; they were discarded.
    #[error("the bytes hash to {actual}, not {expected}; the upload was discarded")]
    HashMismatch {
        /// The name.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The file system failed (disk full, permissions).
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Where blob bytes live.
pub trait BlobStore: Send + Sync + 'static {
    /// How many bytes of an unfinished upload are staged (0 when none).
    fn staged(&self, sha256: &str) -> Result<u64, BlobError>;
    /// Appends `parts`, in order, to the staged upload; `offset` must equal
    /// [`BlobStore::staged`]. Returns the new staged length.
    fn append(&self, sha256: &str, offset: u64, parts: &[&[u8]]) -> Result<u64, BlobError>;
    /// Cuts the staged upload back to `len` bytes (a part that broke its declared range).
    fn truncate(&self, sha256: &str, len: u64) -> Result<(), BlobError>;
    /// Verifies the staged bytes hash to `sha256` and makes them the blob; on a mismatch the
    /// staged bytes are discarded. `digest` is the SHA-256 of the staged bytes when the caller
    /// hashed them as it appended them (all of them, from the first); without it the store
    /// hashes them. Returns the blob's size.
    fn finish(&self, sha256: &str, digest: Option<&str>) -> Result<u64, BlobError>;
    /// The size of a finished blob, if held.
    fn size(&self, sha256: &str) -> Result<Option<u64>, BlobError>;
    /// A finished blob's bytes as a reader, with its size.
    fn open(&self, sha256: &str) -> Result<Option<(BlobReader, u64)>, BlobError>;
    /// Proves the store takes writes now: writes, syncs and removes a small probe (for the
    /// readiness check).
    fn probe_writable(&self) -> Result<(), BlobError>;
}

/// Reads a blob's bytes.
pub type BlobReader = Box<dyn Read + Send>;

/// Blobs as files: `<root>/ab/abcdef…` for finished blobs, `<root>/staging/<sha256>` for uploads.
#[derive(Debug)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// A store under `root` (created when missing).
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("staging"))?;
        Ok(FsBlobStore { root })
    }

    fn staging_path(&self, sha256: &str) -> PathBuf {
        self.root.join("staging").join(sha256)
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        // Names are checked hex digests before they reach the store; two characters of fan-out
        // keep directories small.
        self.root.join(sha256.get(..2).unwrap_or("xx")).join(sha256)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    // Makes a rename durable; directories cannot be opened for syncing on every platform.
    match File::open(dir) {
        Ok(handle) => handle.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

fn missing_is_none<T>(result: std::io::Result<T>) -> Result<Option<T>, BlobError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl BlobStore for FsBlobStore {
    fn probe_writable(&self) -> Result<(), BlobError> {
        // A name of its own: probes that overlap do not remove each other's file.
        let probe = self.root.join("staging").join(format!(
            ".readiness-probe-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut file = fs::File::create(&probe)?;
        std::io::Write::write_all(&mut file, b"probe")?;
        file.sync_all()?;
        fs::remove_file(&probe)?;
        Ok(())
    }

    fn staged(&self, sha256: &str) -> Result<u64, BlobError> {
        Ok(missing_is_none(fs::metadata(self.staging_path(sha256)))?.map_or(0, |m| m.len()))
    }

    fn append(&self, sha256: &str, offset: u64, parts: &[&[u8]]) -> Result<u64, BlobError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.staging_path(sha256))?;
        let received = file.seek(SeekFrom::End(0))?;
        if received != offset {
            return Err(BlobError::OutOfOrder { offset, received });
        }
        let mut staged = received;
        for part in parts {
            file.write_all(part)?;
            staged += part.len() as u64;
        }
        Ok(staged)
    }

    fn truncate(&self, sha256: &str, len: u64) -> Result<(), BlobError> {
        if let Some(file) = missing_is_none(
            OpenOptions::new()
                .write(true)
                .open(self.staging_path(sha256)),
        )? {
            file.set_len(len)?;
            file.sync_all()?;
        }
        Ok(())
    }

    fn finish(&self, sha256: &str, digest: Option<&str>) -> Result<u64, BlobError> {
        let staging = self.staging_path(sha256);
        let mut file = File::open(&staging)?;
        let actual = match digest {
            Some(digest) => digest.to_owned(),
            None => {
                let mut hasher = Sha256::new();
                let mut buffer = vec![0; 1 << 20];
                loop {
                    let read = file.read(&mut buffer)?;
                    if read == 0 {
                        break;
                    }
                    hasher.update(&buffer[..read]);
                }
                hex(&hasher.finalize())
            }
        };
        let size = file.metadata()?.len();
        if actual != sha256 {
            fs::remove_file(&staging)?;
            return Err(BlobError::HashMismatch {
                expected: sha256.to_owned(),
                actual,
            });
        }
        file.sync_all()?;
        let target = self.blob_path(sha256);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)?;
        fs::rename(&staging, &target)?;
        sync_dir(&dir)?;
        Ok(size)
    }

    fn size(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        Ok(missing_is_none(fs::metadata(self.blob_path(sha256)))?.map(|m| m.len()))
    }

    fn open(&self, sha256: &str) -> Result<Option<(BlobReader, u64)>, BlobError> {
        let Some(file) = missing_is_none(File::open(self.blob_path(sha256)))? else {
            return Ok(None);
        };
        let size = file.metadata()?.len();
        Ok(Some((Box::new(std::io::BufReader::new(file)), size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(store: &FsBlobStore, sha256: &str) -> Option<Vec<u8>> {
        let (mut reader, _) = store.open(sha256).expect("open")?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).expect("read");
        Some(bytes)
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn a_blob_is_visible_only_once_finished_and_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        let bytes = b"a photo of a broken valve".to_vec();
        let name = sha(&bytes);
        assert_eq!(store.append(&name, 0, &[&bytes[..5]]).expect("part"), 5);
        assert_eq!(store.staged(&name).expect("staged"), 5);
        assert_eq!(read(&store, &name), None);
        // A part that does not continue the staged bytes is refused, whichever way it is off.
        assert!(matches!(
            store.append(&name, 3, &[&bytes[3..]]),
            Err(BlobError::OutOfOrder {
                offset: 3,
                received: 5
            })
        ));
        assert!(matches!(
            store.append(&name, 9, &[&bytes[9..]]),
            Err(BlobError::OutOfOrder {
                offset: 9,
                received: 5
            })
        ));
        store.append(&name, 5, &[&bytes[5..]]).expect("rest");
        assert_eq!(
            store.finish(&name, None).expect("finish"),
            bytes.len() as u64
        );
        assert_eq!(read(&store, &name), Some(bytes.clone()));
        assert_eq!(store.staged(&name).expect("staged"), 0);
        // Reopening finds it.
        let again = FsBlobStore::open(dir.path()).expect("reopen");
        assert_eq!(again.size(&name).expect("size"), Some(bytes.len() as u64));
    }

    #[test]
    fn wrong_bytes_are_discarded_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        let name = sha(b"the real bytes");
        store.append(&name, 0, &[b"other bytes"]).expect("part");
        assert!(matches!(
            store.finish(&name, None),
            Err(BlobError::HashMismatch { .. })
        ));
        assert_eq!(store.staged(&name).expect("staged"), 0);
        assert_eq!(read(&store, &name), None);
        // A digest the caller computed is trusted as the hash of the staged bytes.
        store.append(&name, 0, &[b"the real bytes"]).expect("part");
        assert!(matches!(
            store.finish(&name, Some(&sha(b"other"))),
            Err(BlobError::HashMismatch { .. })
        ));
        assert_eq!(read(&store, &name), None);
        store.append(&name, 0, &[b"the real"]).expect("part");
        store.truncate(&name, 4).expect("truncate");
        assert_eq!(store.staged(&name).expect("staged"), 4);
    }
}
