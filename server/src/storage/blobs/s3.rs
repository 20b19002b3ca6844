//! Blobs as objects in an S3-compatible bucket, shared by every node of a deployment.
//!
//! An upload is staged as pieces, one object per append, named by the byte it starts at
//! (`<root>/staging/<sha256>/<offset>`). Each piece is a whole object the moment its `PUT`
//! returns, so bytes a node staged before it died are there for the node that carries on, and
//! how far an upload has come is read back from the bucket, never from one node's memory.
//! Pieces can be any size: S3 requires 5 MiB parts in a multipart upload, which a phone's parts
//! on a slow line are not.
//!
//! `finish` reads the pieces in order, hashes them, and writes the blob: a single `PUT` when it
//! is small, a multipart upload in 8 MiB parts when it is large. The blob's key appears only when
//! that `PUT` or the multipart completion succeeds, and the completion is sent only after the
//! hash matched (otherwise the multipart upload is aborted): a reader never sees a partial or
//! unverified blob. The pieces are deleted afterwards.
//!
//! The [`super::BlobStore`] trait is blocking (it runs on the blocking pool beside the database);
//! the object store client is async, so each store runs its requests on a small runtime of its
//! own and waits for them.

use std::future::Future;
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fieldsync_protocol::hex;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{BlobError, BlobReader, BlobStore};

/// Blobs up to this size are written with one `PUT`; larger ones as a multipart upload.
const SINGLE_PUT_BYTES: u64 = 8 << 20;
/// The part size of a multipart upload (S3's minimum is 5 MiB, its limit 10,000 parts: this
/// covers blobs up to 78 GiB, far above the upload limit).
const MULTIPART_PART_BYTES: usize = 8 << 20;
/// Parts of one multipart upload sent at once.
const MULTIPART_CONCURRENCY: usize = 4;
/// Bytes a download reads from the bucket per request.
const READ_RANGE_BYTES: u64 = 1 << 20;

/// Blobs in a bucket of S3-compatible object storage (AWS S3, Alibaba OSS, MinIO, Ceph).
pub struct S3BlobStore {
    bucket: Arc<AmazonS3>,
    root: Path,
    /// Runs the client's requests; shut down without waiting when the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Spawns on `runtime` (readers of a blob keep one).
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket.to_string())
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Drop for S3BlobStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime's worker.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The pieces of a staged upload, in order.
#[derive(Debug, Default)]
struct Pieces {
    /// `(key, start, length)` of the pieces that follow one another from byte 0.
    chain: Vec<(Path, u64, u64)>,
    /// Where the chain ends: how many bytes are staged.
    end: u64,
    /// Keys under the upload that are not part of the chain (a piece left by a writer that
    /// lost a race, or empty): deleted with the upload.
    stray: Vec<Path>,
}

impl S3BlobStore {
    /// A store in `bucket` under the key prefix `prefix` (may be empty), configured by the
    /// usual `AWS_*` environment variables: `AWS_ENDPOINT_URL` for a service other than AWS,
    /// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and `AWS_ALLOW_HTTP=true`
    /// for an endpoint without TLS. Nothing is sent until the first operation.
    pub fn from_env(bucket: &str, prefix: &str) -> Result<Self, BlobError> {
        // reqwest takes the process's rustls provider; ring is the one this server uses.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            // A bucket that is down fails the request within seconds (the phone retries the
            // upload) rather than holding a blocking thread for the default three minutes.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            })
            .build()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fieldsync-s3")
            .enable_all()
            .build()?;
        Ok(S3BlobStore {
            bucket: Arc::new(client),
            root: Path::from(prefix),
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    fn wait<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, BlobError>> + Send + 'static,
    ) -> Result<T, BlobError> {
        wait(&self.handle, work)
    }

    fn blob_key(&self, sha256: &str) -> Path {
        // The folder store's layout, so a folder copied into the bucket works as it is.
        self.root
            .clone()
            .join(sha256.get(..2).unwrap_or("xx"))
            .join(sha256)
    }

    fn staging_dir(&self, sha256: &str) -> Path {
        self.root.clone().join("staging").join(sha256)
    }
}

/// Runs `work` on the store's runtime and waits for it. Safe from any thread, a runtime's worker
/// included: the caller only blocks on a channel.
fn wait<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    work: impl Future<Output = Result<T, BlobError>> + Send + 'static,
) -> Result<T, BlobError> {
    let (done, outcome) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(work.await);
    });
    outcome.recv().map_err(|_| {
        BlobError::Io(std::io::Error::other(
            "the object storage worker stopped before answering",
        ))
    })?
}

/// A piece's key: its first byte, zero-padded so keys sort as numbers do.
fn piece_key(dir: &Path, start: u64) -> Path {
    dir.clone().join(format!("{start:020}"))
}

