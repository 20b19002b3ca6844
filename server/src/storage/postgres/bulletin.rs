//! The nodes' bulletin over PostgreSQL's `LISTEN`/`NOTIFY`: each node posts on one channel
//! from a connection of its own and listens on another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, Config, NoTls};

use crate::storage::Bulletin;

/// The `NOTIFY` channel every node listens on.
const CHANNEL: &str = "fieldsync_live";

/// How long a lost connection waits before it is made again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// How often a listener looks whether the storage is gone.
const LISTEN_TICK: Duration = Duration::from_millis(500);

/// The largest payload `NOTIFY` takes (8000 bytes), less this node's id and a space.
pub(super) const MAX_MESSAGE: usize = 8000 - 40;

/// A bulletin over `NOTIFY`, with a random id for this node so that it ignores its own posts.
pub(super) struct PgBulletin {
    node: String,
    config: Config,
    outbox: Mutex<mpsc::Sender<String>>,
    /// Set when the storage is dropped: the listener threads end.
    stopped: Arc<AtomicBool>,
}

impl PgBulletin {
    /// A bulletin on the database `config` names; its posting connection is made on first use.
    pub(super) fn new(config: Config) -> Self {
        let (outbox, posts) = mpsc::channel::<String>();
        let poster_config = config.clone();
        thread::spawn(move || post_all(&poster_config, &posts));
        PgBulletin {
            node: uuid::Uuid::new_v4().simple().to_string(),
            config,
            outbox: Mutex::new(outbox),
            stopped: Arc::default(),
        }
    }
}

impl Drop for PgBulletin {
    fn drop(&mut self) {
        // The poster ends when its channel closes (with the sender, dropped after this).
        self.stopped.store(true, Ordering::Relaxed);
    }
}

impl Bulletin for PgBulletin {
    fn post(&self, message: String) {
        if message.len() > MAX_MESSAGE {
            tracing::warn!(
                bytes = message.len(),
                "a live event too large for NOTIFY is not relayed"
            );
            return;
        }
        let outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        // The poster only ends with the bulletin.
        let _ = outbox.send(format!("{} {message}", self.node));
    }

    fn listen(&self, deliver: Box<dyn Fn(&str) + Send>) {
        let config = self.config.clone();
        let own = format!("{} ", self.node);
        let stopped = self.stopped.clone();
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                if let Err(e) = listen_once(&config, &own, &stopped, deliver.as_ref()) {
                    tracing::warn!(error = %e, "lost the connection that hears other nodes; making it again");
                    thread::sleep(RECONNECT_AFTER);
                }
            }
        });
    }
}

/// Posts every message from `posts` with `NOTIFY`, reconnecting after a failure (the message
/// that failed is dropped: see [`Bulletin`]).
fn post_all(config: &Config, posts: &mpsc::Receiver<String>) {
    let mut client: Option<Client> = None;
    for payload in posts {
        if client.as_ref().is_none_or(Client::is_closed) {
            client = config
                .connect(NoTls)
                .inspect_err(|e| tracing::warn!(error = %e, "cannot post to other nodes"))
                .ok();
        }
        let Some(connected) = client.as_mut() else {
            continue;
        };
        if let Err(e) = connected.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]) {
            tracing::warn!(error = %e, "a live event was not relayed to other nodes");
            client = None;
        }
    }
}

/// Listens on one connection until it fails or the storage is dropped.
fn listen_once(
    config: &Config,
    own: &str,
    stopped: &AtomicBool,
    deliver: &dyn Fn(&str),
) -> Result<(), ::postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    while !stopped.load(Ordering::Relaxed) {
        let mut notifications = client.notifications();
        let mut heard = notifications.timeout_iter(LISTEN_TICK);
        while let Some(notification) = heard.next()? {
            let payload = notification.payload();
            if payload.starts_with(own) {
                continue;
            }
            if let Some((_node, message)) = payload.split_once(' ') {
                deliver(message);
            }
        }
    }
    Ok(())
}
