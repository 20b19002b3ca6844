//! Server storage behind one trait, so the sync and dispatch logic never sees a database.
//!
//! A backend implements [`Storage`]: it runs a closure inside one read or one write
//! transaction. Everything a write closure does commits together or not at all, which is how
//! "durable before acknowledged" holds: the sync handler builds its response inside the write
//! transaction and answers only after the commit. The SQLite backend ([`sqlite`]) is the embedded
//! default; every backend must pass the suite in [`conformance`].

pub mod conformance;
mod knowledge_sql;
mod service_sql;
pub mod sqlite;

use fieldsync_protocol::Millis;
use fieldsync_protocol::job::JobSummary;
use fieldsync_protocol::knowledge::{Case, Manual, ManualSummary};
use serde::{Deserialize, Serialize};

use crate::facts::JobFacts;
use crate::kpi::{KpiData, KpiFilter, Period};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The transaction was rolled back because its closure failed.
    #[error("transaction aborted")]
    Aborted,
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Database(e.to_string())
    }
}

/// A job as stored: the Automerge document and its projection row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The whole document (`Automerge::save`).
    pub doc: Vec<u8>,
    /// The projection derived from it.
    pub summary: JobSummary,
}

/// What an entry in the server's history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An Automerge change to a job.
    Change,
    /// A job entered a user's scope (assigned to them).
    Enter,
    /// A job left a user's scope (reassigned or unassigned).
    Leave,
}

impl EventKind {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Change => "change",
            EventKind::Enter => "enter",
            EventKind::Leave => "leave",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Result<Self, StorageError> {
        match s {
            "change" => Ok(EventKind::Change),
            "enter" => Ok(EventKind::Enter),
            "leave" => Ok(EventKind::Leave),
            other => Err(StorageError::Corrupt(format!(
                "unknown event kind `{other}`"
            ))),
        }
    }
}

/// One entry of the server's history. `seq` grows by one per entry across all jobs; a device's
/// cursor is the last `seq` it has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the history.
    pub seq: u64,
    /// The job.
    pub job_id: String,
    /// What happened.
    pub kind: EventKind,
    /// For scope events, whose scope.
    pub user: Option<String>,
    /// For changes, the device that uploaded it (`None` for the server's own changes).
    pub origin_device: Option<String>,
    /// For changes, the change bytes.
    pub change: Option<Vec<u8>>,
}

/// What an audit trail entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// An accepted change (from a device, or dispatch's through the server).
    Change,
    /// A change the server wrote to undo a rule violation.
    Compensation,
    /// A pushed change broke a field rule.
    Violation,
    /// The job entered a user's scope.
    Enter,
    /// The job left a user's scope.
    Leave,
    /// A device was told to purge the job.
    Purge,
    /// Something dispatch should look at (e.g. work arrived from a previous assignee).
    Flag,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 7] = [
        AuditKind::Change,
        AuditKind::Compensation,
        AuditKind::Violation,
        AuditKind::Enter,
        AuditKind::Leave,
        AuditKind::Purge,
        AuditKind::Flag,
    ];

    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::Change => "change",
            AuditKind::Compensation => "compensation",
            AuditKind::Violation => "violation",
            AuditKind::Enter => "enter",
            AuditKind::Leave => "leave",
            AuditKind::Purge => "purge",
            AuditKind::Flag => "flag",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        AuditKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// One entry of the audit trail: who did what to which job, when, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the trail (assigned by storage; ignored when appending).
    pub id: u64,
    /// The job.
    pub job_id: String,
    /// What happened.
    pub kind: AuditKind,
    /// The user who did it (or whose scope changed).
    pub user: Option<String>,
    /// The device it came from (none for the office and the server).
    pub device: Option<String>,
    /// The Automerge actor (hex).
    pub actor: Option<String>,
    /// The change hash (hex).
    pub change: Option<String>,
    /// The fields touched, as the field-rules table names them.
    pub fields: Vec<String>,
    /// The device's clock at the change (ms since the Unix epoch), as it claimed it.
    pub device_time: Option<Millis>,
    /// The server's clock when it was stored.
    pub server_time: Millis,
    /// A human-readable detail: a violation's reason, a flag's text.
    pub detail: String,
}

