//! The fleet as the office sees it: every enrolled device with what it last reported, ranked by
//! trouble (work stuck in its outbox, not seen for long, a wrong clock, broken rules, a flag),
//! and one device's recent syncs and the warnings and errors it forwarded.

use fieldsync_protocol::Millis;
use fieldsync_protocol::wire::{MAX_LOG_MESSAGE, MAX_REPORTED_LOG, SyncRequest};
use serde::Serialize;

use crate::domain::DomainError;
use crate::domain::error::Thing;
use crate::storage::fleet::{DeviceLogEntry, StoredReport, SyncEntry};
use crate::storage::{Credential, ReadTx, WriteTx};

const MINUTE: Millis = 60_000;
/// The longest version string kept.
const MAX_VERSION: usize = 64;
const HOUR: Millis = 60 * MINUTE;

/// When a device is in trouble, and how much it matters (higher first).
const TROUBLES: &[(Trouble, u32)] = &[
    (Trouble::StuckOutbox, 5),
    (Trouble::Flagged, 4),
    (Trouble::NotSeen, 3),
    (Trouble::ClockSkew, 2),
    (Trouble::Violations, 2),
    (Trouble::Parked, 1),
];

/// What can be wrong with a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trouble {
    /// Its oldest unsent change is over an hour old.
    StuckOutbox,
    /// Flagged for an admin (repeated rule violations).
    Flagged,
    /// Not seen for a day.
    NotSeen,
    /// Its clock is more than five minutes off the server's.
    ClockSkew,
    /// It sent changes that broke field rules.
    Violations,
    /// The server refused changes it holds (parked on the phone).
    Parked,
}

/// One device in the fleet view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeviceOverview {
    /// Its credential (user, enrollment, revocation, flag).
    #[serde(flatten)]
    pub credential: Credential,
    /// When it last synced (server clock).
    pub last_seen: Option<Millis>,
    /// Changes from it that broke field rules.
    pub violations: u64,
    /// What it last reported about itself.
    pub report: Option<StoredReport>,
    /// What is wrong with it, worst first.
    pub troubles: Vec<Trouble>,
    /// How much trouble it is in (the sum of its troubles' weights).
    pub trouble_score: u32,
}

/// One device in full: its overview, recent syncs and forwarded log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeviceDetail {
    /// The overview.
    #[serde(flatten)]
    pub overview: DeviceOverview,
    /// Its syncs, newest first.
    pub syncs: Vec<SyncEntry>,
    /// The warnings and errors it forwarded, newest first.
    pub log: Vec<DeviceLogEntry>,
}

/// Records a sync round and the report it carried (sanitised: at most [`MAX_REPORTED_LOG`]
/// entries of at most [`MAX_LOG_MESSAGE`] characters, levels `warn` or `error`).
pub(crate) fn record_round(
    tx: &mut dyn WriteTx,
    request: &SyncRequest,
    now: Millis,
) -> Result<(), DomainError> {
    let pushed = request
        .push
        .iter()
        .map(|job| job.changes.len() as u64)
        .sum();
    let stored = request.report.as_ref().map(|report| {
        let mut report = report.clone();
        report.log.truncate(MAX_REPORTED_LOG);
        for line in &mut report.log {
            line.message = line.message.chars().take(MAX_LOG_MESSAGE).collect();
            if line.level != "warn" && line.level != "error" {
                line.level = "warn".into();
            }
        }
        if let Some(error) = &mut report.last_error {
            *error = error.chars().take(MAX_LOG_MESSAGE).collect();
        }
        for version in [&mut report.app_version, &mut report.library_version] {
            *version = version.chars().take(MAX_VERSION).collect();
        }
        StoredReport {
            clock_skew_ms: report.device_time.saturating_sub(now),
            report,
            received_at: now,
        }
    });
    let entry = SyncEntry {
        at: now,
        pushed,
        outbox_depth: stored.as_ref().map(|s| s.report.outbox_depth),
    };
    tx.record_sync(&request.device, &entry, stored.as_ref())?;
    Ok(())
}

fn overview(
    tx: &dyn ReadTx,
    credential: Credential,
    now: Millis,
) -> Result<DeviceOverview, DomainError> {
    let last_seen = tx.device(&credential.device_id)?.map(|d| d.last_seen);
    let violations = tx.violation_count(&credential.device_id)?;
    let report = tx.device_report(&credential.device_id)?;
    let revoked = credential.revoked_at.is_some();
    let holds = |trouble: Trouble| -> bool {
        match trouble {
            Trouble::StuckOutbox => report.as_ref().is_some_and(|r| {
                // How old the oldest change is, on the phone's clock at its report.
                r.report
                    .oldest_outbox_at
                    .is_some_and(|oldest| r.report.device_time.saturating_sub(oldest) > HOUR)
            }),
            Trouble::Flagged => credential.flagged_at.is_some(),
            Trouble::NotSeen => !revoked && last_seen.is_none_or(|seen| now - seen > 24 * HOUR),
            Trouble::ClockSkew => report
                .as_ref()
                .is_some_and(|r| r.clock_skew_ms.unsigned_abs() > (5 * MINUTE).unsigned_abs()),
            Trouble::Violations => violations > 0,
            Trouble::Parked => report.as_ref().is_some_and(|r| r.report.parked > 0),
        }
    };
    let troubles: Vec<Trouble> = TROUBLES
        .iter()
        .filter(|(trouble, _)| holds(*trouble))
        .map(|(trouble, _)| *trouble)
        .collect();
    let trouble_score = TROUBLES
        .iter()
        .filter(|(trouble, _)| troubles.contains(trouble))
        .map(|(_, weight)| weight)
        .sum();
    Ok(DeviceOverview {
        credential,
        last_seen,
        violations,
        report,
        troubles,
        trouble_score,
    })
}

/// Every enrolled device, most trouble first, then longest unseen.
pub fn fleet(tx: &dyn ReadTx, now: Millis) -> Result<Vec<DeviceOverview>, DomainError> {
    let mut devices = tx
        .credentials()?
        .into_iter()
        .map(|credential| overview(tx, credential, now))
        .collect::<Result<Vec<_>, _>>()?;
    devices.sort_by(|a, b| {
        b.trouble_score
            .cmp(&a.trouble_score)
            .then(a.last_seen.cmp(&b.last_seen))
            .then(a.credential.device_id.cmp(&b.credential.device_id))
    });
    Ok(devices)
}

/// One device in full.
pub fn device(tx: &dyn ReadTx, device_id: &str, now: Millis) -> Result<DeviceDetail, DomainError> {
    let credential = tx
        .credential(device_id)?
        .ok_or_else(|| DomainError::not_found(Thing::Device, device_id))?;
    Ok(DeviceDetail {
        overview: overview(tx, credential, now)?,
        syncs: tx.device_syncs(device_id, 50)?,
        log: tx.device_log(device_id, 100)?,
    })
}
