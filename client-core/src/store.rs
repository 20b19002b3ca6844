//! The [`Store`]: the one entry point over the phone's SQLite database.
//!
//! Every installer operation is one SQLite transaction that writes the new Automerge change as a
//! document chunk, queues it in the outbox and updates the projection row, so the edit is durable
//! (and shown) before the call returns, with or without a network.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use fieldsync_protocol::automerge::{ActorId, AutoCommit, Change, ChangeHash};
use fieldsync_protocol::job::{
    ChecklistUpdate, Editor, Job, JobDoc, JobSummary, Outcome, PartUsed, Rating, Role, TimeEntry,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::{Millis, now_millis};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::db;
use crate::db::CachedStatements;
use crate::error::{Error, Result};
use crate::report::Language;

/// Where platforms keep a font with Chinese glyphs, tried in order when the app names none:
/// Android's Noto Sans CJK (and its fallback before Android 7), Debian's and Fedora's Noto Sans
/// CJK, and macOS's PingFang. iOS apps pass the path Core Text gives for PingFang.
pub const PLATFORM_CJK_FONTS: [&str; 6] = [
    "/system/fonts/NotoSansCJK-Regular.ttc",
    "/system/fonts/DroidSansFallback.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
];

/// The meta key of the organisation's time zone (an IANA name), as the server last announced it.
pub(crate) const TIME_ZONE: &str = "time_zone";
/// The installer's name as the office knows it, from enrollment.
const USER_NAME: &str = "user_name";

/// After this many incremental chunks a document is compacted into one snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 32;

/// A document is compacted into one snapshot once the changes stored after its snapshot reach
/// this fraction of the snapshot's size. Loading a document applies those changes op by op, at
/// several times the cost per byte of reading a snapshot, and every edit and every change from
/// the server loads it (rewriting a small snapshot costs less than loading it); a snapshot is
/// rewritten only after at least an eighth of its size was appended, a bounded cost per
/// appended byte however long the job's history.
const COMPACT_TAIL_SHARE: i64 = 8;

/// Who this device is: fixed when the store is first created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// A random id for this app install.
    pub device_id: String,
    /// The installer signed in on it.
    pub user_id: String,
    /// The Automerge actor id local changes carry: new each time the store is opened (so a
    /// restored backup never reuses sequence numbers); the server maps each actor it sees to
    /// the device and its user.
    pub actor: ActorId,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs whose appointment ends at or after this time (jobs without an appointment are
    /// included).
    pub from: Option<Millis>,
    /// Only jobs whose appointment starts before this time.
    pub until: Option<Millis>,
    /// Only jobs in one of these statuses (all when empty).
    pub statuses: Vec<Status>,
}

impl JobQuery {
    /// Today's and upcoming open jobs: the installer's default list. `now` is the device clock
    /// and `utc_offset` its time zone's offset from UTC in ms, so "today" starts at local
    /// midnight. [`Store::today_and_upcoming`] counts the organisation's day instead.
    pub fn today_and_upcoming(now: Millis, utc_offset: Millis) -> Self {
        const DAY: Millis = 86_400_000;
        let local = now.saturating_add(utc_offset);
        Self::open_from(
            local
                .saturating_sub(local.rem_euclid(DAY))
                .saturating_sub(utc_offset),
        )
    }

    /// Open jobs whose appointment ends at or after `from` (and those without one).
    fn open_from(from: Millis) -> Self {
        JobQuery {
            from: Some(from),
            until: None,
            statuses: vec![
                Status::Scheduled,
                Status::Assigned,
                Status::EnRoute,
                Status::OnSite,
                Status::Incomplete,
            ],
        }
    }
}

/// The start of `now`'s day in `zone` (a day may start at 01:00 where midnight is skipped).
fn local_midnight(now: Millis, zone: &jiff::tz::TimeZone) -> Millis {
    jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|at| at.to_zoned(zone.clone()).start_of_day().ok())
        .map_or(now, |midnight| midnight.timestamp().as_millisecond())
}