impl AuditEntry {
    /// An entry of `kind` for `job_id` at server time `now`, with nothing else filled in.
    pub fn new(job_id: &str, kind: AuditKind, now: Millis) -> Self {
        AuditEntry {
            id: 0,
            job_id: job_id.to_owned(),
            kind,
            user: None,
            device: None,
            actor: None,
            change: None,
            fields: Vec::new(),
            device_time: None,
            server_time: now,
            detail: String::new(),
        }
    }
}

/// A device's credential, issued at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// The device id (chosen by the app install).
    pub device_id: String,
    /// The user the device acts for.
    pub user_id: String,
    /// When it was enrolled.
    pub enrolled_at: Millis,
    /// Who issued the enrollment code.
    pub enrolled_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Millis>,
    /// When it was flagged for an admin (repeated rule violations), if it was.
    pub flagged_at: Option<Millis>,
}

/// A signed-in office session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub user_id: String,
    /// The token a cookie-authenticated request must echo in `x-csrf-token`.
    pub csrf: String,
    /// When it stops working.
    pub expires_at: Millis,
}

/// A one-time enrollment code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentCode {
    /// The user the enrolled device will act for.
    pub user_id: String,
    /// Who issued it.
    pub created_by: String,
    /// When it stops working.
    pub expires_at: Millis,
    /// When it was used, if it was.
    pub used_at: Option<Millis>,
}

/// A change to append to the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    /// The change hash.
    pub hash: [u8; 32],
    /// The change bytes.
    pub bytes: Vec<u8>,
    /// The device that uploaded it (`None` for the server's own changes, which every device in
    /// scope receives, the uploader included).
    pub origin_device: Option<String>,
}

/// A device the server has seen, and where it is in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device id.
    pub device_id: String,
    /// The user it belongs to.
    pub user_id: String,
    /// Its Automerge actor id.
    pub actor: Vec<u8>,
    /// The cursor it presented last (what it acknowledged).
    pub last_presented_cursor: u64,
    /// The cursor the server issued to it last.
    pub last_issued_cursor: u64,
    /// When it last synced (server clock).
    pub last_seen: Millis,
}

/// A person who uses Fieldsync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user id (also what `assignee` holds).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `installer`, `dispatcher`, `supervisor`, `head_of_engineering` or `admin`.
    pub role: String,
    /// Home region.
    #[serde(default)]
    pub region: String,
    /// Skills (product families, kinds of work).
    #[serde(default)]
    pub skills: Vec<String>,
}

/// A reminder about overdue or escalated work, stored so it survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reminder {
    /// Its id (assigned by storage).
    pub id: u64,
    /// The job.
    pub job_id: String,
    /// The escalation rule that fired it (each fires once per job), e.g. `resolve:ring2`.
    pub rule: String,
    /// The person reminded, when it is one person (the engineer).
    pub to_user: Option<String>,
    /// The role reminded, when it is a ring or a desk (`dispatcher`, `supervisor`,
    /// `head_of_engineering`).
    pub to_role: Option<String>,
    /// The ring the job was in when it fired.
    pub ring: u8,
    /// The clock that ran out (`dispatch`, `resolve`, `feedback`, `complaint`) or `help`.
    pub clock: String,
    /// What the reminder says.
    pub message: String,
    /// When it fired.
    pub created_at: Millis,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<Millis>,
}

/// A blob the server holds, verified against its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobRecord {
    /// Its SHA-256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its MIME type, as the uploader declared it.
    pub mime: String,
    /// When the last byte arrived.
    pub created_at: Millis,
    /// Who uploaded it.
    pub created_by: String,
}

/// An upload under way: its bytes are staged in the blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The blob's SHA-256.
    pub sha256: String,
    /// Its declared total size.
    pub size: u64,
    /// Its declared MIME type.
    pub mime: String,
    /// When its first part arrived.
    pub started_at: Millis,
    /// Who started it.
    pub started_by: String,
}

/// A download link for a job's signed service report (stored by the hash of its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLink {
    /// The job.
    pub job_id: String,
    /// When the link stops working.
    pub expires_at: Millis,
    /// When it was made.
    pub created_at: Millis,
    /// Who made it.
    pub created_by: String,
}

