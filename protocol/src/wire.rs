//! The sync wire messages, version 1. `docs/sync-protocol.md` is the contract; this module is its
//! reference implementation.
//!
//! A message is one CBOR map (RFC 8949) sent as the body of `POST /v1/sync`, gzip-compressed by
//! HTTP content coding. Byte strings (Automerge changes, documents, sync messages, actor ids) are
//! CBOR byte strings, not base64. Every message carries `v`, the protocol version; a peer that
//! receives a version it does not speak rejects the message and says which versions it speaks.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The media type of sync message bodies.
pub const CONTENT_TYPE: &str = "application/cbor";

/// A device's half of a sync round: what it has for the server, and where it is in the server's
/// history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncRequest {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The device's id, stable per app install.
    pub device: String,
    /// The installer's user id.
    pub user: String,
    /// The device's Automerge actor id (16 bytes).
    pub actor: ByteBuf,
    /// The last server cursor this device applied; 0 for a device that holds nothing. Sending
    /// it acknowledges the response that carried it.
    pub cursor: u64,
    /// Local changes the server has not acknowledged, grouped by job.
    #[serde(default)]
    pub push: Vec<JobChanges>,
    /// Automerge sync messages for jobs in fallback (see [`SyncResponse::resync`]).
    #[serde(default)]
    pub resync: Vec<ResyncMessage>,
    /// How the device is doing, for the office's fleet view. Omitted by older devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<DeviceReport>,
    /// Reminders (by id) the installer acknowledged on the phone, sent until the server no
    /// longer lists them as open. Omitted when none (and by older devices).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledged: Vec<u64>,
    /// The `token` of the customer cards the device holds ([`CustomerCards`]), exactly as
    /// received. Omitted when it holds none (and by older devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers_token: Option<String>,
}

/// A device's account of itself, sent with its syncs (`docs/sync-protocol.md`, "Device
/// reports").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeviceReport {
    /// The app's version, as the app states it.
    #[serde(default)]
    pub app_version: String,
    /// The phone library's version.
    #[serde(default)]
    pub library_version: String,
    /// The sync protocol version the library speaks.
    #[serde(default)]
    pub protocol_version: u32,
    /// The phone's clock when it sent the request (ms since the Unix epoch): the server compares
    /// it with its own.
    #[serde(default)]
    pub device_time: i64,
    /// Changes waiting in the outbox.
    #[serde(default)]
    pub outbox_depth: u64,
    /// When the oldest of them was made (phone clock).
    #[serde(default)]
    pub oldest_outbox_at: Option<i64>,
    /// Changes the server refused, parked on the phone.
    #[serde(default)]
    pub parked: u64,
    /// Bytes of captured media not yet uploaded.
    #[serde(default)]
    pub pending_media_bytes: u64,
    /// Free storage on the phone, when the app reports it.
    #[serde(default)]
    pub free_storage_bytes: Option<u64>,
    /// The last error the phone saw, if any since its last successful sync.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Warnings and errors the phone logged since its last report, oldest first (at most
    /// [`MAX_REPORTED_LOG`]).
    #[serde(default)]
    pub log: Vec<LogEntry>,
}

/// The most log entries one report carries.
pub const MAX_REPORTED_LOG: usize = 20;
/// The longest log message, in characters.
pub const MAX_LOG_MESSAGE: usize = 500;

/// One warning or error a phone logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LogEntry {
    /// When (phone clock, ms since the Unix epoch).
    pub at: i64,
    /// `warn` or `error`.
    pub level: String,
    /// What happened.
    pub message: String,
}

/// Automerge changes for one job, each in Automerge's binary change format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JobChanges {
    /// The job's id.
    pub job: String,
    /// The changes, in causal order.
    pub changes: Vec<ByteBuf>,
}

/// One Automerge sync protocol message for one job, used only in the fallback path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ResyncMessage {
    /// The job's id.
    pub job: String,
    /// An encoded `automerge::sync::Message`.
    pub message: ByteBuf,
}

/// A whole job document, for a job that entered the device's scope or after a reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JobDocument {
    /// The job's id.
    pub job: String,
    /// The document, as produced by `Automerge::save`.
    pub doc: ByteBuf,
}

/// Why the server refused a job's pushed changes. The device records the refusal with its reason
/// and moves on: a refusal never blocks the changes behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Refusal {
    /// The job's id.
    pub job: String,
    /// A stable machine-readable code, e.g. `unknown_job`, `out_of_scope`.
    pub code: String,
    /// A human-readable explanation.
    pub reason: String,
}

