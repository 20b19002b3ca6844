//! Fieldsync's phone library.
//!
//! An installer's jobs live here as Automerge documents in a local SQLite database ([`Store`]);
//! every operation works offline and is durable before it returns. Local changes wait in an
//! outbox until the server acknowledges them. The sync engine ([`SyncSession`]) is sans-IO;
//! [`transport::HttpTransport`] is the only module that talks to the network.

mod customers;
mod db;
mod error;
mod find;
mod knowledge;
mod lease;
mod media;
mod messages;
mod reminders;
pub mod report;
mod report_log;
mod store;
mod sync;
mod tls;
pub mod transport;

pub use error::{Error, Result};
pub use fieldsync_protocol as protocol;
pub use fieldsync_protocol::enrollment::EnrollmentLink;
pub use fieldsync_protocol::wire::{CardJob, CardProduct, CustomerCard};
pub use knowledge::{
    HeldAttachment, HitKind, KnowledgeApplied, ManualView, PreparedKnowledge, SearchHit,
    SnippetPart, StorageUsage, fts_query,
};
pub use lease::LeaseState;
pub use media::{MAX_PHOTO_BYTES, PendingMedia};
pub use messages::locked_message;
pub use reminders::Reminder;
pub use report::Language;
pub use report_log::Severity;
pub use store::{DeviceIdentity, JobQuery, JobSyncState, OutboxStatus, RefusalRecord, Store};
pub use sync::{SyncReport, SyncSession};
pub use tls::ServerTrust;

/// Reads the enrollment link an office's QR code holds (`fieldsync://enroll?server=…&user=…&code=…`):
/// the server to use, the installer it enrolls and the one-time code, for `HttpTransport::enroll`.
/// A text that is not one is [`Error::BadEnrollmentLink`], naming what is wrong.
pub fn parse_enrollment_link(text: &str) -> Result<EnrollmentLink> {
    Ok(EnrollmentLink::parse(text)?)
}