/// What the UI shows about a job's sync progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobSyncState {
    /// Saved on the phone; not yet sent.
    SavedLocally,
    /// Sent to the server; the answer has not arrived.
    Uploaded,
    /// Everything captured for the job is durably on the server.
    Accepted,
    /// The server refused the job's most recent changes (see [`Store::refusals`]); a later
    /// accepted push clears this.
    Refused,
}

/// The outbox at a glance: it must never stall silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxStatus {
    /// Changes waiting for the server's acknowledgement.
    pub depth: u64,
    /// Changes the server refused, kept on the phone and not sent again.
    pub parked: u64,
    /// When the oldest waiting change was made (device clock), if any.
    pub oldest_created_at: Option<Millis>,
    /// How many times the most-tried waiting change was sent without an answer.
    pub max_attempts: u64,
    /// Refusals recorded so far.
    pub refusals: u64,
}

/// A refusal the server sent for a job's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRecord {
    /// The job.
    pub job_id: String,
    /// The server's code, e.g. `out_of_scope`.
    pub code: String,
    /// The server's explanation.
    pub reason: String,
    /// How many changes it covered.
    pub changes: u64,
    /// When the refusal arrived (device clock).
    pub at: Millis,
}

/// The phone's local store of jobs. Cheap to share behind an `Arc`: one connection, used by one
/// writer at a time.
pub struct Store {
    conn: Mutex<Connection>,
    identity: DeviceIdentity,
    /// The device's language, for the service report's own words.
    pub(crate) language: Language,
    /// Font files for report text the standard PDF fonts cannot show.
    pub(crate) report_fonts: Vec<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row_cached("SELECT value FROM meta WHERE key = ?1", [key], |row| {
            row.get(0)
        })
        .optional()?)
}

pub(crate) fn meta_set(tx: &Transaction<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) use fieldsync_protocol::hex;

impl Store {
    /// Opens the store at `path` for `user_id`, creating it (with a new device id and actor) on
    /// first use. A store created for another user is refused: one install, one installer.
    pub fn open(path: impl AsRef<Path>, user_id: &str) -> Result<Store> {
        if user_id.trim().is_empty() {
            return Err(Error::StoreMismatch("a user id is required".into()));
        }
        let mut conn = db::open(path.as_ref())?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A fresh actor every time the store is opened: a store restored from a backup must
        // never reuse an actor's sequence numbers for different changes (Automerge refuses a
        // second change with the same actor and number). The server maps every actor it sees
        // to this device.
        let actor = ActorId::from(uuid::Uuid::new_v4().as_bytes().as_slice());
        let identity = match (meta_get(&tx, "device_id")?, meta_get(&tx, "user_id")?) {
            (Some(device_id), Some(stored_user)) => {
                if stored_user != user_id {
                    return Err(Error::StoreMismatch(format!(
                        "this store belongs to user `{stored_user}`, not `{user_id}`"
                    )));
                }
                DeviceIdentity {
                    device_id,
                    user_id: stored_user,
                    actor,
                }
            }
            _ => {
                let identity = DeviceIdentity {
                    device_id: format!("dev-{}", uuid::Uuid::new_v4().simple()),
                    user_id: user_id.to_owned(),
                    actor,
                };
                meta_set(&tx, "device_id", &identity.device_id)?;
                meta_set(&tx, "user_id", &identity.user_id)?;
                identity
            }
        };
        crate::knowledge::refresh_search_index(&tx)?;
        tx.commit()?;
        Ok(Store {
            conn: Mutex::new(conn),
            identity,
            language: Language::English,
            report_fonts: PLATFORM_CJK_FONTS.iter().map(PathBuf::from).collect(),
        })
    }

    /// Sets the device's language from a BCP 47 tag (`zh-CN`, `en-GB`): the service report is
    /// printed in it. English until set.
    pub fn with_locale(mut self, tag: &str) -> Store {
        self.language = Language::from_tag(tag);
        self
    }

    /// Names the font files the service report draws Chinese (and any text the standard PDF
    /// fonts lack) with, first choice first, replacing the platform paths the store tries by
    /// default ([`PLATFORM_CJK_FONTS`]). The first file that can be read is used; only the
    /// glyphs a report uses are embedded in it.
    pub fn with_report_fonts(mut self, fonts: Vec<PathBuf>) -> Store {
        self.report_fonts = fonts;
        self
    }

