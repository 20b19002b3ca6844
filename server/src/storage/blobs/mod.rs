//! Blob bytes (photos, signatures, service reports, manual attachments) behind one trait.
//!
//! A blob is named by the SHA-256 of its bytes. An upload is staged under that name and made
//! visible only by [`BlobStore::finish`], which verifies the hash first: a reader never sees a
//! half-written or wrong blob. Staged bytes survive a cut connection and a restart, so an upload
//! resumes at the byte where it stopped. Two stores implement the trait: [`FsBlobStore`] keeps
//! blobs as files in a folder (the default), [`S3BlobStore`] as objects in an S3-compatible
//! bucket that every node of a deployment shares. Which blobs exist for whom is the database's
//! business (`blobs`, `job_blobs`); this trait only holds bytes.
//!
//! Both lay blobs out alike under their root, so a folder copied into a bucket (or back) is a
//! working store: `<root>/ab/abcdef…` for a finished blob, `<root>/staging/…` for uploads.

mod fs;
mod s3;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use super::with_causes;

pub use fs::FsBlobStore;
pub use s3::S3BlobStore;

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
    /// The file system failed (disk full, permissions), or the store's own worker did.
    #[error("blob storage: {0}")]
    Io(#[from] std::io::Error),
    /// The object store failed or could not be reached.
    #[error("object storage: {0}")]
    Remote(#[from] object_store::Error),
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

/// Where a server keeps blobs, as `--blobs` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A folder on this machine.
    Folder(PathBuf),
    /// `s3://bucket/prefix`: a bucket of S3-compatible object storage, reached as the usual
    /// `AWS_*` environment variables say (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// The key prefix under which blobs are kept, without slashes at either end (may be
        /// empty).
        prefix: String,
    },
}