async fn pieces(bucket: &AmazonS3, dir: &Path) -> Result<Pieces, BlobError> {
    let mut found: Vec<(u64, Path, u64)> = Vec::new();
    let mut stray = Vec::new();
    let mut listing = bucket.list(Some(dir));
    while let Some(object) = listing.try_next().await? {
        match object
            .location
            .filename()
            .and_then(|name| name.parse().ok())
        {
            Some(start) if object.size > 0 => found.push((start, object.location, object.size)),
            _ => stray.push(object.location),
        }
    }
    found.sort_by_key(|(start, ..)| *start);
    let mut pieces = Pieces {
        stray,
        ..Pieces::default()
    };
    for (start, key, len) in found {
        if start == pieces.end {
            pieces.end += len;
            pieces.chain.push((key, start, len));
        } else {
            pieces.stray.push(key);
        }
    }
    Ok(pieces)
}

async fn delete_all(bucket: &AmazonS3, keys: Vec<Path>) -> Result<(), BlobError> {
    if keys.is_empty() {
        return Ok(());
    }
    // Batched: one request deletes up to a thousand keys.
    let keys = futures_util::stream::iter(keys.into_iter().map(Ok)).boxed();
    let mut deleted = bucket.delete_stream(keys);
    while let Some(outcome) = deleted.next().await {
        match outcome {
            // Deleted meanwhile by another node finishing or discarding the same upload.
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn not_found_is_none<T>(result: object_store::Result<T>) -> Result<Option<T>, BlobError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Hashes `bytes` into `hasher` on the blocking pool: a piece takes milliseconds to hash, which
/// would hold up every other request on the runtime's two workers.
async fn hashed(mut hasher: Sha256, bytes: Bytes) -> Result<(Sha256, Bytes), BlobError> {
    tokio::task::spawn_blocking(move || {
        hasher.update(&bytes);
        (hasher, bytes)
    })
    .await
    .map_err(|e| BlobError::Io(std::io::Error::other(format!("hashing failed: {e}"))))
}

/// Writes the staged pieces as the blob `key` once they hash to `sha256`. Returns the blob's
/// size. The bytes are always hashed as they are read back: another node may have staged over
/// them since any node hashed them on the way in.
async fn assemble(
    bucket: &AmazonS3,
    pieces: &Pieces,
    key: &Path,
    sha256: &str,
) -> Result<u64, BlobError> {
    let verified = |hasher: Sha256| -> Result<(), BlobError> {
        let actual = hex(&hasher.finalize());
        if actual == sha256 {
            return Ok(());
        }
        Err(BlobError::HashMismatch {
            expected: sha256.to_owned(),
            actual,
        })
    };
    let mut hasher = Sha256::new();
    if pieces.end <= SINGLE_PUT_BYTES {
        let mut whole = Vec::with_capacity(pieces.end as usize);
        for (piece, ..) in &pieces.chain {
            let bytes;
            (hasher, bytes) = hashed(hasher, bucket.get(piece).await?.bytes().await?).await?;
            whole.extend_from_slice(&bytes);
        }
        verified(hasher)?;
        bucket.put(key, whole.into()).await?;
        return Ok(pieces.end);
    }
    let upload = bucket.put_multipart(key).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART_BYTES);
    let copied = async {
        for (piece, ..) in &pieces.chain {
            writer.wait_for_capacity(MULTIPART_CONCURRENCY).await?;
            let bytes;
            (hasher, bytes) = hashed(hasher, bucket.get(piece).await?.bytes().await?).await?;
            writer.put(bytes);
        }
        verified(hasher)
    }
    .await;
    match copied {
        Ok(()) => {
            writer.finish().await?;
            Ok(pieces.end)
        }
        Err(e) => {
            // Parts already sent are dropped with the upload; the key never appears.
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

impl BlobStore for S3BlobStore {
    fn staged(&self, sha256: &str) -> Result<u64, BlobError> {
        let (bucket, dir) = (self.bucket.clone(), self.staging_dir(sha256));
        self.wait(async move { Ok(pieces(&bucket, &dir).await?.end) })
    }

    fn append(&self, sha256: &str, offset: u64, parts: &[&[u8]]) -> Result<u64, BlobError> {
        let (bucket, dir) = (self.bucket.clone(), self.staging_dir(sha256));
        let bytes = parts.concat();
        self.wait(async move {
            let received = pieces(&bucket, &dir).await?.end;
            if received != offset {
                return Err(BlobError::OutOfOrder { offset, received });
            }
            if bytes.is_empty() {
                return Ok(offset);
            }
            let len = bytes.len() as u64;
            bucket.put(&piece_key(&dir, offset), bytes.into()).await?;
            Ok(offset + len)
        })
    }

    fn truncate(&self, sha256: &str, len: u64) -> Result<(), BlobError> {
        let (bucket, dir) = (self.bucket.clone(), self.staging_dir(sha256));
        self.wait(async move {
            let pieces = pieces(&bucket, &dir).await?;
            let mut doomed = pieces.stray;
            for (key, start, piece_len) in pieces.chain {
                if start >= len {
                    doomed.push(key);
                } else if start + piece_len > len {
                    // The piece the cut falls in keeps its head.
                    let head = bucket.get_range(&key, 0..len - start).await?;
                    bucket.put(&key, head.into()).await?;
                }
            }
            delete_all(&bucket, doomed).await
        })
    }

    /// The caller's `digest` is not trusted here: the staged pieces are shared by every node,
    /// and [`assemble`] hashes them as it reads them back anyway.
    fn finish(&self, sha256: &str, _digest: Option<&str>) -> Result<u64, BlobError> {
        let (bucket, dir) = (self.bucket.clone(), self.staging_dir(sha256));
        let (key, sha256) = (self.blob_key(sha256), sha256.to_owned());
        self.wait(async move {
            let pieces = pieces(&bucket, &dir).await?;
            let outcome = match assemble(&bucket, &pieces, &key, &sha256).await {
                // Another node finished the same upload first and deleted the pieces.
                Err(BlobError::Remote(object_store::Error::NotFound { .. })) => {
                    match not_found_is_none(bucket.head(&key).await)? {
                        Some(blob) => Ok(blob.size),
                        None => Err(BlobError::OutOfOrder {
                            offset: pieces.end,
                            received: 0,
                        }),
                    }
                }
                outcome => outcome,
            };
            // Staged bytes go either way: they are the blob now, or they were wrong. A piece
            // left behind is only space (a lifecycle rule on staging/ clears it).
            if matches!(outcome, Ok(_) | Err(BlobError::HashMismatch { .. })) {
                let keys = pieces.chain.into_iter().map(|(key, ..)| key);
                if let Err(e) = delete_all(&bucket, keys.chain(pieces.stray).collect()).await {
                    tracing::warn!(blob = %sha256, error = %e, "staged pieces not deleted");
                }
            }
            outcome
        })
    }

    fn size(&self, sha256: &str) -> Result<Option<u64>, BlobError> {
        let (bucket, key) = (self.bucket.clone(), self.blob_key(sha256));
        self.wait(
            async move { not_found_is_none(bucket.head(&key).await).map(|m| m.map(|m| m.size)) },
        )
    }

    fn open(&self, sha256: &str) -> Result<Option<(BlobReader, u64)>, BlobError> {
        let Some(size) = self.size(sha256)? else {
            return Ok(None);
        };
        let reader = RangeReader {
            bucket: self.bucket.clone(),
            runtime: self.handle.clone(),
            key: self.blob_key(sha256),
            range: 0..size,
            buffer: Vec::new(),
            read: 0,
        };
        Ok(Some((Box::new(reader), size)))
    }

    fn probe_writable(&self) -> Result<(), BlobError> {
        let (bucket, key) = (
            self.bucket.clone(),
            self.root.clone().join("staging").join(format!(
                ".readiness-probe-{}",
                uuid::Uuid::new_v4().simple()
            )),
        );
        // Every kind of request uploads and downloads make: a key allowed to write but not to
        // list or read fails here, named, not at the first upload.
        self.wait(async move {
            bucket.put(&key, "probe".into()).await?;
            bucket.get(&key).await?.bytes().await?;
            let mut listing = bucket.list(Some(&key));
            while listing.try_next().await?.is_some() {}
            bucket.delete(&key).await?;
            Ok(())
        })
    }
}

/// Reads a blob a range at a time, so a large attachment is never in memory whole.
struct RangeReader {
    bucket: Arc<AmazonS3>,
    runtime: tokio::runtime::Handle,
    key: Path,
    /// The bytes not fetched yet.
    range: Range<u64>,
    /// The last range fetched, and how much of it was read.
    buffer: Vec<u8>,
    read: usize,
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.read == self.buffer.len() {
            if self.range.is_empty() {
                return Ok(0);
            }
            let end = self.range.end.min(self.range.start + READ_RANGE_BYTES);
            let (bucket, key, range) =
                (self.bucket.clone(), self.key.clone(), self.range.start..end);
            let bytes = wait(&self.runtime, async move {
                Ok(bucket.get_range(&key, range).await?)
            })
            .map_err(std::io::Error::other)?;
            if bytes.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the blob is shorter than its size",
                ));
            }
            self.range.start += bytes.len() as u64;
            self.buffer = bytes.to_vec();
            self.read = 0;
        }
        let n = out.len().min(self.buffer.len() - self.read);
        out[..n].copy_from_slice(&self.buffer[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}
