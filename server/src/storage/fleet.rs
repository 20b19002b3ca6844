//! The fleet: what each device last reported about itself, its recent syncs, and the warnings
//! and errors it forwarded.

use fieldsync_protocol::Millis;
use fieldsync_protocol::wire::DeviceReport;
use serde::Serialize;

use super::StorageError;

/// A device's latest report as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredReport {
    /// What the device said.
    #[schema(value_type = Object)]
    pub report: DeviceReport,
    /// When the server received it.
    pub received_at: Millis,
    /// The device's clock minus the server's when it arrived (ms; positive: the phone is ahead).
    pub clock_skew_ms: i64,
}

/// One sync round a device made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncEntry {
    /// When the server answered it.
    pub at: Millis,
    /// Changes the device pushed in it.
    pub pushed: u64,
    /// The device's outbox depth then, if it reported it.
    pub outbox_depth: Option<u64>,
}

/// A warning or error a device forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeviceLogEntry {
    /// When it happened (the device's clock).
    pub at: Millis,
    /// When the server received it.
    pub received_at: Millis,
    /// `warn` or `error`.
    pub level: String,
    /// What happened.
    pub message: String,
}

/// Syncs kept per device; older ones are dropped.
pub const KEPT_SYNCS: u64 = 100;
/// Log entries kept per device; older ones are dropped.
pub const KEPT_LOG: u64 = 200;

/// Reads of the fleet inside one transaction.
pub trait FleetStore {
    /// A device's latest report.
    fn device_report(&self, device_id: &str) -> Result<Option<StoredReport>, StorageError>;
    /// A device's syncs, newest first, at most `limit`.
    fn device_syncs(&self, device_id: &str, limit: u64) -> Result<Vec<SyncEntry>, StorageError>;
    /// A device's forwarded log, newest first, at most `limit`.
    fn device_log(&self, device_id: &str, limit: u64) -> Result<Vec<DeviceLogEntry>, StorageError>;
}

/// Writes of the fleet inside one transaction.
pub trait FleetStoreMut: FleetStore {
    /// Records a sync round (keeping the newest [`KEPT_SYNCS`]) and, when the device sent one,
    /// its report and log (keeping the newest [`KEPT_LOG`] entries).
    fn record_sync(
        &mut self,
        device_id: &str,
        entry: &SyncEntry,
        report: Option<&StoredReport>,
    ) -> Result<(), StorageError>;
}
