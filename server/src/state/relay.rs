//! Live events relayed between server nodes through the storage's [`Bulletin`]: a phone
//! connected to one node hears a dispatcher's edit made on another, and every console hears
//! every node's reminders. The messages are JSON, versioned, and small enough for PostgreSQL's
//! `NOTIFY`; a node that cannot read a message (a newer version during a rolling upgrade) logs
//! it and carries on, since a live event is only a nudge.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Live;
use super::live::LiveBus;
use crate::storage::{Bulletin, Reminder};

/// The version of the messages this node writes and reads.
const VERSION: u32 = 1;

/// At most this many users, and this many jobs, per message: ids of a few dozen bytes each
/// keep a message within `NOTIFY`'s 8000 bytes. A larger change goes out as several messages.
const IDS_PER_MESSAGE: usize = 32;

/// One relayed message.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Envelope {
    /// [`VERSION`].
    v: u32,
    #[serde(flatten)]
    event: Relayed,
}

/// A [`Live`] event as it travels between nodes.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Relayed {
    /// [`Live::Changed`].
    Changed {
        users: Vec<String>,
        jobs: Vec<String>,
        cause: Option<String>,
    },
    /// [`Live::Reminder`].
    Reminder { reminder: Reminder },
    /// [`Live::Revoked`].
    Revoked { device: String },
}

/// Posts `event` to the other nodes.
pub(super) fn post(bulletin: &dyn Bulletin, event: &Live) {
    for event in split(event) {
        match serde_json::to_string(&Envelope { v: VERSION, event }) {
            Ok(message) => bulletin.post(message),
            Err(e) => tracing::warn!(error = %e, "a live event could not be relayed"),
        }
    }
}

/// Hands the other nodes' events to this node's listeners from now on.
pub(super) fn listen(bulletin: &dyn Bulletin, live: Arc<LiveBus>) {
    bulletin.listen(Box::new(move |message| match read(message) {
        Some(event) => live.publish(event),
        None => tracing::warn!(%message, "ignored a live event from another node"),
    }));
}

/// `event` as one or more messages, each within [`IDS_PER_MESSAGE`]: every user is told and
/// every job named in one of them.
fn split(event: &Live) -> Vec<Relayed> {
    match event {
        Live::Changed { users, jobs, cause } => {
            let chunks = users.len().max(jobs.len()).div_ceil(IDS_PER_MESSAGE).max(1);
            let part = |ids: &[String], i: usize| {
                ids.chunks(IDS_PER_MESSAGE)
                    .nth(i)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default()
            };
            (0..chunks)
                .map(|i| Relayed::Changed {
                    users: part(users, i),
                    jobs: part(jobs, i),
                    cause: cause.as_deref().map(str::to_owned),
                })
                .collect()
        }
        Live::Reminder(reminder) => vec![Relayed::Reminder {
            reminder: Reminder::clone(reminder),
        }],
        Live::Revoked(device) => vec![Relayed::Revoked {
            device: device.clone(),
        }],
    }
}

/// The event a message carries, if this node reads its version.
fn read(message: &str) -> Option<Live> {
    let envelope: Envelope = serde_json::from_str(message).ok()?;
    if envelope.v != VERSION {
        return None;
    }
    Some(match envelope.event {
        Relayed::Changed { users, jobs, cause } => Live::Changed {
            users: users.into(),
            jobs: jobs.into(),
            cause: cause.map(Arc::from),
        },
        Relayed::Reminder { reminder } => Live::Reminder(Arc::new(reminder)),
        Relayed::Revoked { device } => Live::Revoked(device),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event: &Live) -> Vec<String> {
        split(event)
            .into_iter()
            .map(|event| serde_json::to_string(&Envelope { v: VERSION, event }).expect("json"))
            .collect()
    }

    /// The messages between nodes are a wire format: pinned, so that a change is a decision.
    #[test]
    fn the_messages_are_pinned() {
        let changed = Live::Changed {
            users: vec!["anna".to_owned()].into(),
            jobs: vec!["j1".to_owned()].into(),
            cause: Some(Arc::from("phone-1")),
        };
        assert_eq!(
            message(&changed),
            [r#"{"v":1,"event":"changed","users":["anna"],"jobs":["j1"],"cause":"phone-1"}"#]
        );
        assert_eq!(
            message(&Live::Revoked("phone-1".into())),
            [r#"{"v":1,"event":"revoked","device":"phone-1"}"#]
        );
        let reminder = Reminder {
            id: 7,
            job_id: "j1".into(),
            rule: "resolve:ring2".into(),
            to_user: Some("anna".into()),
            to_role: None,
            ring: 2,
            clock: "resolve".into(),
            message: "Resolution is overdue".into(),
            created_at: 1000,
            acknowledged_at: None,
            acknowledged_by: None,
        };
        let [relayed] = &message(&Live::Reminder(Arc::new(reminder.clone())))[..] else {
            panic!("one message");
        };
        assert_eq!(
            relayed,
            r#"{"v":1,"event":"reminder","reminder":{"id":7,"job_id":"j1","rule":"resolve:ring2","to_user":"anna","to_role":null,"ring":2,"clock":"resolve","message":"Resolution is overdue","created_at":1000,"acknowledged_at":null,"acknowledged_by":null}}"#
        );
        match read(relayed) {
            Some(Live::Reminder(back)) => assert_eq!(*back, reminder),
            other => panic!("{other:?}"),
        }
        // A node that predates `acknowledged_by` is still understood during a rolling upgrade.
        let older = relayed.replace(r#","acknowledged_by":null"#, "");
        match read(&older) {
            Some(Live::Reminder(back)) => assert_eq!(*back, reminder),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_large_change_goes_out_in_parts_that_name_everyone() {
        let ids = |prefix: &str, n: usize| -> Arc<[String]> {
            (0..n).map(|i| format!("{prefix}{i:040}")).collect()
        };
        let event = Live::Changed {
            users: ids("user", 70),
            jobs: ids("job", 5),
            cause: None,
        };
        let messages = message(&event);
        assert_eq!(messages.len(), 3);
        let (mut users, mut jobs) = (Vec::new(), Vec::new());
        for message in &messages {
            assert!(message.len() < 7000, "{} bytes", message.len());
            let Some(Live::Changed {
                users: u, jobs: j, ..
            }) = read(message)
            else {
                panic!("{message}");
            };
            users.extend(u.iter().cloned());
            jobs.extend(j.iter().cloned());
        }
        assert_eq!(users[..], event_ids(&event).0[..]);
        assert_eq!(jobs[..], event_ids(&event).1[..]);
    }

    fn event_ids(event: &Live) -> (Vec<String>, Vec<String>) {
        match event {
            Live::Changed { users, jobs, .. } => (users.to_vec(), jobs.to_vec()),
            _ => (Vec::new(), Vec::new()),
        }
    }

    #[test]
    fn a_message_of_another_version_or_shape_is_ignored() {
        assert!(read(r#"{"v":2,"event":"revoked","device":"d"}"#).is_none());
        assert!(read("not json").is_none());
        assert!(read(r#"{"v":1,"event":"launched"}"#).is_none());
    }
}
