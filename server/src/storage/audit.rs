//! The audit trail: every accepted change, compensation, violation, scope move, purge order and
//! flag, with who, from where and when.

use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};

use super::StorageError;

/// What an audit trail entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

/// Reads of this area inside one transaction.
pub trait AuditLog {
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
}

/// Writes of this area inside one transaction.
pub trait AuditLogMut: AuditLog {
    /// Appends to the audit trail (the entry's `id` is ignored).
    fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StorageError>;
}