/// The server's half of a sync round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncResponse {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// Identifies the server's database; a device that sees it change resets its cursor.
    pub server: String,
    /// The cursor to send next time. Everything up to it that concerns the device is in this
    /// response (or an earlier one).
    pub cursor: u64,
    /// More is waiting: the device should sync again at once with the new cursor.
    #[serde(default)]
    pub more: bool,
    /// The server cannot trust the device's cursor (one side lost state): the response carries
    /// every job in scope as a whole document, and the device runs the fallback for every job it
    /// holds.
    #[serde(default)]
    pub reset: bool,
    /// Jobs whose pushed changes are durably stored.
    #[serde(default)]
    pub accepted: Vec<String>,
    /// Jobs whose pushed changes were refused, with the reason.
    #[serde(default)]
    pub refused: Vec<Refusal>,
    /// Jobs whose pushed changes depend on history the server does not have; the device
    /// switches these jobs to the fallback (Automerge sync messages).
    #[serde(default)]
    pub resync_needed: Vec<String>,
    /// Changes to jobs the device holds, made elsewhere since its cursor.
    #[serde(default)]
    pub changes: Vec<JobChanges>,
    /// Whole documents for jobs that entered the device's scope.
    #[serde(default)]
    pub documents: Vec<JobDocument>,
    /// Jobs that left the device's scope (reassigned, cancelled for it).
    #[serde(default)]
    pub left: Vec<String>,
    /// The server's answers in the fallback path.
    #[serde(default)]
    pub resync: Vec<ResyncMessage>,
    /// Pushed changes that broke a field rule: they were accepted into history and the server
    /// wrote a compensating change (which arrives in `changes`). Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ViolationReport>,
    /// The organisation's offline lease for devices (docs/sync-protocol.md, "Offline lease").
    /// Omitted by servers that have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// The organisation's time zone, an IANA name such as `Asia/Shanghai`: the phone shows the
    /// times of its service reports in it. Omitted by servers that announce none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Every open reminder addressed to the device's installer, whole, on the last page of a
    /// round (`more` false); the device keeps exactly these (and its own acknowledgements not
    /// yet listed as done). Omitted on other pages and by older servers: the device keeps what
    /// it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<Vec<PhoneReminder>>,
    /// The customers of the jobs the device holds, with their products and past jobs, on the
    /// last page of a round when the server looked at them (see [`CustomerCards`]). Omitted
    /// when it did not look (and by older servers): the device keeps what it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers: Option<CustomerCards>,
}

/// The customer cards of a device: one for every customer of a job in its scope.
///
/// The server looks at them when the device holds none, when the device's scope changed since
/// its `token` was issued, and at least every 10 minutes otherwise; when what it finds equals
/// what the token describes, it answers `unchanged` with no cards, and the device keeps its
/// cards with the new token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CustomerCards {
    /// What the device sends back as `customers_token`: opaque, at most 200 bytes.
    pub token: String,
    /// The device's cards are current: keep them (`cards` is empty).
    pub unchanged: bool,
    /// Every card, whole, by customer id; the device keeps exactly these.
    pub cards: Vec<CustomerCard>,
}

/// What the installer can know about a customer on site, offline: who they are, what they own
/// and under which warranty, and what was done for them before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CustomerCard {
    /// The customer's record id (the `customer.id` of their jobs).
    pub id: String,
    /// The ids of duplicate records merged into this one: jobs may still carry them.
    pub merged: Vec<String>,
    /// Display name.
    pub name: String,
    /// Service tier: `standard` or `vip`.
    pub tier: String,
    /// Phone numbers, the most recent first.
    pub phones: Vec<String>,
    /// The sites work was done at, as one line each, the most recent first.
    pub sites: Vec<String>,
    /// The products installed or serviced, with their warranties.
    pub products: Vec<CardProduct>,
    /// Their newest jobs (which include the phone's own unless the customer had
    /// [`MAX_CARD_JOBS`] calls since), the newest call first.
    pub jobs: Vec<CardJob>,
}

/// The most past jobs a customer card lists.
pub const MAX_CARD_JOBS: usize = 20;

/// A product a customer owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CardProduct {
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// When it was installed (ms since the Unix epoch), if known.
    pub install_date: Option<i64>,
    /// The purchase record's reference.
    pub purchase_ref: String,
    /// When its warranty ends (ms since the Unix epoch), if known.
    pub warranty_end: Option<i64>,
}