impl BlobLocation {
    /// Reads `--blobs`: `s3://bucket/prefix` for a bucket, anything else as a folder. Another
    /// URL scheme is refused rather than taken for a folder named `gs:`.
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Some(rest) = value.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!(
                    "`{value}` names no bucket: write s3://BUCKET/PREFIX"
                ));
            }
            return Ok(BlobLocation::Bucket {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if let Some((scheme, _)) = value.split_once("://") {
            return Err(format!(
                "`{scheme}://` object storage is not supported: use s3:// (AWS, Alibaba OSS, \
                 MinIO and Ceph all speak it) or a folder"
            ));
        }
        Ok(BlobLocation::Folder(PathBuf::from(value)))
    }

    /// Opens the store, creating a folder when missing; a bucket is probed with a write, so a
    /// wrong endpoint, bucket or key fails here, named, rather than at the first upload.
    pub fn open(&self) -> Result<Arc<dyn BlobStore>, String> {
        match self {
            BlobLocation::Folder(dir) => FsBlobStore::open(dir)
                .map(|store| Arc::new(store) as Arc<dyn BlobStore>)
                .map_err(|e| format!("cannot open {}: {e}", dir.display())),
            BlobLocation::Bucket { bucket, prefix } => {
                let store = S3BlobStore::from_env(bucket, prefix)
                    .map_err(|e| format!("cannot use {self}: {}", with_causes(&e)))?;
                store.probe_writable().map_err(|e| {
                    let problem = with_causes(&e);
                    format!(
                        "cannot write to {self}: {problem}{}",
                        setup_hint(bucket, &problem)
                    )
                })?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// What the environment lacks when a bucket cannot be written, for the error a new operator
/// reads: the client's own message names a metadata address, a "builder error", or an object
/// that was not found.
fn setup_hint(bucket: &str, problem: &str) -> String {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .unwrap_or_default();
    let mut hints = Vec::new();
    if !set("AWS_ACCESS_KEY_ID") && !set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        hints.push(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, so the machine's \
             metadata service was asked for credentials",
        );
    }
    if endpoint.starts_with("http://")
        && !std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true")
    {
        hints.push("AWS_ENDPOINT_URL is http://: set AWS_ALLOW_HTTP=true to use it without TLS");
    }
    let missing_bucket =
        format!("the bucket `{bucket}` does not exist: create it, or correct --blobs");
    if problem.contains("NoSuchBucket") {
        hints.push(&missing_bucket);
    }
    hints.iter().map(|hint| format!(" ({hint})")).collect()
}

impl std::fmt::Display for BlobLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobLocation::Folder(dir) => write!(f, "{}", dir.display()),
            BlobLocation::Bucket { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            BlobLocation::Bucket { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// What [`copy_folder`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Blobs written to the target.
    pub copied: u64,
    /// Blobs the target held already (an earlier copy, or a node that uploaded them).
    pub present: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// The bytes read and staged at a time while copying.
const COPY_PIECE_BYTES: usize = 8 << 20;

/// Copies every finished blob of the folder store `from` into `to` (a bucket, when a deployment
/// moves its media to object storage), each staged and verified by its hash like an upload, so a
/// file that does not hash to its name stops the copy with its name. Blobs `to` holds already
/// are skipped: a copy that stopped is run again.
pub fn copy_folder(from: &FsBlobStore, to: &dyn BlobStore) -> Result<Copied, BlobError> {
    let mut done = Copied::default();
    for sha256 in from.finished()? {
        if to.size(&sha256)?.is_some() {
            done.present += 1;
            continue;
        }
        let Some((mut reader, _)) = from.open(&sha256)? else {
            continue;
        };
        // Bytes an earlier, interrupted copy staged are sent again.
        to.truncate(&sha256, 0)?;
        let mut staged = 0;
        let mut piece = vec![0; COPY_PIECE_BYTES];
        loop {
            let mut filled = 0;
            while filled < piece.len() {
                match reader.read(&mut piece[filled..])? {
                    0 => break,
                    read => filled += read,
                }
            }
            if filled == 0 {
                break;
            }
            staged = to.append(&sha256, staged, &[&piece[..filled]])?;
        }
        done.bytes += to.finish(&sha256, None)?;
        done.copied += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use fieldsync_protocol::hex;
    use sha2::{Digest, Sha256};

    use super::*;

    /// The bucket the S3 tests use, as `s3://bucket`: the test script starts an S3-speaking
    /// server, creates the bucket and sets the `AWS_*` variables.
    const TEST_BUCKET: &str = "FIELDSYNC_TEST_BUCKET";

    /// A store on a key prefix of its own in the test bucket: tests never see each other's
    /// blobs. Each call opens a new client on the same prefix, as another node would.
    fn fresh_bucket() -> impl Fn() -> S3BlobStore {
        let location = std::env::var(TEST_BUCKET).unwrap_or_else(|_| {
            panic!(
                "{TEST_BUCKET} is not set: run the tests with scripts/test.sh, which starts an \
                 S3-speaking server, or set it to s3://BUCKET with the AWS_* variables"
            )
        });
        let Ok(BlobLocation::Bucket { bucket, .. }) = BlobLocation::parse(&location) else {
            panic!("{TEST_BUCKET} must be s3://BUCKET, not {location}");
        };
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        move || S3BlobStore::from_env(&bucket, &prefix).expect("open the test bucket")
    }

    /// Runs `test` against a folder store and a bucket store. `test` gets a function that opens
    /// the store (again: a restarted server, or another node).
    fn on_each_store(test: impl Fn(&dyn Fn() -> Box<dyn BlobStore>)) {
        let dir = tempfile::tempdir().expect("tempdir");
        test(&|| Box::new(FsBlobStore::open(dir.path()).expect("open")));
        let bucket = fresh_bucket();
        test(&|| Box::new(bucket()));
    }

    fn read(store: &dyn BlobStore, sha256: &str) -> Option<Vec<u8>> {
        let (mut reader, size) = store.open(sha256).expect("open")?;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).expect("read");
        assert_eq!(bytes.len() as u64, size);
        Some(bytes)
    }

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// Bytes that differ along their whole length, so a misplaced piece changes the hash.
    fn bytes_of_len(len: usize) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    }

    #[test]
    fn a_blob_is_visible_only_once_finished_and_verified() {
        on_each_store(|open| {
            let store = open();
            let bytes = b"a photo of a broken valve".to_vec();
            let name = sha(&bytes);
            assert_eq!(store.append(&name, 0, &[&bytes[..5]]).expect("part"), 5);
            assert_eq!(store.staged(&name).expect("staged"), 5);
            assert_eq!(read(store.as_ref(), &name), None);
            assert_eq!(store.size(&name).expect("size"), None);
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
            store
                .append(&name, 5, &[&bytes[5..10], &bytes[10..]])
                .expect("rest");
            assert_eq!(
                store.finish(&name, None).expect("finish"),
                bytes.len() as u64
            );
            assert_eq!(read(store.as_ref(), &name), Some(bytes.clone()));
            assert_eq!(store.staged(&name).expect("staged"), 0);
            // Reopening finds it.
            let again = open();
            assert_eq!(again.size(&name).expect("size"), Some(bytes.len() as u64));
            store.probe_writable().expect("writable");
        });
    }

    #[test]
    fn wrong_bytes_are_discarded_not_kept() {
        on_each_store(|open| {
            let store = open();
            let name = sha(b"the real bytes");
            store.append(&name, 0, &[b"other bytes"]).expect("part");
            assert!(matches!(
                store.finish(&name, None),
                Err(BlobError::HashMismatch { .. })
            ));
            assert_eq!(store.staged(&name).expect("staged"), 0);
            assert_eq!(read(store.as_ref(), &name), None);
            // A digest the caller computed is trusted (a folder, which one node writes) or
            // checked (a bucket, which every node writes): either way only right bytes show.
            store.append(&name, 0, &[b"the real bytes"]).expect("part");
            match store.finish(&name, Some(&sha(b"other"))) {
                Ok(_) => assert_eq!(
                    read(store.as_ref(), &name).as_deref(),
                    Some(&b"the real bytes"[..])
                ),
                Err(BlobError::HashMismatch { .. }) => {
                    assert_eq!(read(store.as_ref(), &name), None)
                }
                Err(e) => panic!("{e}"),
            }
        });
    }

    #[test]
    fn a_bucket_hashes_what_it_holds_not_what_a_node_saw_arrive() {
        // Node A hashed the right bytes on the way in; meanwhile node B's device staged other
        // bytes over them. A's digest must not make B's bytes the blob.
        let open = fresh_bucket();
        let (a, b) = (open(), open());
        let right = b"the photo of the meter".to_vec();
        let name = sha(&right);
        a.append(&name, 0, &[&right]).expect("stage");
        b.truncate(&name, 0).expect("start again");
        b.append(&name, 0, &[b"something else entirely"])
            .expect("other bytes");
        assert!(matches!(
            a.finish(&name, Some(&name)),
            Err(BlobError::HashMismatch { .. })
        ));
        assert_eq!(a.size(&name).expect("size"), None);
    }

    #[test]
    fn truncating_cuts_staged_bytes_back_anywhere() {
        on_each_store(|open| {
            let store = open();
            let bytes = b"part one, part two, part three".to_vec();
            let name = sha(&bytes);
            store.append(&name, 0, &[&bytes[..10]]).expect("one");
            store.append(&name, 10, &[&bytes[10..20]]).expect("two");
            // Inside the first piece: the second goes, the first keeps its head.
            store.truncate(&name, 4).expect("truncate");
            assert_eq!(store.staged(&name).expect("staged"), 4);
            store.append(&name, 4, &[&bytes[4..]]).expect("rest");
            store
                .truncate(&name, 100)
                .expect("past the end cuts nothing");
            assert_eq!(
                store
                    .finish(&name, Some(&sha(&bytes)))
                    .expect("finish with the caller's digest"),
                bytes.len() as u64
            );
            assert_eq!(read(store.as_ref(), &name), Some(bytes));
            store
                .truncate(&name, 0)
                .expect("nothing staged is no error");
        });
    }

    #[test]
    fn a_large_blob_begun_by_one_server_is_finished_by_another() {
        // Past the single-request size: a bucket writes it as a multipart upload.
        let bytes = bytes_of_len(13 << 20);
        let name = sha(&bytes);
        on_each_store(|open| {
            let (first, second) = (open(), open());
            let mut staged = 0;
            for piece in bytes[..5 << 20].chunks(1 << 20) {
                staged = first.append(&name, staged, &[piece]).expect("first half");
            }
            // The first server stops; the second reads how far the upload came and goes on.
            drop(first);
            assert_eq!(second.staged(&name).expect("staged"), staged);
            for piece in bytes[staged as usize..].chunks(3 << 20) {
                staged = second.append(&name, staged, &[piece]).expect("rest");
            }
            assert_eq!(
                second.finish(&name, None).expect("finish"),
                bytes.len() as u64
            );
            assert_eq!(read(second.as_ref(), &name).as_deref(), Some(&bytes[..]));
            assert_eq!(second.staged(&name).expect("staged"), 0);
        });
        // Wrong bytes of that size never become visible either.
        on_each_store(|open| {
            let store = open();
            let mut wrong = bytes.clone();
            wrong[9 << 20] ^= 1;
            store.append(&name, 0, &[&wrong]).expect("staged");
            assert!(matches!(
                store.finish(&name, None),
                Err(BlobError::HashMismatch { .. })
            ));
            assert_eq!(store.size(&name).expect("size"), None);
            assert_eq!(store.staged(&name).expect("staged"), 0);
        });
    }

    #[test]
    fn a_folder_is_copied_into_a_bucket_verified_and_copied_again_without_repeating() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = FsBlobStore::open(dir.path()).expect("folder");
        let blobs = [bytes_of_len(10), bytes_of_len(9 << 20)];
        for bytes in &blobs {
            let name = sha(bytes);
            folder.append(&name, 0, &[bytes]).expect("stage");
            folder.finish(&name, None).expect("finish");
        }
        // An upload in progress is not a blob yet: it stays behind.
        folder.append(&sha(b"half"), 0, &[b"ha"]).expect("stage");
        let bucket = fresh_bucket()();
        let copied = copy_folder(&folder, &bucket).expect("copy");
        assert_eq!(
            copied,
            Copied {
                copied: 2,
                present: 0,
                bytes: (10 + (9 << 20)) as u64
            }
        );
        for bytes in &blobs {
            assert_eq!(read(&bucket, &sha(bytes)).as_ref(), Some(bytes));
        }
        assert_eq!(bucket.staged(&sha(b"half")).expect("staged"), 0);
        let again = copy_folder(&folder, &bucket).expect("again");
        assert_eq!((again.copied, again.present), (0, 2));

        // A file that does not hash to its name stops the copy, named, and is not copied.
        let damaged = sha(b"a signature");
        let path = dir.path().join(&damaged[..2]).join(&damaged);
        std::fs::create_dir_all(path.parent().expect("fan-out")).expect("dir");
        std::fs::write(&path, b"flipped bits").expect("damage");
        let refused = copy_folder(&folder, &bucket).expect_err("damaged");
        assert!(refused.to_string().contains(&damaged), "{refused}");
        assert_eq!(bucket.size(&damaged).expect("size"), None);
    }

    #[test]
    fn blob_locations_are_read_from_the_flag() {
        assert_eq!(
            BlobLocation::parse("s3://media/fieldsync/prod/"),
            Ok(BlobLocation::Bucket {
                bucket: "media".into(),
                prefix: "fieldsync/prod".into()
            })
        );
        assert_eq!(
            BlobLocation::parse("s3://media").map(|l| l.to_string()),
            Ok("s3://media".into())
        );
        assert_eq!(
            BlobLocation::parse("/var/lib/fieldsync/blobs"),
            Ok(BlobLocation::Folder("/var/lib/fieldsync/blobs".into()))
        );
        assert!(
            BlobLocation::parse("s3:///prefix")
                .unwrap_err()
                .contains("names no bucket")
        );
        assert!(
            BlobLocation::parse("gs://bucket")
                .unwrap_err()
                .contains("`gs://` object storage is not supported")
        );
    }
}