    /// Who this device is.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// The organisation's time zone (an IANA name such as `Asia/Shanghai`) as the server last
    /// announced it; `None` before the first sync with a server that announces one. Service
    /// reports show their times in it (in UTC until it is known).
    pub fn organisation_time_zone(&self) -> Result<Option<String>> {
        meta_get(&self.conn(), TIME_ZONE)
    }

    /// The installer's name as the office knows it (from enrollment), if known.
    pub fn user_name(&self) -> Result<Option<String>> {
        meta_get(&self.conn(), USER_NAME)
    }

    /// Remembers the installer's name (the service report prints it).
    pub(crate) fn set_user_name(&self, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        meta_set(&tx, USER_NAME, name)?;
        tx.commit()?;
        Ok(())
    }

    /// The organisation's zone as this build's time-zone database knows it, once a server has
    /// announced one.
    pub(crate) fn organisation_zone(&self) -> Result<Option<jiff::tz::TimeZone>> {
        Ok(self
            .organisation_time_zone()?
            .and_then(|name| jiff::tz::TimeZone::get(&name).ok()))
    }

    /// Today's and upcoming open jobs, "today" being the organisation's day (from midnight in
    /// its time zone, as the office's board counts it) once a sync has announced the zone;
    /// before that, the day at `fallback_offset` ms from UTC (the phone's own zone).
    pub fn today_and_upcoming(
        &self,
        now: Millis,
        fallback_offset: Millis,
    ) -> Result<Vec<JobSummary>> {
        let query = match self.organisation_zone()? {
            Some(zone) => JobQuery::open_from(local_midnight(now, &zone)),
            None => JobQuery::today_and_upcoming(now, fallback_offset),
        };
        self.list_jobs(&query)
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction rolls
        // back on drop), so the connection stays usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn editor(&self) -> Editor {
        Editor {
            user: self.identity.user_id.clone(),
            device: self.identity.device_id.clone(),
            role: Role::Installer,
        }
    }

