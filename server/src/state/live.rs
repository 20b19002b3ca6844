//! The live event bus: an office stream hears every event, a phone's stream only those of its
//! user (and every revocation, which ends the revoked device's streams).
//!
//! One channel for everyone woke every open stream on every edit anywhere in the fleet, and all
//! but one or two of the phones' streams dropped it again: with a thousand phones online, a
//! thousand wake-ups per edit. Each user has a channel of their own instead, made when their
//! first stream opens and dropped at the first event for them (or the first revocation) after
//! their last stream closed; a user who goes quiet keeps an idle channel, one per enrolled user
//! at most.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use super::Live;

/// Events an office stream may fall behind by before it misses some (it then refreshes).
const OFFICE_BACKLOG: usize = 1024;

/// Events a phone's stream may fall behind by before it misses some (it then ends, and the
/// phone reconnects). One user's events are few (jobs leaving their phone together are one
/// event); every channel holds this many slots.
const USER_BACKLOG: usize = 64;

/// Where live events go; see the module documentation.
pub struct LiveBus {
    office: broadcast::Sender<Live>,
    users: Mutex<HashMap<String, broadcast::Sender<Live>>>,
}

impl Default for LiveBus {
    fn default() -> Self {
        LiveBus {
            office: broadcast::channel(OFFICE_BACKLOG).0,
            users: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for LiveBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBus")
            .field("users", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl LiveBus {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Live>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `event` to the office's streams and to the streams of the users it concerns.
    pub fn publish(&self, event: Live) {
        {
            let mut users = self.lock();
            match &event {
                Live::Changed {
                    users: concerned, ..
                } => {
                    // A cancelled job names its installer twice (holder and the one who left).
                    for (i, user) in concerned.iter().enumerate() {
                        if !concerned[..i].contains(user) {
                            tell(&mut users, user, &event);
                        }
                    }
                }
                Live::Reminder(reminder) => {
                    if let Some(user) = &reminder.to_user {
                        tell(&mut users, user, &event);
                    }
                }
                // Rare, and the revoked device's user is not named: every phone's stream
                // hears it and only the revoked device's ends.
                Live::Revoked(_) => users.retain(|_, channel| channel.send(event.clone()).is_ok()),
            }
        }
        // No office stream open is fine.
        let _ = self.office.send(event);
    }

    /// A listener to every event, for an office stream.
    pub fn office(&self) -> broadcast::Receiver<Live> {
        self.office.subscribe()
    }

    /// A listener to the events of `user`, for a phone's stream.
    pub fn user(&self, user: &str) -> broadcast::Receiver<Live> {
        self.lock()
            .entry(user.to_owned())
            .or_insert_with(|| broadcast::channel(USER_BACKLOG).0)
            .subscribe()
    }

    /// How many users have a channel now (for tests).
    #[cfg(test)]
    fn channels(&self) -> usize {
        self.lock().len()
    }
}

/// Sends `event` to `user`'s channel, if any; a channel nobody listens to any more is dropped.
fn tell(users: &mut HashMap<String, broadcast::Sender<Live>>, user: &str, event: &Live) {
    if let Some(channel) = users.get(user)
        && channel.send(event.clone()).is_err()
    {
        users.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn changed(users: &[&str], job: &str) -> Live {
        Live::Changed {
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            jobs: Arc::new([job.to_owned()]),
            cause: None,
        }
    }

    fn jobs(receiver: &mut broadcast::Receiver<Live>) -> Vec<String> {
        let mut heard = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            heard.push(match event {
                Live::Changed { jobs, .. } => jobs.join(","),
                Live::Reminder(reminder) => format!("reminder for {}", reminder.job_id),
                Live::Revoked(device) => format!("revoked {device}"),
            });
        }
        heard
    }

    /// A phone's listener hears its user's events and every revocation; the office hears all;
    /// a user's channel goes once nobody listens to it.
    #[test]
    fn each_listener_hears_what_concerns_it() {
        let bus = LiveBus::default();
        let (mut office, mut anna, mut ben) = (bus.office(), bus.user("anna"), bus.user("ben"));
        bus.publish(changed(&["anna"], "j1"));
        bus.publish(changed(&["ben", "anna", "ben"], "j2"));
        bus.publish(changed(&[], "j3"));
        bus.publish(Live::Reminder(Arc::new(crate::storage::Reminder {
            id: 1,
            job_id: "j4".into(),
            rule: "resolve:ring1".into(),
            to_user: Some("ben".into()),
            to_role: None,
            ring: 1,
            clock: "resolve".into(),
            message: "overdue".into(),
            created_at: 1,
            acknowledged_at: None,
            acknowledged_by: None,
        })));
        bus.publish(Live::Revoked("anna-phone".into()));
        assert_eq!(
            jobs(&mut office),
            ["j1", "j2", "j3", "reminder for j4", "revoked anna-phone"]
        );
        assert_eq!(jobs(&mut anna), ["j1", "j2", "revoked anna-phone"]);
        assert_eq!(
            jobs(&mut ben),
            ["j2", "reminder for j4", "revoked anna-phone"]
        );

        assert_eq!(bus.channels(), 2);
        drop(anna);
        bus.publish(changed(&["anna"], "j5"));
        assert_eq!(bus.channels(), 1, "nobody listens for anna any more");
        let mut again = bus.user("anna");
        bus.publish(changed(&["anna"], "j6"));
        assert_eq!(jobs(&mut again), ["j6"]);
    }
}