/// One job done (or under way) for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CardJob {
    /// The job's id.
    pub job: String,
    /// Its kind, as the job document writes it (`repair`, `installation`, …).
    pub kind: String,
    /// Its status, as the job document writes it (`completed`, `closed`, …).
    pub status: String,
    /// When the call came in (ms since the Unix epoch).
    pub call_received_at: i64,
    /// When the work was completed, once it was.
    pub completed_at: Option<i64>,
    /// The installer's user id, once assigned (empty before).
    pub engineer: String,
    /// The site, as one line.
    pub site: String,
    /// The product's model.
    pub model: String,
    /// The product's serial number.
    pub serial: String,
    /// The problem category.
    pub category: String,
    /// What the customer reported.
    pub description: String,
    /// The cause found.
    pub cause: String,
    /// The fix applied.
    pub fix: String,
    /// The summary for the customer.
    pub summary: String,
    /// Whether it was fixed on the first visit, once resolved.
    pub first_visit_fixed: Option<bool>,
    /// The rating the customer gave on the installer's phone, if any.
    pub rating: Option<u8>,
}

/// A reminder the escalation ladder sent to an installer, as their phone keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PhoneReminder {
    /// The reminder's id (what the device acknowledges).
    pub id: u64,
    /// The job it is about.
    pub job: String,
    /// The escalation rule that fired it, e.g. `resolve:owner`.
    pub rule: String,
    /// The job's escalation ring when it fired.
    pub ring: u8,
    /// The clock that ran out (`dispatch`, `resolve`, `feedback`, `complaint`, …) or `help`.
    pub clock: String,
    /// What it says (English; apps word it from `rule` and `clock` in their own language).
    pub message: String,
    /// When it fired (ms since the Unix epoch, the server's clock).
    pub created_at: i64,
}

/// How long a device may go without reaching the server, counted on its own clock from its last
/// successful sync: past `lock_after_ms` it locks its store until it reconnects; past
/// `wipe_after_ms` it also deletes what the server already holds (jobs whose work is all
/// uploaded, manuals, cases, uploaded media). Work not yet uploaded is never deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Milliseconds without a successful sync after which the store locks.
    pub lock_after_ms: u64,
    /// Milliseconds without a successful sync after which uploaded data is wiped (at least
    /// `lock_after_ms`).
    pub wipe_after_ms: u64,
}

impl Default for Lease {
    /// 14 days to lock, 30 to wipe.
    fn default() -> Self {
        const DAY_MS: u64 = 24 * 60 * 60 * 1000;
        Lease {
            lock_after_ms: 14 * DAY_MS,
            wipe_after_ms: 30 * DAY_MS,
        }
    }
}

/// A pushed change that broke a field rule (`docs/sync-protocol.md`, "Field rules").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ViolationReport {
    /// The job's id.
    pub job: String,
    /// The offending change's hash (32 bytes).
    pub change: ByteBuf,
    /// The field it touched, as the field-rules table names it.
    pub field: String,
    /// Why it was not allowed.
    pub reason: String,
}

impl SyncResponse {
    /// Whether the response carries anything the device must apply (and so acknowledge).
    pub fn has_content(&self) -> bool {
        !(self.changes.is_empty()
            && self.documents.is_empty()
            && self.left.is_empty()
            && self.resync.is_empty())
    }
}

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The bytes are not a CBOR map of the expected shape.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// The message is of a protocol version this code does not speak.
    #[error("unsupported protocol version {found}; this peer speaks version {supported}")]
    UnsupportedVersion {
        /// The version in the message.
        found: u64,
        /// The version this code speaks.
        supported: u32,
    },
}

/// Encodes a message as CBOR.
pub fn encode(message: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every message type serializes.
    if let Err(e) = ciborium::into_writer(message, &mut out) {
        unreachable!("encoding a sync message into memory failed: {e}");
    }
    out
}

/// Decodes a message, checking the protocol version before the shape so that a message from a
/// newer peer fails with [`WireError::UnsupportedVersion`] rather than a shape error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let value: ciborium::Value =
        ciborium::from_reader(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    let map = value
        .as_map()
        .ok_or_else(|| WireError::Malformed("the message is not a CBOR map".into()))?;
    let version = map
        .iter()
        .find(|(key, _)| key.as_text() == Some("v"))
        .and_then(|(_, value)| value.as_integer())
        .ok_or_else(|| WireError::Malformed("the message has no protocol version `v`".into()))?;
    let version = u64::try_from(version).unwrap_or(u64::MAX);
    if version != u64::from(PROTOCOL_VERSION) {
        return Err(WireError::UnsupportedVersion {
            found: version,
            supported: PROTOCOL_VERSION,
        });
    }
    value
        .deserialized()
        .map_err(|e| WireError::Malformed(e.to_string()))
}