/// Reads inside one transaction.
pub trait ReadTx {
    /// A random id made when the database was created; it tells devices which database they
    /// talk to.
    fn server_id(&self) -> Result<String, StorageError>;
    /// The server's Automerge actor id for changes dispatch makes: new for every process (every
    /// open of the store), so a database restored from a backup never reuses the sequence
    /// numbers of changes it lost but phones still hold.
    fn server_actor(&self) -> Result<Vec<u8>, StorageError>;
    /// The device that uploaded changes by `actor`, if any did.
    fn device_for_actor(&self, actor: &[u8]) -> Result<Option<String>, StorageError>;
    /// The highest `seq` in the history (0 when empty).
    fn max_seq(&self) -> Result<u64, StorageError>;
    /// One job.
    fn job(&self, job_id: &str) -> Result<Option<StoredJob>, StorageError>;
    /// Every job's projection, oldest call first.
    fn list_jobs(&self) -> Result<Vec<JobSummary>, StorageError>;
    /// History entries after `after` that concern `user`: changes to jobs they currently hold
    /// (assigned to them and not cancelled) and their scope events, in `seq` order, at most
    /// `limit`.
    fn events_for_user(
        &self,
        user: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StorageError>;
    /// The `seq` of the latest time `job_id` entered `user`'s scope.
    fn latest_entry(&self, job_id: &str, user: &str) -> Result<Option<u64>, StorageError>;
    /// Whether the job was ever in the user's scope.
    fn ever_in_scope(&self, job_id: &str, user: &str) -> Result<bool, StorageError>;
    /// A device.
    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError>;
    /// Every user.
    fn users(&self) -> Result<Vec<User>, StorageError>;
    /// One user.
    fn user(&self, user_id: &str) -> Result<Option<User>, StorageError>;
    /// A user's password hash (PHC string), if they have a password.
    fn password_hash(&self, user_id: &str) -> Result<Option<String>, StorageError>;
    /// The session whose token hashes to `token_hash`.
    fn session(&self, token_hash: &[u8]) -> Result<Option<Session>, StorageError>;
    /// The enrollment code that hashes to `code_hash`.
    fn enrollment_code(&self, code_hash: &[u8]) -> Result<Option<EnrollmentCode>, StorageError>;
    /// The device whose credential hashes to `token_hash`.
    fn credential_by_token(&self, token_hash: &[u8]) -> Result<Option<Credential>, StorageError>;
    /// One enrolled device.
    fn credential(&self, device_id: &str) -> Result<Option<Credential>, StorageError>;
    /// Every enrolled device, by device id.
    fn credentials(&self) -> Result<Vec<Credential>, StorageError>;
    /// Audit entries, oldest first: of one job or all, of one kind or all, at most `limit`
    /// (the newest `limit` when there are more).
    fn audit(
        &self,
        job_id: Option<&str>,
        kind: Option<AuditKind>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StorageError>;
    /// How many changes from a device broke field rules.
    fn violation_count(&self, device_id: &str) -> Result<u64, StorageError>;
    /// One job's service facts.
    fn job_facts(&self, job_id: &str) -> Result<Option<JobFacts>, StorageError>;
    /// The facts of every job not cancelled or closed, oldest call first.
    fn open_job_facts(&self) -> Result<Vec<JobFacts>, StorageError>;
    /// The ids of jobs that have no facts row yet (stored before the projection existed).
    fn jobs_without_facts(&self) -> Result<Vec<String>, StorageError>;
    /// The KPIs over the jobs `filter` selects, per `period`; SLA clocks not stopped count as
    /// run once their deadline is before `now`.
    fn kpis(
        &self,
        filter: &KpiFilter,
        period: Period,
        now: Millis,
    ) -> Result<KpiData, StorageError>;
    /// The regions and problem categories jobs have (for the KPI filters), sorted.
    fn kpi_dimensions(&self) -> Result<(Vec<String>, Vec<String>), StorageError>;
    /// Reminders, newest first: only those not acknowledged when `open_only`.
    fn reminders(&self, open_only: bool) -> Result<Vec<Reminder>, StorageError>;
    /// One job's reminders, oldest first.
    fn job_reminders(&self, job_id: &str) -> Result<Vec<Reminder>, StorageError>;
    /// A blob the server holds.
    fn blob(&self, sha256: &str) -> Result<Option<BlobRecord>, StorageError>;
    /// An upload under way.
    fn upload(&self, sha256: &str) -> Result<Option<PendingUpload>, StorageError>;
    /// The jobs a blob belongs to.
    fn blob_jobs(&self, sha256: &str) -> Result<Vec<String>, StorageError>;
    /// Whether a blob is attached to a published manual.
    fn is_manual_attachment(&self, sha256: &str) -> Result<bool, StorageError>;
    /// Every published manual version, newest first.
    fn manual_summaries(&self) -> Result<Vec<ManualSummary>, StorageError>;
    /// The latest published version of a model's manual.
    fn latest_manual_version(&self, model: &str) -> Result<Option<u32>, StorageError>;
    /// A model's manual at `version`, or its latest.
    fn manual(&self, model: &str, version: Option<u32>) -> Result<Option<Manual>, StorageError>;
    /// The product models on `user`'s open jobs.
    fn models_of(&self, user: &str) -> Result<Vec<String>, StorageError>;
    /// Jobs stored before their product model was recorded.
    fn jobs_without_product(&self) -> Result<Vec<String>, StorageError>;
    /// Cases after `after` in library order, for one model or all, at most `limit`; with
    /// `removed`, also the tombstones of jobs that are no longer cases.
    fn cases(
        &self,
        model: Option<&str>,
        after: u64,
        limit: u64,
        removed: bool,
    ) -> Result<Vec<Case>, StorageError>;
    /// A model's field tips document.
    fn tips_doc(&self, model: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// A report download link by the hash of its token.
    fn report_link(&self, token_hash: &[u8]) -> Result<Option<ReportLink>, StorageError>;
}

/// Writes inside one transaction.
pub trait WriteTx: ReadTx {
    /// Stores a job's document and projection and appends its new changes to the history.
    fn put_job(
        &mut self,
        job: &StoredJob,
        changes: &[NewChange],
        now: Millis,
    ) -> Result<(), StorageError>;
    /// Appends a scope event.
    fn record_scope(
        &mut self,
        job_id: &str,
        user: &str,
        kind: EventKind,
        now: Millis,
    ) -> Result<(), StorageError>;
    /// Creates or updates a device.
    fn put_device(&mut self, device: &DeviceRecord) -> Result<(), StorageError>;
    /// Records that `actor` belongs to `device_id` (the first device seen with it keeps it).
    fn record_actor(&mut self, actor: &[u8], device_id: &str) -> Result<(), StorageError>;
    /// Creates or updates a user.
    fn put_user(&mut self, user: &User) -> Result<(), StorageError>;
    /// Sets a user's password hash (PHC string) and ends the user's sessions.
    fn set_password_hash(&mut self, user_id: &str, hash: &str) -> Result<(), StorageError>;
    /// Stores a session under its token's hash.
    fn put_session(&mut self, token_hash: &[u8], session: &Session) -> Result<(), StorageError>;
    /// Ends a session.
    fn delete_session(&mut self, token_hash: &[u8]) -> Result<(), StorageError>;
    /// Stores an enrollment code under its hash.
    fn put_enrollment_code(
        &mut self,
        code_hash: &[u8],
        code: &EnrollmentCode,
    ) -> Result<(), StorageError>;
    /// Marks a code used; false when it was already used (or does not exist).
    fn use_enrollment_code(&mut self, code_hash: &[u8], now: Millis) -> Result<bool, StorageError>;
    /// Creates or replaces a device's credential (re-enrolling a device replaces its token and
    /// lifts a revocation; a flag for an admin stays).
    fn put_credential(
        &mut self,
        token_hash: &[u8],
        credential: &Credential,
    ) -> Result<(), StorageError>;
    /// Revokes a device's credential at once; false when there is no such device.
    fn revoke_device(&mut self, device_id: &str, now: Millis) -> Result<bool, StorageError>;
    /// Flags a device for an admin (first flag time kept).
    fn flag_device(&mut self, device_id: &str, now: Millis) -> Result<(), StorageError>;
    /// Appends to the audit trail (the entry's `id` is ignored).
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StorageError>;
    /// Creates or replaces a job's service facts.
    fn put_job_facts(&mut self, facts: &JobFacts) -> Result<(), StorageError>;
    /// Stores a reminder unless its job's `rule` already fired; returns it with its id when
    /// it is new.
    fn add_reminder(&mut self, reminder: &Reminder) -> Result<Option<Reminder>, StorageError>;
    /// Acknowledges a reminder; false when there is no such reminder.
    fn acknowledge_reminder(&mut self, id: u64, now: Millis) -> Result<bool, StorageError>;
    /// Records an upload under way (or replaces its declared size and type).
    fn put_upload(&mut self, upload: &PendingUpload) -> Result<(), StorageError>;
    /// Records a verified blob and ends its upload.
    fn finish_upload(&mut self, blob: &BlobRecord) -> Result<(), StorageError>;
    /// Forgets an upload whose bytes were discarded.
    fn discard_upload(&mut self, sha256: &str) -> Result<(), StorageError>;
    /// Records that a held blob belongs to a job.
    fn link_job_blob(&mut self, job_id: &str, sha256: &str) -> Result<(), StorageError>;
    /// Publishes a manual version.
    fn put_manual(&mut self, manual: &Manual) -> Result<(), StorageError>;
    /// Records a job's product model and its case (none: the job is not a case, and a case it
    /// was becomes a tombstone).
    fn put_job_product(
        &mut self,
        job_id: &str,
        model: &str,
        case: Option<&Case>,
    ) -> Result<(), StorageError>;
    /// Stores a model's field tips document.
    fn put_tips_doc(&mut self, model: &str, doc: &[u8]) -> Result<(), StorageError>;
    /// Stores a report download link by the hash of its token.
    fn put_report_link(&mut self, token_hash: &[u8], link: &ReportLink)
    -> Result<(), StorageError>;
}

/// A storage backend.
pub trait Storage: Send + Sync + 'static {
    /// Runs `f` in a read transaction.
    fn read_tx(
        &self,
        f: &mut dyn FnMut(&dyn ReadTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// Runs `f` in a write transaction, committed when `f` returns `Ok` and rolled back
    /// otherwise.
    fn write_tx(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
}

/// Runs `f` in a read transaction and returns its value.
pub fn read<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce(&dyn ReadTx) -> Result<T, E>,
) -> Result<T, E> {
    let mut f = Some(f);
    let mut out = None;
    let result = storage.read_tx(&mut |tx| {
        let f = f.take().ok_or(StorageError::Aborted)?;
        keep(&mut out, f(tx))
    });
    finish(out, result)
}

/// Runs `f` in a write transaction and returns its value; an error from `f` rolls back.
pub fn write<T, E: From<StorageError>>(
    storage: &dyn Storage,
    f: impl FnOnce(&mut dyn WriteTx) -> Result<T, E>,
) -> Result<T, E> {
    let mut f = Some(f);
    let mut out = None;
    let result = storage.write_tx(&mut |tx| {
        let f = f.take().ok_or(StorageError::Aborted)?;
        keep(&mut out, f(tx))
    });
    finish(out, result)
}

/// Keeps the closure's result for the caller; a failed closure tells the backend to roll back.
fn keep<T, E>(out: &mut Option<Result<T, E>>, value: Result<T, E>) -> Result<(), StorageError> {
    let failed = value.is_err();
    *out = Some(value);
    if failed {
        Err(StorageError::Aborted)
    } else {
        Ok(())
    }
}

/// The closure's own error wins over the `Aborted` it caused; otherwise the backend's result.
fn finish<T, E: From<StorageError>>(
    out: Option<Result<T, E>>,
    result: Result<(), StorageError>,
) -> Result<T, E> {
    match (out, result) {
        (Some(Err(e)), _) => Err(e),
        (_, Err(e)) => Err(e.into()),
        (Some(Ok(value)), Ok(())) => Ok(value),
        (None, Ok(())) => Err(StorageError::Aborted.into()),
    }
}
