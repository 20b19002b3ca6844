//! The sans-IO sync engine: bytes in, bytes out.
//!
//! A [`SyncSession`] produces request bodies and consumes response bodies; it never touches the
//! network. The HTTP transport ([`crate::transport`]) drives it against a real server, and tests
//! drive it through an in-memory network that drops and duplicates messages.
//!
//! A session runs rounds until nothing is left: each round pushes the outbox (paged), carries the
//! cursor (which acknowledges the previous response), and applies what the server sent. See
//! `docs/sync-protocol.md` for the contract.

use std::collections::{BTreeMap, BTreeSet};

use fieldsync_protocol::automerge::sync::{Message, State, SyncDoc};
use fieldsync_protocol::automerge::{AutoCommit, Change};
use fieldsync_protocol::now_millis;
use fieldsync_protocol::wire::{self, JobChanges, ResyncMessage, SyncRequest, SyncResponse};
use rusqlite::{Transaction, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::store::{self, Store, meta_get, meta_set};

/// At most this many bytes of changes are pushed in one request; the rest goes next round.
const PUSH_BUDGET_BYTES: usize = 1 << 20;

/// A session that needs more rounds than this is not settling (a server bug or a hostile one).
const MAX_ROUNDS: u32 = 10_000;

/// What a finished session did, for the UI and the benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Request/response exchanges.
    pub round_trips: u32,
    /// Jobs whose pushed changes the server accepted.
    pub accepted_jobs: usize,
    /// Jobs whose pushed changes the server refused.
    pub refused_jobs: usize,
    /// Jobs that received changes or documents from the server.
    pub updated_jobs: usize,
    /// Jobs removed from the device because they left its scope.
    pub purged_jobs: usize,
    /// Jobs that went through the fallback path.
    pub resynced_jobs: usize,
    /// Whether the server asked for a reset.
    pub reset: bool,
}

struct InFlight {
    /// Outbox row ids sent in this request, per job.
    sent: BTreeMap<String, Vec<i64>>,
    /// Jobs with a fallback message in this request.
    resync: BTreeSet<String>,
}

/// One sync session: call [`SyncSession::next_request`] until it returns `None`, passing each
/// response to [`SyncSession::receive`]. A request that failed in transit is simply retried:
/// calling `next_request` again rebuilds it from durable state.
pub struct SyncSession<'s> {
    store: &'s Store,
    /// Jobs in the fallback path, with the Automerge sync state for each.
    resync: BTreeMap<String, State>,
    /// Outbox rows of jobs in fallback that the fallback will settle, per job.
    resync_outbox: BTreeMap<String, Vec<i64>>,
    in_flight: Option<InFlight>,
    /// Whether the last response asked for another round (more pages, or content to acknowledge).
    again: bool,
    report: SyncReport,
    touched: BTreeSet<String>,
}

