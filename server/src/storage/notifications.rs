//! The notification outbox: what the customer is to be told (written in the same transaction
//! as the change it tells of) and each channel's delivery of it, with its attempts. The
//! message itself is the domain's versioned JSON, stored as it was written.

use fieldsync_protocol::Millis;
use serde::{Deserialize, Serialize};

use super::StorageError;

/// Something to tell the customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    /// Its id (a UUID), which every delivery of it carries so that receivers can drop repeats.
    pub id: String,
    /// The job it is about.
    pub job_id: String,
    /// What happened (`appointment_booked`, …; the domain's names).
    pub event: String,
    /// What makes it unique: enqueuing the same key again stores nothing.
    pub key: String,
    /// What to tell, as the domain's versioned JSON.
    pub payload: String,
    /// When it was enqueued.
    pub created_at: Millis,
    /// After this it is no longer worth telling: undelivered, it expires.
    pub expires_at: Millis,
}

/// Where one channel's delivery of a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet: tried at `next_attempt_at`.
    #[default]
    Pending,
    /// The channel took it.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
    /// It was no longer worth telling before it could be delivered.
    Expired,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Expired,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Expired => "expired",
        }
    }

    /// The status a stored name names.
    pub fn parse(name: &str) -> Result<Self, StorageError> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown delivery status `{name}`")))
    }
}

/// One channel's delivery of one notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The notification.
    pub notification_id: String,
    /// The channel (`email`, `webhook`, `log`).
    pub channel: String,
    /// Who it goes to, as the channel names them (an e-mail address, a phone number).
    pub recipient: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made (or under way).
    pub attempts: u32,
    /// When it is tried next (while pending; during an attempt, when the attempt is given up
    /// for lost and another node may try).
    pub next_attempt_at: Option<Millis>,
    /// Why the last attempt failed (empty when none did).
    pub last_error: String,
    /// When the channel took it.
    pub delivered_at: Option<Millis>,
}

/// Reads of the outbox inside one transaction.
pub trait NotificationStore {
    /// The notifications about `job_id`, in the order they were enqueued.
    fn job_notifications(&self, job_id: &str) -> Result<Vec<StoredNotification>, StorageError>;
    /// Their deliveries, in the order of their notifications, then by channel.
    fn job_deliveries(&self, job_id: &str) -> Result<Vec<Delivery>, StorageError>;
    /// One channel's delivery of a notification, as stored now.
    fn delivery(
        &self,
        notification_id: &str,
        channel: &str,
    ) -> Result<Option<Delivery>, StorageError>;
    /// When the outbox has work next: `Some(0)` while a notification awaits its deliveries,
    /// else the earliest pending delivery's next attempt; `None` when there is nothing to do.
    fn next_outbox_work(&self) -> Result<Option<Millis>, StorageError>;
}

/// Writes to the outbox inside one transaction.
pub trait NotificationStoreMut {
    /// Stores `notification` unless one with its key exists; returns whether it was stored.
    fn enqueue_notification(
        &mut self,
        notification: &StoredNotification,
    ) -> Result<bool, StorageError>;
    /// Up to `limit` notifications that have no deliveries yet, in the order they were
    /// enqueued, marked as having them (the caller stores them in the same transaction).
    fn take_new_notifications(
        &mut self,
        limit: usize,
    ) -> Result<Vec<StoredNotification>, StorageError>;
    /// Up to `limit` pending deliveries due at `now`, soonest first, with their notifications.
    fn due_deliveries(
        &mut self,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<(Delivery, StoredNotification)>, StorageError>;
    /// Stores `delivery` (new, or replacing the one of its notification and channel).
    fn put_delivery(&mut self, delivery: &Delivery, now: Millis) -> Result<(), StorageError>;
    /// Ends the relevance of `job_id`'s notifications of these `events` at `now` (news that a
    /// newer notification overtakes): what is still undelivered expires at its next attempt.
    fn supersede_notifications(
        &mut self,
        job_id: &str,
        events: &[&str],
        now: Millis,
    ) -> Result<(), StorageError>;
}
