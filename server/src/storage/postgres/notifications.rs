//! PostgreSQL for the notification outbox.

use ::postgres::Row;

use super::{Tx, to_i64, to_u64};
use crate::storage::StorageError;
use crate::storage::notifications::{
    Delivery, DeliveryStatus, NotificationStore, NotificationStoreMut, StoredNotification,
};

/// The notification outbox: SQLite's migration 14. Ids sort bytewise (`COLLATE "C"`).
pub(super) const SCHEMA: &str = r#"
    CREATE TABLE notifications (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        notification_id TEXT COLLATE "C" NOT NULL UNIQUE,
        job_id TEXT COLLATE "C" NOT NULL,
        event TEXT NOT NULL,
        dedup_key TEXT COLLATE "C" NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        fanned_out BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX notifications_by_job ON notifications(job_id, seq);
    CREATE INDEX notifications_new ON notifications(seq) WHERE fanned_out = 0;
    CREATE TABLE deliveries (
        notification_id TEXT COLLATE "C" NOT NULL REFERENCES notifications(notification_id),
        channel TEXT COLLATE "C" NOT NULL,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_at BIGINT,
        last_error TEXT NOT NULL DEFAULT '',
        delivered_at BIGINT,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (notification_id, channel)
    );
    CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
"#;

const NOTIFICATION_COLUMNS: &str =
    "n.notification_id, n.job_id, n.event, n.dedup_key, n.payload, n.created_at, n.expires_at";
const DELIVERY_COLUMNS: &str = "d.notification_id, d.channel, d.recipient, d.status, d.attempts,
     d.next_attempt_at, d.last_error, d.delivered_at";

fn notification(row: &Row, at: usize) -> Result<StoredNotification, StorageError> {
    Ok(StoredNotification {
        id: row.try_get(at)?,
        job_id: row.try_get(at + 1)?,
        event: row.try_get(at + 2)?,
        key: row.try_get(at + 3)?,
        payload: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
        expires_at: row.try_get(at + 6)?,
    })
}

fn delivery(row: &Row) -> Result<Delivery, StorageError> {
    Ok(Delivery {
        notification_id: row.try_get(0)?,
        channel: row.try_get(1)?,
        recipient: row.try_get(2)?,
        status: DeliveryStatus::parse(row.try_get(3)?)?,
        attempts: u32::try_from(to_u64(row.try_get(4)?)).unwrap_or(u32::MAX),
        next_attempt_at: row.try_get(5)?,
        last_error: row.try_get(6)?,
        delivered_at: row.try_get(7)?,
    })
}

impl NotificationStore for Tx<'_> {
    fn job_notifications(&self, job_id: &str) -> Result<Vec<StoredNotification>, StorageError> {
        let rows = self.query(
            &format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                 WHERE n.job_id = $1 ORDER BY n.seq"
            ),
            &[&job_id],
        )?;
        rows.iter().map(|r| notification(r, 0)).collect()
    }

    fn job_deliveries(&self, job_id: &str) -> Result<Vec<Delivery>, StorageError> {
        let rows = self.query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries d
                 JOIN notifications n ON n.notification_id = d.notification_id
                 WHERE n.job_id = $1 ORDER BY n.seq, d.channel"
            ),
            &[&job_id],
        )?;
        rows.iter().map(delivery).collect()
    }

    fn delivery(
        &self,
        notification_id: &str,
        channel: &str,
    ) -> Result<Option<Delivery>, StorageError> {
        let row = self.query_opt(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries d
                 WHERE d.notification_id = $1 AND d.channel = $2"
            ),
            &[&notification_id, &channel],
        )?;
        row.as_ref().map(delivery).transpose()
    }

    fn next_outbox_work(&self) -> Result<Option<i64>, StorageError> {
        let waiting: bool = self
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM notifications WHERE fanned_out = 0)",
                &[],
            )?
            .try_get(0)?;
        if waiting {
            return Ok(Some(0));
        }
        Ok(self
            .query_one(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'",
                &[],
            )?
            .try_get(0)?)
    }
}

impl NotificationStoreMut for Tx<'_> {
    fn enqueue_notification(
        &mut self,
        notification: &StoredNotification,
    ) -> Result<bool, StorageError> {
        let stored = self.execute(
            "INSERT INTO notifications
               (notification_id, job_id, event, dedup_key, payload, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING",
            &[
                &notification.id,
                &notification.job_id,
                &notification.event,
                &notification.key,
                &notification.payload,
                &notification.created_at,
                &notification.expires_at,
            ],
        )?;
        Ok(stored == 1)
    }

    fn take_new_notifications(
        &mut self,
        limit: usize,
    ) -> Result<Vec<StoredNotification>, StorageError> {
        let rows = self.query(
            &format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                 WHERE n.fanned_out = 0 ORDER BY n.seq LIMIT $1"
            ),
            &[&to_i64(limit as u64)],
        )?;
        let taken = rows
            .iter()
            .map(|r| notification(r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        for n in &taken {
            self.execute(
                "UPDATE notifications SET fanned_out = 1 WHERE notification_id = $1",
                &[&n.id],
            )?;
        }
        Ok(taken)
    }

    fn due_deliveries(
        &mut self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(Delivery, StoredNotification)>, StorageError> {
        let rows = self.query(
            &format!(
                "SELECT {DELIVERY_COLUMNS}, {NOTIFICATION_COLUMNS} FROM deliveries d
                 JOIN notifications n ON n.notification_id = d.notification_id
                 WHERE d.status = 'pending' AND d.next_attempt_at <= $1
                 ORDER BY d.next_attempt_at, n.seq, d.channel LIMIT $2"
            ),
            &[&now, &to_i64(limit as u64)],
        )?;
        rows.iter()
            .map(|r| Ok((delivery(r)?, notification(r, 8)?)))
            .collect()
    }

    fn put_delivery(&mut self, delivery: &Delivery, now: i64) -> Result<(), StorageError> {
        self.execute(
            "INSERT INTO deliveries (notification_id, channel, recipient, status, attempts,
               next_attempt_at, last_error, delivered_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (notification_id, channel) DO UPDATE SET
               recipient = excluded.recipient, status = excluded.status,
               attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
               last_error = excluded.last_error, delivered_at = excluded.delivered_at,
               updated_at = excluded.updated_at",
            &[
                &delivery.notification_id,
                &delivery.channel,
                &delivery.recipient,
                &delivery.status.as_str(),
                &i64::from(delivery.attempts),
                &delivery.next_attempt_at,
                &delivery.last_error,
                &delivery.delivered_at,
                &now,
            ],
        )?;
        Ok(())
    }

    fn supersede_notifications(
        &mut self,
        job_id: &str,
        events: &[&str],
        now: i64,
    ) -> Result<(), StorageError> {
        for event in events {
            self.execute(
                "UPDATE notifications SET expires_at = $3
                 WHERE job_id = $1 AND event = $2 AND expires_at > $3",
                &[&job_id, event, &now],
            )?;
        }
        Ok(())
    }
}