impl std::fmt::Debug for SyncSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncSession")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl<'s> SyncSession<'s> {
    /// Starts a session over `store`.
    pub fn new(store: &'s Store) -> Self {
        SyncSession {
            store,
            resync: BTreeMap::new(),
            resync_outbox: BTreeMap::new(),
            in_flight: None,
            again: true,
            report: SyncReport::default(),
            touched: BTreeSet::new(),
        }
    }

    /// What the session did so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }

    /// The next request body (CBOR, uncompressed), or `None` when the session is done.
    pub fn next_request(&mut self) -> Result<Option<Vec<u8>>> {
        if self.report.round_trips >= MAX_ROUNDS {
            return Err(Error::Protocol(format!(
                "sync did not settle after {MAX_ROUNDS} rounds"
            )));
        }
        let identity = self.store.identity().clone();
        let mut conn = self.store.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let cursor = meta_get(&tx, "cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);

        // The outbox, oldest first, up to the budget; jobs in fallback travel as sync messages.
        let mut push: BTreeMap<String, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
        let mut bytes = 0;
        {
            let mut stmt =
                tx.prepare_cached("SELECT id, job_id, change FROM outbox ORDER BY id")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let (id, job, change): (i64, String, Vec<u8>) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                if self.resync.contains_key(&job) {
                    continue;
                }
                if bytes > 0 && bytes + change.len() > PUSH_BUDGET_BYTES {
                    break;
                }
                bytes += change.len();
                push.entry(job).or_default().push((id, change));
            }
        }
        let now = now_millis();
        for rows in push.values() {
            for (id, _) in rows {
                tx.execute(
                    "UPDATE outbox SET sent_at = ?1, attempts = attempts + 1 WHERE id = ?2",
                    params![now, id],
                )?;
            }
        }

        let mut resync = Vec::new();
        let mut resync_jobs = BTreeSet::new();
        for (job, state) in &mut self.resync {
            let mut doc = store::load_doc(&tx, job)?;
            if let Some(message) = doc.sync().generate_sync_message(state) {
                resync.push(ResyncMessage {
                    job: job.clone(),
                    message: message.encode().into(),
                });
                resync_jobs.insert(job.clone());
            }
        }

        if push.is_empty() && resync.is_empty() && !self.again {
            tx.commit()?;
            return Ok(None);
        }
        tx.commit()?;

        let request = SyncRequest {
            v: wire::PROTOCOL_VERSION,
            device: identity.device_id,
            user: identity.user_id,
            actor: identity.actor.to_bytes().to_vec().into(),
            cursor,
            push: push
                .iter()
                .map(|(job, rows)| JobChanges {
                    job: job.clone(),
                    changes: rows
                        .iter()
                        .map(|(_, change)| change.clone().into())
                        .collect(),
                })
                .collect(),
            resync,
        };
        self.in_flight = Some(InFlight {
            sent: push
                .into_iter()
                .map(|(job, rows)| (job, rows.into_iter().map(|(id, _)| id).collect()))
                .collect(),
            resync: resync_jobs,
        });
        Ok(Some(wire::encode(&request)))
    }

    /// Applies a response body to the store, in one transaction.
    pub fn receive(&mut self, body: &[u8]) -> Result<()> {
        let response: SyncResponse = wire::decode(body)?;
        let in_flight = self.in_flight.take().ok_or_else(|| {
            Error::Protocol("a response arrived with no request in flight".into())
        })?;
        self.report.round_trips += 1;
        let mut conn = self.store.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

        // A different server database: our cursor means nothing there. Start from zero and push
        // everything we hold through the fallback, so nothing this phone captured is lost.
        let known_server = meta_get(&tx, "server")?;
        let server_changed = known_server
            .as_deref()
            .is_some_and(|s| s != response.server);
        meta_set(&tx, "server", &response.server)?;

        for job in &response.accepted {
            if let Some(ids) = in_flight.sent.get(job) {
                delete_outbox_rows(&tx, ids)?;
                self.report.accepted_jobs += 1;
            }
        }
        for refusal in &response.refused {
            if let Some(ids) = in_flight.sent.get(&refusal.job) {
                delete_outbox_rows(&tx, ids)?;
                tx.execute(
                    "INSERT INTO refusals (job_id, code, reason, changes, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![refusal.job, refusal.code, refusal.reason, ids.len() as i64, now_millis()],
                )?;
                self.report.refused_jobs += 1;
            }
        }
        for job in &response.resync_needed {
            if let Some(ids) = in_flight.sent.get(job) {
                self.resync_outbox
                    .entry(job.clone())
                    .or_default()
                    .extend(ids);
            }
            self.start_resync(job);
        }
        // Whatever was sent and not answered goes back to "saved locally".
        for ids in in_flight.sent.values() {
            for id in ids {
                tx.execute("UPDATE outbox SET sent_at = NULL WHERE id = ?1", [id])?;
            }
        }

        for JobChanges { job, changes } in &response.changes {
            let changes = changes
                .iter()
                .map(|bytes| Change::from_bytes(bytes.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::Protocol(format!("job `{job}`: bad change: {e}")))?;
            if apply_changes(&tx, job, changes)? {
                self.touched.insert(job.clone());
            } else {
                self.start_resync(job);
            }
        }
        for document in &response.documents {
            let mut incoming = AutoCommit::load(&document.doc).map_err(|e| {
                Error::Protocol(format!("job `{}`: bad document: {e}", document.job))
            })?;
            store_document(&tx, &document.job, &mut incoming)?;
            self.touched.insert(document.job.clone());
        }
        for message in &response.resync {
            let decoded = Message::decode(&message.message).map_err(|e| {
                Error::Protocol(format!("job `{}`: bad sync message: {e}", message.job))
            })?;
            let state = self.resync.entry(message.job.clone()).or_default();
            let mut doc = match store::load_doc(&tx, &message.job) {
                Ok(doc) => doc,
                Err(Error::UnknownJob(_)) => AutoCommit::new(),
                Err(e) => return Err(e),
            };
            doc.sync()
                .receive_sync_message(state, decoded)
                .map_err(|e| {
                    Error::Protocol(format!("job `{}`: sync message: {e}", message.job))
                })?;
            if !doc.get_heads().is_empty() {
                store::replace_with_snapshot(&tx, &message.job, &mut doc)?;
                store::update_projection(&tx, &message.job, &doc)?;
                self.touched.insert(message.job.clone());
            }
        }
        for job in &response.left {
            tx.execute("UPDATE docs SET left_scope = 1 WHERE job_id = ?1", [job])?;
        }
        self.report.purged_jobs += purge_safe_jobs(&tx)?;

        // Fallback jobs that had nothing to say this round and got no answer are settled: the
        // server has every change we have, so their outbox rows are done.
        let answered: BTreeSet<&String> = response.resync.iter().map(|m| &m.job).collect();
        let settled: Vec<String> = self
            .resync
            .keys()
            .filter(|job| !in_flight.resync.contains(*job) && !answered.contains(job))
            .cloned()
            .collect();
        for job in settled {
            self.resync.remove(&job);
            if let Some(ids) = self.resync_outbox.remove(&job) {
                delete_outbox_rows(&tx, &ids)?;
            }
            self.report.resynced_jobs += 1;
        }

        let mut cursor = response.cursor;
        if server_changed {
            cursor = 0;
        }
        meta_set(&tx, "cursor", &cursor.to_string())?;
        if response.reset || server_changed {
            self.report.reset = true;
            let mut stmt = tx.prepare_cached("SELECT job_id FROM docs")?;
            let jobs = stmt
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            drop(stmt);
            for job in jobs {
                let mut outbox = tx.prepare_cached("SELECT id FROM outbox WHERE job_id = ?1")?;
                let ids = outbox
                    .query_map([&job], |row| row.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                self.resync_outbox
                    .entry(job.clone())
                    .or_default()
                    .extend(ids);
                self.start_resync(&job);
            }
        }
        tx.commit()?;
        self.report.updated_jobs = self.touched.len();
        // Another round acknowledges what we applied, fetches the next page, or continues the
        // fallback; the outbox and the fallback are checked again in `next_request`.
        self.again = response.more
            || response.has_content()
            || response.reset
            || server_changed
            || !self.resync.is_empty();
        Ok(())
    }

    fn start_resync(&mut self, job: &str) {
        self.resync.entry(job.to_owned()).or_default();
        self.again = true;
    }
}

fn delete_outbox_rows(tx: &Transaction<'_>, ids: &[i64]) -> Result<()> {
    let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

/// Applies changes from the server to a job document. Returns false when some change depends on
/// history this device lacks (then nothing is stored and the job goes through the fallback).
fn apply_changes(tx: &Transaction<'_>, job: &str, changes: Vec<Change>) -> Result<bool> {
    let mut doc = match store::load_doc(tx, job) {
        Ok(doc) => doc,
        // Changes for a job we do not hold: only the fallback can bring its whole history.
        Err(Error::UnknownJob(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let new: Vec<Change> = changes
        .into_iter()
        .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
        .collect();
    if new.is_empty() {
        return Ok(true);
    }
    doc.apply_changes(new.clone())
        .map_err(|e| Error::Protocol(format!("job `{job}`: {e}")))?;
    if new
        .iter()
        .any(|c| doc.get_change_by_hash(&c.hash()).is_none())
    {
        return Ok(false);
    }
    store::append_changes(tx, job, &new)?;
    store::maybe_compact(tx, job, &mut doc)?;
    store::update_projection(tx, job, &doc)?;
    Ok(true)
}

/// Stores a whole document from the server, merging it with what the device holds.
fn store_document(tx: &Transaction<'_>, job: &str, incoming: &mut AutoCommit) -> Result<()> {
    let mut doc = match store::load_doc(tx, job) {
        Ok(mut local) => {
            local
                .merge(incoming)
                .map_err(|e| Error::Protocol(format!("job `{job}`: {e}")))?;
            local
        }
        Err(Error::UnknownJob(_)) => incoming.clone(),
        Err(e) => return Err(e),
    };
    tx.execute("UPDATE docs SET left_scope = 0 WHERE job_id = ?1", [job])?;
    store::replace_with_snapshot(tx, job, &mut doc)?;
    store::update_projection(tx, job, &doc)?;
    Ok(())
}

/// Removes jobs that left the device's scope, but only once nothing captured for them waits in
/// the outbox: captured work is never dropped.
fn purge_safe_jobs(tx: &Transaction<'_>) -> Result<usize> {
    let purged = tx.execute(
        "DELETE FROM docs WHERE left_scope = 1 AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.job_id = docs.job_id)",
        [],
    )?;
    Ok(purged)
}
