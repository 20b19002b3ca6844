//! SQLite for the notification outbox.

use rusqlite::{OptionalExtension, Row, params};

use super::{CachedStatements, Tx, to_i64, to_u64};
use crate::storage::StorageError;
use crate::storage::notifications::{
    Delivery, DeliveryStatus, NotificationStore, NotificationStoreMut, StoredNotification,
};

/// Migration 14: the notification outbox and its deliveries.
pub(super) const MIGRATION: &str = "
    CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY,
        notification_id TEXT NOT NULL UNIQUE,
        job_id TEXT NOT NULL,
        event TEXT NOT NULL,
        dedup_key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        fanned_out INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX notifications_by_job ON notifications(job_id, seq);
    CREATE INDEX notifications_new ON notifications(seq) WHERE fanned_out = 0;
    CREATE TABLE deliveries (
        notification_id TEXT NOT NULL REFERENCES notifications(notification_id),
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER,
        last_error TEXT NOT NULL DEFAULT '',
        delivered_at INTEGER,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (notification_id, channel)
    ) STRICT;
    CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';";

const NOTIFICATION_COLUMNS: &str =
    "n.notification_id, n.job_id, n.event, n.dedup_key, n.payload, n.created_at, n.expires_at";
const DELIVERY_COLUMNS: &str = "d.notification_id, d.channel, d.recipient, d.status, d.attempts,
     d.next_attempt_at, d.last_error, d.delivered_at";

fn notification(row: &Row<'_>, at: usize) -> rusqlite::Result<StoredNotification> {
    Ok(StoredNotification {
        id: row.get(at)?,
        job_id: row.get(at + 1)?,
        event: row.get(at + 2)?,
        key: row.get(at + 3)?,
        payload: row.get(at + 4)?,
        created_at: row.get(at + 5)?,
        expires_at: row.get(at + 6)?,
    })
}

/// A delivery row, with its status still as stored (checked by [`checked`]).
fn delivery(row: &Row<'_>) -> rusqlite::Result<(Delivery, String)> {
    Ok((
        Delivery {
            notification_id: row.get(0)?,
            channel: row.get(1)?,
            recipient: row.get(2)?,
            status: DeliveryStatus::Pending,
            attempts: u32::try_from(to_u64(row.get(4)?)).unwrap_or(u32::MAX),
            next_attempt_at: row.get(5)?,
            last_error: row.get(6)?,
            delivered_at: row.get(7)?,
        },
        row.get(3)?,
    ))
}

fn checked((mut delivery, status): (Delivery, String)) -> Result<Delivery, StorageError> {
    delivery.status = DeliveryStatus::parse(&status)?;
    Ok(delivery)
}

impl NotificationStore for Tx<'_> {
    fn job_notifications(&self, job_id: &str) -> Result<Vec<StoredNotification>, StorageError> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
             WHERE n.job_id = ?1 ORDER BY n.seq"
        ))?;
        let rows = statement.query_map([job_id], |r| notification(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn job_deliveries(&self, job_id: &str) -> Result<Vec<Delivery>, StorageError> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d
             JOIN notifications n ON n.notification_id = d.notification_id
             WHERE n.job_id = ?1 ORDER BY n.seq, d.channel"
        ))?;
        let rows = statement.query_map([job_id], delivery)?;
        rows.map(|row| checked(row?)).collect()
    }

    fn delivery(
        &self,
        notification_id: &str,
        channel: &str,
    ) -> Result<Option<Delivery>, StorageError> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d
             WHERE d.notification_id = ?1 AND d.channel = ?2"
        ))?;
        let row = statement
            .query_row(params![notification_id, channel], delivery)
            .optional()?;
        row.map(checked).transpose()
    }

    fn next_outbox_work(&self) -> Result<Option<i64>, StorageError> {
        let waiting: bool = self.0.query_row_cached(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE fanned_out = 0)",
            [],
            |r| r.get(0),
        )?;
        if waiting {
            return Ok(Some(0));
        }
        Ok(self.0.query_row_cached(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }
}

impl NotificationStoreMut for Tx<'_> {
    fn enqueue_notification(
        &mut self,
        notification: &StoredNotification,
    ) -> Result<bool, StorageError> {
        let stored = self.0.execute_cached(
            "INSERT INTO notifications
               (notification_id, job_id, event, dedup_key, payload, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (dedup_key) DO NOTHING",
            params![
                notification.id,
                notification.job_id,
                notification.event,
                notification.key,
                notification.payload,
                notification.created_at,
                notification.expires_at
            ],
        )?;
        Ok(stored == 1)
    }

    fn take_new_notifications(
        &mut self,
        limit: usize,
    ) -> Result<Vec<StoredNotification>, StorageError> {
        let taken = {
            let mut statement = self.0.prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                 WHERE n.fanned_out = 0 ORDER BY n.seq LIMIT ?1"
            ))?;
            let rows = statement.query_map([to_i64(limit as u64)], |r| notification(r, 0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut mark = self
            .0
            .prepare_cached("UPDATE notifications SET fanned_out = 1 WHERE notification_id = ?1")?;
        for n in &taken {
            mark.execute([&n.id])?;
        }
        Ok(taken)
    }

    fn due_deliveries(
        &mut self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(Delivery, StoredNotification)>, StorageError> {
        let mut statement = self.0.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS}, {NOTIFICATION_COLUMNS} FROM deliveries d
             JOIN notifications n ON n.notification_id = d.notification_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
             ORDER BY d.next_attempt_at, n.seq, d.channel LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![now, to_i64(limit as u64)], |r| {
            Ok((delivery(r)?, notification(r, 8)?))
        })?;
        rows.map(|row| {
            let (d, n) = row?;
            Ok((checked(d)?, n))
        })
        .collect()
    }

    fn put_delivery(&mut self, delivery: &Delivery, now: i64) -> Result<(), StorageError> {
        self.0.execute_cached(
            "INSERT INTO deliveries (notification_id, channel, recipient, status, attempts,
               next_attempt_at, last_error, delivered_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (notification_id, channel) DO UPDATE SET
               recipient = excluded.recipient, status = excluded.status,
               attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
               last_error = excluded.last_error, delivered_at = excluded.delivered_at,
               updated_at = excluded.updated_at",
            params![
                delivery.notification_id,
                delivery.channel,
                delivery.recipient,
                delivery.status.as_str(),
                i64::from(delivery.attempts),
                delivery.next_attempt_at,
                delivery.last_error,
                delivery.delivered_at,
                now
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
        let mut statement = self.0.prepare_cached(
            "UPDATE notifications SET expires_at = ?3
             WHERE job_id = ?1 AND event = ?2 AND expires_at > ?3",
        )?;
        for event in events {
            statement.execute(params![job_id, event, now])?;
        }
        Ok(())
    }
}
