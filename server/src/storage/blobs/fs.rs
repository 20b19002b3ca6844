//! Blobs as files in a folder: the default, and what a single machine needs.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fieldsync_protocol::hex;
use sha2::{Digest, Sha256};

use super::{BlobError, BlobReader, BlobStore};

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

    /// The names of the finished blobs, sorted (uploads in progress are not blobs yet).
    pub fn finished(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for fan_out in fs::read_dir(&self.root)? {
            let fan_out = fan_out?;
            if fan_out.file_name() == "staging" || !fan_out.file_type()?.is_dir() {
                continue;
            }
            for blob in fs::read_dir(fan_out.path())? {
                let name = blob?.file_name().to_string_lossy().into_owned();
                if fieldsync_protocol::rules::check_sha256(&name).is_ok() {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        // Names are checked hex digests before they reach the store; two characters of fan-out
        // keep directories small.
        self.root.join(sha256.get(..2).unwrap_or("xx")).join(sha256)
    }

    fn staging_path(&self, sha256: &str) -> PathBuf {
        self.root.join("staging").join(sha256)
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
            // Only ever shorter: setting a longer length would stage zeros.
            if file.metadata()?.len() > len {
                file.set_len(len)?;
                file.sync_all()?;
            }
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