    /// Lists jobs, ordered by appointment (unscheduled last).
    pub fn list_jobs(&self, query: &JobQuery) -> Result<Vec<JobSummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT summary, status FROM jobs
             WHERE (?1 IS NULL OR appointment_end IS NULL OR appointment_end >= ?1)
               AND (?2 IS NULL OR appointment_start IS NULL OR appointment_start < ?2)
             ORDER BY appointment_start IS NULL, appointment_start, job_id",
        )?;
        let rows = stmt.query_map(params![query.from, query.until], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut jobs = Vec::new();
        for row in rows {
            let (summary, status) = row?;
            if !query.statuses.is_empty() && !query.statuses.iter().any(|s| s.as_str() == status) {
                continue;
            }
            let summary: JobSummary =
                serde_json::from_str(&summary).map_err(|e| Error::CorruptDocument {
                    job: status,
                    reason: e.to_string(),
                })?;
            jobs.push(summary);
        }
        Ok(jobs)
    }

    /// Ids of every job document on the device.
    pub fn job_ids(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT job_id FROM docs ORDER BY job_id")?;
        let ids = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Opens a job: its whole read model.
    pub fn job(&self, job_id: &str) -> Result<Job> {
        let conn = self.conn();
        let doc = load_doc(&conn, job_id)?;
        read(&doc, job_id)
    }

    /// The current heads of a job document (for comparing replicas).
    pub fn heads(&self, job_id: &str) -> Result<Vec<ChangeHash>> {
        let conn = self.conn();
        let mut doc = load_doc(&conn, job_id)?;
        Ok(doc.get_heads())
    }

    /// Moves the job's status from the field (en route, on site, completed, incomplete).
    pub fn move_status(
        &self,
        job_id: &str,
        to: Status,
        position: Option<(f64, f64)>,
    ) -> Result<()> {
        let editor = self.editor();
        self.edit(job_id, |doc, now| {
            doc.transition(to, &editor, now, position)
        })
    }

    /// Ends the visit: records the outcome and moves to completed (or incomplete, which asks
    /// dispatch for a follow-up visit) in one durable step.
    pub fn finish_visit(&self, job_id: &str, outcome: &Outcome, completed: bool) -> Result<()> {
        let editor = self.editor();
        let to = if completed {
            Status::Completed
        } else {
            Status::Incomplete
        };
        self.edit(job_id, |doc, now| {
            doc.set_outcome(outcome, now)?;
            doc.transition(to, &editor, now, None)
        })
    }

    /// Ticks or fills a checklist item.
    pub fn update_checklist_item(
        &self,
        job_id: &str,
        item_id: &str,
        update: &ChecklistUpdate,
    ) -> Result<()> {
        self.edit(job_id, |doc, now| {
            doc.update_checklist_item(item_id, update, now)
        })
    }

    /// Appends a line to the job's notes.
    pub fn append_note(&self, job_id: &str, text: &str) -> Result<()> {
        self.edit(job_id, |doc, now| {
            let current = doc.read()?.notes;
            let separator = if current.is_empty() || current.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            doc.splice_notes(
                current.chars().count(),
                0,
                &format!("{separator}{text}"),
                now,
            )
        })
    }

    /// Edits the notes in place: deletes `delete` characters at `index` and inserts `insert`.
    pub fn splice_notes(
        &self,
        job_id: &str,
        index: usize,
        delete: usize,
        insert: &str,
    ) -> Result<()> {
        self.edit(job_id, |doc, now| {
            doc.splice_notes(index, delete, insert, now)
        })
    }

    /// Records a part used.
    pub fn add_part(
        &self,
        job_id: &str,
        part_number: &str,
        quantity: u32,
        under_warranty: bool,
    ) -> Result<()> {
        let by = self.identity.user_id.clone();
        self.edit(job_id, |doc, now| {
            let part = PartUsed {
                part_number: part_number.to_owned(),
                quantity,
                under_warranty,
                by,
                at: now,
            };
            doc.add_part(&part, now)
        })
    }

    /// Records time spent (travel or on site).
    pub fn add_time_entry(&self, job_id: &str, entry: &TimeEntry) -> Result<()> {
        let entry = TimeEntry {
            by: self.identity.user_id.clone(),
            ..entry.clone()
        };
        self.edit(job_id, |doc, now| doc.add_time_entry(&entry, now))
    }

    /// Records the customer's rating and comment.
    pub fn set_rating(&self, job_id: &str, score: u8, comment: &str) -> Result<()> {
        let rating = Rating {
            score,
            comment: comment.to_owned(),
        };
        self.edit(job_id, |doc, now| doc.set_rating(&rating, now))
    }

    /// Asks the next ring up for help. Works offline: it is a change like any other.
    pub fn request_help(&self, job_id: &str, reason: &str) -> Result<()> {
        let editor = self.editor();
        self.edit(job_id, |doc, now| doc.request_help(&editor, reason, now))
    }

    /// Applies `f` to the job document and makes the resulting changes durable in one
    /// transaction: document chunk, outbox entry, projection. If `f` fails nothing is written.
    fn edit(
        &self,
        job_id: &str,
        f: impl FnOnce(&mut JobDoc, Millis) -> Result<(), fieldsync_protocol::SchemaError>,
    ) -> Result<()> {
        self.edit_in(job_id, |doc, now, _| Ok(f(doc, now)?))
    }

    /// Like [`Store::edit`], for edits that also write other rows in the same transaction.
    pub(crate) fn edit_in(
        &self,
        job_id: &str,
        f: impl FnOnce(&mut JobDoc, Millis, &Transaction<'_>) -> Result<()>,
    ) -> Result<()> {
        let now = now_millis();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut doc = load_doc(&tx, job_id)?;
        doc.set_actor(self.identity.actor.clone());
        let before = doc.get_heads();
        let mut job_doc = JobDoc::from_automerge(doc);
        f(&mut job_doc, now, &tx)?;
        let mut doc = job_doc.into_automerge();
        let changes = doc.get_changes(&before);
        if changes.is_empty() {
            // Nothing changed in the document, but `f` may have written other rows.
            tx.commit()?;
            return Ok(());
        }
        for change in &changes {
            tx.execute_cached(
                "INSERT INTO outbox (job_id, hash, change, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![job_id, change.hash().0.as_slice(), change.raw_bytes(), now],
            )?;
        }
        append_changes(&tx, job_id, &changes)?;
        maybe_compact(&tx, job_id, &mut doc)?;
        update_projection(&tx, job_id, &doc)?;
        tx.commit()?;
        Ok(())
    }

    /// The outbox at a glance.
    pub fn outbox_status(&self) -> Result<OutboxStatus> {
        let conn = self.conn();
        let (depth, oldest, attempts) = conn.query_row_cached(
            "SELECT COUNT(*), MIN(created_at), COALESCE(MAX(attempts), 0) FROM outbox WHERE parked = 0",
            [],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            },
        )?;
        let refusals: i64 =
            conn.query_row_cached("SELECT COUNT(*) FROM refusals", [], |row| row.get(0))?;
        let parked: i64 =
            conn.query_row_cached("SELECT COUNT(*) FROM outbox WHERE parked = 1", [], |row| {
                row.get(0)
            })?;
        Ok(OutboxStatus {
            depth: depth.unsigned_abs(),
            parked: parked.unsigned_abs(),
            oldest_created_at: oldest,
            max_attempts: attempts.unsigned_abs(),
            refusals: refusals.unsigned_abs(),
        })
    }

    /// Where a job's captured work stands: saved locally, uploaded, accepted by the server, or
    /// refused.
    pub fn sync_state(&self, job_id: &str) -> Result<JobSyncState> {
        let conn = self.conn();
        let exists: bool = conn.query_row_cached(
            "SELECT EXISTS (SELECT 1 FROM docs WHERE job_id = ?1)",
            [job_id],
            |row| row.get(0),
        )?;
        if !exists {
            return Err(Error::UnknownJob(job_id.to_owned()));
        }
        let (unsent, sent): (i64, i64) = conn.query_row_cached(
            "SELECT COALESCE(SUM(sent_at IS NULL), 0), COALESCE(SUM(sent_at IS NOT NULL), 0)
             FROM outbox WHERE job_id = ?1 AND parked = 0",
            [job_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let (refused, in_fallback): (bool, bool) = conn.query_row_cached(
            "SELECT last_push_refused, needs_resync FROM docs WHERE job_id = ?1",
            [job_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        // Photo bytes count as captured work: until the server holds them, the job is not done.
        let photos_waiting: bool = conn.query_row_cached(
            "SELECT EXISTS (SELECT 1 FROM job_blobs JOIN blob_state USING (sha256)
               WHERE job_id = ?1 AND kind = 'captured' AND uploaded = 0)",
            [job_id],
            |row| row.get(0),
        )?;
        Ok(if unsent > 0 || photos_waiting {
            JobSyncState::SavedLocally
        } else if sent > 0 || in_fallback {
            JobSyncState::Uploaded
        } else if refused {
            JobSyncState::Refused
        } else {
            JobSyncState::Accepted
        })
    }

    /// What the server refused (pushes it could not take) or undid (`rule_violation`: a change
    /// it accepted and compensated because it broke a field rule), newest first.
    pub fn refusals(&self) -> Result<Vec<RefusalRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT job_id, code, reason, changes, at FROM refusals ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(RefusalRecord {
                job_id: row.get(0)?,
                code: row.get(1)?,
                reason: row.get(2)?,
                changes: row.get::<_, i64>(3)?.unsigned_abs(),
                at: row.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes a consistent copy of the whole store to `path` (which must not exist), e.g. for
    /// the phone's backup.
    pub fn backup_to(&self, path: impl AsRef<Path>) -> Result<()> {
        let target = path.as_ref().to_string_lossy().into_owned();
        self.conn().execute("VACUUM INTO ?1", [target])?;
        Ok(())
    }

    /// Removes every job from the device, captured work included, the reference knowledge
    /// (manuals, cases, tips), the customer cards and the reminders: what a revoked device does (it is lost or stolen, and the server
    /// no longer accepts anything from it). The device identity stays, so it can be enrolled
    /// again.
    pub fn wipe(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM outbox;
             DELETE FROM job_blobs;
             DELETE FROM docs;
             DELETE FROM blobs;
             DELETE FROM refusals;
             DELETE FROM manual_sections;
             DELETE FROM manual_attachments;
             DELETE FROM manuals;
             DELETE FROM cases;
             DELETE FROM case_cursors;
             DELETE FROM tips_docs;
             DELETE FROM tip_outbox;
             DELETE FROM knowledge_fts;
             DELETE FROM reminders;
             DELETE FROM meta WHERE key IN ('cursor', 'server');",
        )?;
        crate::customers::forget(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// The server cursor this device has applied up to (0 before the first sync).
    pub fn cursor(&self) -> Result<u64> {
        let conn = self.conn();
        Ok(meta_get(&conn, "cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }
}

/// Loads a job document from its chunks (a snapshot followed by incremental changes).
pub(crate) fn load_doc(conn: &Connection, job_id: &str) -> Result<AutoCommit> {
    let mut stmt =
        conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE job_id = ?1 ORDER BY id")?;
    let mut bytes = Vec::new();
    let mut chunks = 0;
    for chunk in stmt.query_map([job_id], |row| row.get::<_, Vec<u8>>(0))? {
        bytes.extend_from_slice(&chunk?);
        chunks += 1;
    }
    if chunks == 0 {
        return Err(Error::UnknownJob(job_id.to_owned()));
    }
    AutoCommit::load(&bytes).map_err(|e| Error::CorruptDocument {
        job: job_id.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn read(doc: &AutoCommit, job_id: &str) -> Result<Job> {
    fieldsync_protocol::job::read_job(doc).map_err(|e| Error::CorruptDocument {
        job: job_id.to_owned(),
        reason: e.to_string(),
    })
}

/// Appends changes to a document's chunk list (creating the document row when new).
pub(crate) fn append_changes(tx: &Transaction<'_>, job_id: &str, changes: &[Change]) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut bytes = Vec::new();
    for change in changes {
        bytes.extend_from_slice(change.raw_bytes());
    }
    tx.execute_cached(
        "INSERT INTO docs (job_id, chunk_count) VALUES (?1, 1)
         ON CONFLICT (job_id) DO UPDATE SET chunk_count = chunk_count + 1",
        [job_id],
    )?;
    tx.execute_cached(
        "INSERT INTO doc_chunks (job_id, bytes) VALUES (?1, ?2)",
        params![job_id, bytes],
    )?;
    Ok(())
}

/// Replaces a document's chunks with one snapshot.
pub(crate) fn replace_with_snapshot(
    tx: &Transaction<'_>,
    job_id: &str,
    doc: &mut AutoCommit,
) -> Result<()> {
    insert_snapshot(tx, job_id, &doc.save())
}

/// Replaces a document's chunks with the given saved bytes.
pub(crate) fn insert_snapshot(tx: &Transaction<'_>, job_id: &str, saved: &[u8]) -> Result<()> {
    tx.execute_cached("DELETE FROM doc_chunks WHERE job_id = ?1", [job_id])?;
    tx.execute_cached(
        "INSERT INTO docs (job_id, chunk_count) VALUES (?1, 1)
         ON CONFLICT (job_id) DO UPDATE SET chunk_count = 1",
        [job_id],
    )?;
    tx.execute_cached(
        "INSERT INTO doc_chunks (job_id, bytes) VALUES (?1, ?2)",
        params![job_id, saved],
    )?;
    Ok(())
}

/// Compacts a document once the changes stored after its snapshot are many or large enough
/// to slow its loading ([`COMPACT_AFTER_CHUNKS`], [`COMPACT_TAIL_SHARE`]).
pub(crate) fn maybe_compact(
    tx: &Transaction<'_>,
    job_id: &str,
    doc: &mut AutoCommit,
) -> Result<()> {
    let (chunks, bytes, snapshot): (i64, i64, i64) = tx.query_row_cached(
        "SELECT chunk_count,
           (SELECT COALESCE(SUM(length(bytes)), 0) FROM doc_chunks WHERE job_id = ?1),
           COALESCE((SELECT length(bytes) FROM doc_chunks WHERE job_id = ?1 ORDER BY id LIMIT 1), 0)
         FROM docs WHERE job_id = ?1",
        [job_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    let tail = bytes - snapshot;
    if chunks > COMPACT_AFTER_CHUNKS || (chunks > 1 && tail * COMPACT_TAIL_SHARE >= snapshot) {
        replace_with_snapshot(tx, job_id, doc)?;
    }
    Ok(())
}

/// Rewrites the projection row of a job from its document.
pub(crate) fn update_projection(
    tx: &Transaction<'_>,
    job_id: &str,
    doc: &AutoCommit,
) -> Result<()> {
    let summary = read(doc, job_id)?.summary();
    let json = serde_json::to_string(&summary).map_err(|e| Error::Protocol(e.to_string()))?;
    tx.execute_cached(
        "INSERT INTO jobs (job_id, status, appointment_start, appointment_end, summary) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, appointment_start = excluded.appointment_start,
           appointment_end = excluded.appointment_end, summary = excluded.summary",
        params![job_id, summary.status.as_str(), summary.appointment_start, summary.appointment_end, json],
    )?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use fieldsync_protocol::automerge::ActorId;
    use fieldsync_protocol::job::{Appointment, Customer, Editor, JobDoc, NewJob, Role};

    use super::*;

    /// Puts a job `id` assigned to `user` into the store, as a sync would, and returns the
    /// document as the server holds it.
    pub(crate) fn seed(store: &Store, id: &str, user: &str) -> JobDoc {
        seed_for(store, id, user, "Ada")
    }

    /// [`seed`] for a job of `customer`.
    pub(crate) fn seed_for(store: &Store, id: &str, user: &str, customer: &str) -> JobDoc {
        let dispatch = Editor {
            user: "dispatch".into(),
            device: "server".into(),
            role: Role::Dispatch,
        };
        let new = NewJob {
            id: id.into(),
            customer: Customer {
                name: customer.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut doc = JobDoc::create(ActorId::from([9_u8; 16].as_slice()), &new, &dispatch, 1)
            .expect("create");
        doc.assign(Some(user), &dispatch, 1).expect("assign");
        let mut saved = doc.automerge().clone();
        let mut conn = store.conn();
        let tx = conn.transaction().expect("tx");
        replace_with_snapshot(&tx, id, &mut saved).expect("store");
        update_projection(&tx, id, &saved).expect("projection");
        tx.commit().expect("commit");
        doc
    }

    /// "Today" on the phone is the organisation's day once the server has named its zone: a
    /// visit at 07:00 in Shanghai is today's there, though it was yesterday in UTC.
    #[test]
    fn today_is_the_organisations_day_once_a_sync_names_its_zone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let dispatch = Editor {
            user: "dispatch".into(),
            device: "server".into(),
            role: Role::Dispatch,
        };
        let hour = 3_600_000;
        // 2026-12-07 00:00 UTC, 08:00 in Shanghai.
        let now = 1_796_601_600_000;
        let mut doc = seed(&store, "job-early", "anna");
        let window = Appointment {
            start: now - hour,
            end: now - hour / 2,
        };
        doc.set_appointment(window, &dispatch, 2)
            .expect("appointment");
        let mut saved = doc.automerge().clone();
        {
            let mut conn = store.conn();
            let tx = conn.transaction().expect("tx");
            replace_with_snapshot(&tx, "job-early", &mut saved).expect("store");
            update_projection(&tx, "job-early", &saved).expect("projection");
            tx.commit().expect("commit");
        }
        let listed = |store: &Store| -> Vec<String> {
            let jobs = store.today_and_upcoming(now, 0).expect("list");
            jobs.into_iter().map(|j| j.id).collect()
        };
        assert!(listed(&store).is_empty(), "yesterday in the phone's UTC");
        {
            let mut conn = store.conn();
            let tx = conn.transaction().expect("tx");
            meta_set(&tx, TIME_ZONE, "Asia/Shanghai").expect("zone");
            tx.commit().expect("commit");
        }
        assert_eq!(listed(&store), ["job-early"], "today in Shanghai");
    }

    /// Edits that add up to a share of the snapshot's size are folded into it, so loading the
    /// document never applies more than that many bytes of changes one op at a time.
    #[test]
    fn a_long_tail_of_changes_is_folded_into_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let job = String::from("job-1");
        seed(&store, &job, "anna");
        let sizes = |store: &Store| -> (i64, i64, i64) {
            store
                .conn()
                .query_row_cached(
                    "SELECT COUNT(*), SUM(length(bytes)),
                       (SELECT length(bytes) FROM doc_chunks WHERE job_id = ?1 ORDER BY id LIMIT 1)
                     FROM doc_chunks WHERE job_id = ?1",
                    [&job],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .expect("sizes")
        };
        // A document of some size, as a job with a history is.
        store
            .append_note(
                &job,
                &(0..400u64)
                    .map(|i| format!("{} ", i.wrapping_mul(2_654_435_761) % 100_003))
                    .collect::<String>(),
            )
            .expect("long note");
        let (mut kept, mut compacted) = (false, false);
        for n in 0..12 {
            let (before, ..) = sizes(&store);
            store.append_note(&job, &format!("{n}")).expect("note");
            let (chunks, bytes, snapshot) = sizes(&store);
            kept |= chunks > 1;
            compacted |= chunks == 1 && before > 1;
            assert!(
                (bytes - snapshot) * COMPACT_TAIL_SHARE < snapshot,
                "after note {n}: {} bytes of changes on a {snapshot}-byte snapshot",
                bytes - snapshot
            );
        }
        assert!(kept, "small edits are kept as changes after the snapshot");
        assert!(compacted, "the document was folded into a snapshot");
        assert_eq!(store.job(&job).expect("job").notes.lines().count(), 13);
    }

    #[test]
    fn many_edits_compact_into_a_snapshot_and_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let job = String::from("job-1");
        seed(&store, &job, "anna");
        for n in 0..(COMPACT_AFTER_CHUNKS + 8) {
            store.append_note(&job, &format!("line {n}")).expect("note");
        }
        let chunks: i64 = store
            .conn()
            .query_row_cached(
                "SELECT COUNT(*) FROM doc_chunks WHERE job_id = ?1",
                [&job],
                |r| r.get(0),
            )
            .expect("count");
        assert!(
            chunks <= COMPACT_AFTER_CHUNKS,
            "{chunks} chunks were never compacted"
        );
        let notes = store.job(&job).expect("job").notes;
        assert_eq!(notes.lines().count(), (COMPACT_AFTER_CHUNKS + 8) as usize);
        assert_eq!(
            store.outbox_status().expect("outbox").depth,
            (COMPACT_AFTER_CHUNKS + 8) as u64
        );
        // And it all survives reopening the file.
        drop(store);
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("reopen");
        assert_eq!(store.job(&job).expect("job").notes, notes);
    }

    #[test]
    fn a_failed_edit_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("phone.db"), "anna").expect("open");
        let job = String::from("job-1");
        seed(&store, &job, "anna");
        let heads = store.heads(&job).expect("heads");
        assert!(store.set_rating(&job, 0, "no stars").is_err());
        assert!(store.move_status(&job, Status::Closed, None).is_err());
        assert!(store.add_part(&job, " ", 1, true).is_err());
        assert!(matches!(
            store.append_note("nope", "x"),
            Err(Error::UnknownJob(_))
        ));
        assert_eq!(store.heads(&job).expect("heads"), heads);
        assert_eq!(store.outbox_status().expect("outbox").depth, 0);
        assert_eq!(
            store.sync_state(&job).expect("state"),
            JobSyncState::Accepted
        );
    }

    #[test]
    fn a_store_belongs_to_one_installer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("phone.db");
        let identity = Store::open(&path, "anna").expect("open").identity().clone();
        let reopened = Store::open(&path, "anna")
            .expect("reopen")
            .identity()
            .clone();
        assert_eq!(
            (&reopened.device_id, &reopened.user_id),
            (&identity.device_id, &identity.user_id)
        );
        // A fresh actor each time, so a restored copy never reuses sequence numbers.
        assert_ne!(reopened.actor, identity.actor);
        assert!(matches!(
            Store::open(&path, "ben"),
            Err(Error::StoreMismatch(_))
        ));
        assert!(matches!(
            Store::open(dir.path().join("other.db"), " "),
            Err(Error::StoreMismatch(_))
        ));
    }
}
