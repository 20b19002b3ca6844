//! Loaded job documents kept between transactions.
//!
//! Loading an Automerge document costs time in proportion to its history; a job edited often
//! is loaded again and again. The cache keeps the most recently used documents loaded. It needs
//! no invalidation protocol: a cached copy is used only when its heads equal the heads stored
//! with the job's row, and heads are hashes of content, so a copy left by a rolled-back
//! transaction or by another node's write is never mistaken for the stored document.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fieldsync_protocol::automerge::{AutoCommit, ChangeHash};
use lru::LruCache;

/// How many documents a store keeps loaded by default. A job document of a working day takes
/// a few hundred kilobytes in memory at most; the bound keeps the cache within tens of
/// megabytes while covering the jobs a fleet edits in the same minutes.
pub const DEFAULT_CAPACITY: usize = 256;

/// The heads of a document in the form stored with its job row: the sorted change hashes,
/// concatenated.
pub fn heads_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// What the cache has done, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Documents loaded now.
    pub entries: u64,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests that had to load the document (absent or stale).
    pub misses: u64,
}

/// A bounded, least-recently-used set of loaded job documents, validated by heads.
///
/// A document is taken out while a transaction works on it (no copy, and no two transactions
/// share one) and put back when the work is stored.
pub struct DocumentCache {
    entries: Mutex<LruCache<String, AutoCommit>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for DocumentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for DocumentCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl DocumentCache {
    /// A cache of at most `capacity` documents (at least one).
    pub fn new(capacity: usize) -> Self {
        DocumentCache {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, AutoCommit>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes out the loaded document of `job_id` if its heads are `heads` (as
    /// [`heads_bytes`]); a copy with other heads is stale and dropped.
    pub fn take(&self, job_id: &str, heads: &[u8]) -> Option<AutoCommit> {
        let taken = self.lock().pop(job_id);
        let current = taken.and_then(|mut doc| {
            (!heads.is_empty() && heads_bytes(&doc.get_heads()) == heads).then_some(doc)
        });
        let counter = if current.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        current
    }

    /// Keeps `doc` as the loaded document of `job_id`, evicting the least recently used one
    /// when full.
    pub fn keep(&self, job_id: &str, doc: AutoCommit) {
        self.lock().put(job_id.to_owned(), doc);
    }

    /// Entries, hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.lock().len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_protocol::automerge::{ROOT, transaction::Transactable};

    fn doc_with(value: &str) -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "k", value).expect("put");
        doc
    }

    #[test]
    fn a_document_comes_back_only_with_the_heads_it_was_kept_with() {
        let cache = DocumentCache::new(2);
        let mut doc = doc_with("a");
        let heads = heads_bytes(&doc.get_heads());
        cache.keep("j", doc);
        assert!(cache.take("j", &heads).is_some());
        assert!(cache.take("j", &heads).is_none(), "taking removes it");
        let mut other = doc_with("b");
        cache.keep("j", other.clone());
        assert!(cache.take("j", &heads).is_none(), "other heads are stale");
        assert!(
            cache.take("j", &heads_bytes(&other.get_heads())).is_none(),
            "a stale copy is dropped, not kept"
        );
        assert_eq!(
            cache.stats(),
            CacheStats {
                entries: 0,
                hits: 1,
                misses: 3
            }
        );
    }

    #[test]
    fn the_least_recently_used_document_is_evicted_and_empty_heads_never_match() {
        let cache = DocumentCache::new(2);
        for job in ["a", "b", "c"] {
            cache.keep(job, AutoCommit::new());
        }
        assert_eq!(cache.stats().entries, 2);
        assert!(cache.take("a", b"").is_none());
        assert!(cache.take("b", b"").is_none(), "a job without stored heads");
    }

    #[test]
    fn heads_are_stored_sorted() {
        let mut one = doc_with("a");
        let mut two = doc_with("b");
        one.merge(&mut two).expect("merge");
        let mut heads = one.get_heads();
        assert_eq!(heads.len(), 2);
        let bytes = heads_bytes(&heads);
        heads.reverse();
        assert_eq!(heads_bytes(&heads), bytes);
        assert_eq!(bytes.len(), 64);
    }
}
