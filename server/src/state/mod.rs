//! What the running server shares, assembled once by the binary (or a test): the storage and
//! blob store, the clock, the SLA policy, the live event bus, the sign-in limiter and upload
//! locks ([`AppState`]), and the escalation scheduler that runs beside the HTTP server
//! ([`scheduler`]). The HTTP layer reads this state; nothing here knows HTTP.

pub mod limits;
pub mod live;
pub mod metrics;
pub mod outbox;
mod relay;
pub mod scheduler;

use std::net::IpAddr;
use std::sync::Arc;

use fieldsync_protocol::Millis;
use tokio::sync::{Notify, Semaphore, watch};

use crate::domain::auth::LoginLimiter;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::dispatch::Dispatch;
use crate::domain::error::DomainError;
use crate::domain::escalation::{self, Look, TickOutcome};
use crate::domain::jobs::{self, DEFAULT_KEEP_CLOSED};
use crate::domain::media::UploadLocks;
use crate::domain::sla::SlaPolicy;
use crate::domain::sync::PageLimits;
use crate::storage::blobs::BlobStore;
use crate::storage::{Bulletin, ReadTx, Reminder, Storage, WriteTx};
use live::LiveBus;

/// What the live event stream tells its listeners.
#[derive(Debug, Clone)]
pub enum Live {
    /// Something changed on these jobs; these users' devices should sync. Office listeners
    /// hear every change.
    Changed {
        /// The users whose devices should sync.
        users: Arc<[String]>,
        /// The jobs that changed (empty: anything may have; refresh everything).
        jobs: Arc<[String]>,
        /// The device whose upload made the change: it holds it already and is not told.
        cause: Option<Arc<str>>,
    },
    /// A reminder fired: the office hears every one, a device those addressed to its user.
    Reminder(Arc<Reminder>),
    /// A device was revoked: its open event streams end.
    Revoked(String),
}

/// The answer of the readiness check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Whether every check passed.
    pub ready: bool,
    /// `ok`, or why the database fails.
    pub database: String,
    /// `ok`, or why the blob store fails.
    pub blobs: String,
}

/// What every request and background task shares.
#[derive(Clone)]
pub struct AppState {
    /// The storage backend.
    pub storage: Arc<dyn Storage>,
    /// Live events to online devices and consoles.
    pub live: Arc<LiveBus>,
    /// The other server nodes sharing the storage, told of every live event (none: this
    /// process is the only server).
    pub bulletin: Option<Arc<dyn Bulletin>>,
    /// Sync page limits.
    pub limits: PageLimits,
    /// Failed sign-in attempts.
    pub logins: Arc<LoginLimiter>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// The SLA targets new jobs run under, and the escalation ladder's timing.
    pub sla: Arc<SlaPolicy>,
    /// Wakes the escalation scheduler early (something changed).
    pub scheduler_wake: Arc<Notify>,
    /// Becomes true when the server shuts down: live event streams end.
    pub closing: Arc<watch::Sender<bool>>,
    /// Where blob bytes live.
    pub blobs: Arc<dyn BlobStore>,
    /// Blobs a request is uploading right now.
    pub uploads: Arc<UploadLocks>,
    /// Addresses that may read `/metrics` without a credential (a Prometheus scraper).
    pub metrics_from: Arc<[IpAddr]>,
    /// How often a device may sync and how fast it may upload.
    pub device_limits: Arc<limits::DeviceLimits>,
    /// How often a network may send ratings and complaints through customers' links.
    pub link_limits: Arc<limits::LinkLimits>,
    /// The offline lease announced to phones with every sync.
    pub lease: fieldsync_protocol::wire::Lease,
    /// How long a closed job nobody changes stays on its installer's phone.
    pub keep_closed: Millis,
    /// The organisation's time zone, announced to phones with every sync.
    pub time_zone: Arc<OrganisationZone>,
    /// The organisation's working language (new jobs' checklist templates).
    pub language: crate::domain::Language,
    /// The country whose numbering plan customers' phone numbers follow, if set.
    pub phone_region: Option<crate::domain::dispatch::PhoneRegion>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (sign-in limits, metrics
    /// access); nobody else's is believed.
    pub trusted_proxies: Arc<[IpAddr]>,
    /// Permits for work on the blocking pool: requests beyond them wait on the executor, not
    /// as threads queued behind the database.
    pub workers: Arc<Semaphore>,
    /// How notifications reach customers.
    pub outbox: Arc<outbox::Outbox>,
    /// The server's address as phones and customers reach it, when configured (`--public-url`,
    /// without a trailing `/`): the enrollment links name it.
    pub public_url: Option<String>,
    /// How fast engineers travel between sites, for the planning checks.
    pub travel: crate::domain::travel::TravelSpeed,
    /// The tile server the console's map draws under its points, if configured.
    pub map_tiles: Option<Arc<MapTiles>>,
}

/// A map tile server: an address with `{z}`, `{x}` and `{y}` where the tile's zoom and
/// column and row go (e.g. `https://tile.openstreetmap.org/{z}/{x}/{y}.png`), and its origin,
/// which the console's security policy lets images come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapTiles {
    /// The address template.
    pub template: String,
    /// `scheme://host[:port]`.
    pub origin: String,
}

impl MapTiles {
    /// Reads a template, or says what is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        let template = template.trim();
        for part in ["{z}", "{x}", "{y}"] {
            if !template.contains(part) {
                return Err(format!(
                    "the map tile address `{template}` has no {part} (e.g. \
                     https://tile.example.com/{{z}}/{{x}}/{{y}}.png)"
                ));
            }
        }
        let url = reqwest::Url::parse(template)
            .map_err(|e| format!("the map tile address `{template}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "the map tile address `{template}` must be an http:// or https:// address"
            ));
        }
        Ok(MapTiles {
            template: template.to_owned(),
            origin: url.origin().ascii_serialization(),
        })
    }
}

/// The organisation's time zone: an IANA name this build's time-zone database knows.
#[derive(Debug, Clone)]
pub struct OrganisationZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl OrganisationZone {
    /// UTC, for an organisation that has not configured a zone.
    pub fn utc() -> Self {
        OrganisationZone {
            name: "UTC".to_owned(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// The zone named `name` (e.g. `Asia/Shanghai`), or an error that names it.
    pub fn named(name: &str) -> Result<Self, String> {
        let name = name.trim();
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| {
            format!("unknown time zone `{name}`: give an IANA name such as Asia/Shanghai or UTC")
        })?;
        Ok(OrganisationZone {
            name: name.to_owned(),
            zone,
        })
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone, for local days.
    pub fn zone(&self) -> &jiff::tz::TimeZone {
        &self.zone
    }
}

/// How many requests do blocking work (storage, hashing) at once: enough for a sizeable write
/// group beside every read connection (which bounds groups before the storage's own limit of
/// 32 does); more would only add threads waiting for the same connections.
const BLOCKING_WORKERS: usize = 24;

impl AppState {
    /// State over a storage backend and a blob store with default limits, the system clock and
    /// the default SLA policy.
    pub fn new(storage: Arc<dyn Storage>, blobs: Arc<dyn BlobStore>) -> Self {
        // Before anything is recorded.
        metrics::recorder();
        let live = Arc::new(LiveBus::default());
        let bulletin = storage.bulletin();
        if let Some(bulletin) = &bulletin {
            relay::listen(bulletin.as_ref(), live.clone());
        }
        AppState {
            storage,
            live,
            bulletin,
            limits: PageLimits::default(),
            logins: Arc::default(),
            clock: Arc::new(SystemClock),
            sla: Arc::default(),
            scheduler_wake: Arc::default(),
            closing: Arc::new(watch::channel(false).0),
            blobs,
            uploads: Arc::default(),
            metrics_from: Arc::new([]),
            device_limits: Arc::default(),
            link_limits: Arc::default(),
            trusted_proxies: Arc::new([]),
            lease: fieldsync_protocol::wire::Lease::default(),
            keep_closed: DEFAULT_KEEP_CLOSED,
            time_zone: Arc::new(OrganisationZone::utc()),
            language: crate::domain::Language::English,
            phone_region: None,
            workers: Arc::new(Semaphore::new(BLOCKING_WORKERS)),
            outbox: Arc::new(outbox::Outbox::log_only("http://localhost:8080")),
            public_url: None,
            travel: Default::default(),
            map_tiles: None,
        }
    }

    /// The current time by the state's clock.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Tells listeners that `jobs` changed and `users`' devices should sync, and lets the
    /// escalation ladder look again.
    pub fn changed(&self, users: Vec<String>, jobs: Vec<String>) {
        self.changed_by(users, jobs, None);
    }

    /// As [`AppState::changed`], for changes a device uploaded: that device is not told (it
    /// holds them), so an online phone makes one request per edit.
    pub fn changed_by(&self, users: Vec<String>, jobs: Vec<String>, device: Option<&str>) {
        self.announce(Live::Changed {
            users: users.into(),
            jobs: jobs.into(),
            cause: device.map(Arc::from),
        });
        // A tick looks only at the jobs that changed or fell due, so waking it per change
        // costs little (it ticks at most once per `MIN_SLEEP`), and a help request escalates
        // at once.
        self.scheduler_wake.notify_one();
        // The change may have enqueued a notification.
        self.outbox.wake();
    }

    /// Tells the office that deliveries of notifications about `jobs` moved on (no device
    /// syncs for that, and nothing for the ladder to look at).
    pub fn notified(&self, jobs: Vec<String>) {
        self.announce(Live::Changed {
            users: Arc::new([]),
            jobs: jobs.into(),
            cause: None,
        });
    }

    /// Tells a revoked device's open event streams to end.
    pub fn revoked(&self, device_id: String) {
        self.announce(Live::Revoked(device_id));
    }

    /// Publishes a reminder stored outside the ladder (an escalation by hand).
    pub fn reminded(&self, reminder: Reminder) {
        ::metrics::counter!(metrics::REMINDERS_FIRED).increment(1);
        self.announce(Live::Reminder(Arc::new(reminder)));
    }

    /// Publishes what an escalation tick did: new reminders and raised rings.
    pub fn publish_tick(&self, outcome: TickOutcome) {
        for (job, users) in outcome.escalated {
            self.job_changed(job, users);
        }
        ::metrics::counter!(metrics::ESCALATION_TICKS).increment(1);
        ::metrics::counter!(metrics::REMINDERS_FIRED).increment(outcome.reminders.len() as u64);
        for reminder in outcome.reminders {
            self.announce(Live::Reminder(Arc::new(reminder)));
        }
    }

    /// Runs the escalation ladder and moves idle closed jobs off phones now, at the state's
    /// clock, and publishes what they did.
    pub fn escalate_now(&self) -> Result<(), DomainError> {
        let now = self.now();
        let outcome = escalation::tick(self.storage.as_ref(), &self.sla, now, Look::Everything)?;
        self.publish_tick(outcome);
        self.retire_closed(now).map(drop)
    }

    /// Moves closed jobs idle for [`AppState::keep_closed`] off their installers' phones (at
    /// most [`jobs::RETIRE_BATCH`]) and tells those phones to sync; returns how many left. Runs
    /// storage I/O: call it on the blocking pool.
    pub fn retire_closed(&self, now: Millis) -> Result<usize, DomainError> {
        // The ladder need not look again for jobs leaving phones: no `changed`.
        let retired = jobs::retire_closed(self.storage.as_ref(), self.keep_closed, now)?;
        let count = retired.len();
        // One event per installer, naming all their jobs that left: a batch can hold hundreds.
        let mut by_user: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (job, user) in retired {
            by_user.entry(user).or_default().push(job);
        }
        for (user, jobs) in by_user {
            self.announce(Live::Changed {
                users: vec![user].into(),
                jobs: jobs.into(),
                cause: None,
            });
        }
        Ok(count)
    }

    /// Tells `users` (and the office) that `job` changed, in an event of its own so that a
    /// device hears only of its own user's jobs.
    fn job_changed(&self, job: String, users: Vec<String>) {
        self.announce(Live::Changed {
            users: users.into(),
            jobs: vec![job].into(),
            cause: None,
        });
    }

    /// Tells this node's listeners and the other nodes' of `event`.
    fn announce(&self, event: Live) {
        if let Some(bulletin) = &self.bulletin {
            relay::post(bulletin.as_ref(), &event);
        }
        self.live.publish(event);
    }

    /// Whether the server can do its work now: the database takes a write and the blob store
    /// is writable. Runs storage I/O: call it on the blocking pool.
    pub fn readiness(&self) -> Readiness {
        let check = |result: Result<(), String>| match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "readiness check failed");
                e
            }
        };
        let database = check(
            self.storage
                .probe_write(self.now())
                .map_err(|e| format!("the database refuses writes: {e}")),
        );
        let blobs = check(
            self.blobs
                .probe_writable()
                .map_err(|e| format!("the blob store refuses writes: {e}")),
        );
        Readiness {
            ready: database == "ok" && blobs == "ok",
            database,
            blobs,
        }
    }

    /// Dispatch's operations as `user`, under the state's SLA policy.
    pub fn dispatch<'s>(&'s self, user: &str) -> Dispatch<'s> {
        Dispatch::new(self.storage.as_ref(), user)
            .with_sla(&self.sla)
            .with_language(self.language)
            .with_phone_region(self.phone_region)
            .with_travel(self.travel)
            .with_time_zone(self.time_zone.zone().clone())
    }

    /// Runs `f` on the blocking pool (storage is synchronous and never runs on the executor).
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&AppState) -> Result<T, DomainError> + Send + 'static,
    ) -> Result<T, DomainError> {
        let permit = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DomainError::Internal(format!("workers closed: {e}")))?;
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f(&state)
        })
        .await
        .map_err(|e| DomainError::Internal(format!("worker failed: {e}")))?
    }

    /// Runs `f` in a read transaction on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<T, DomainError> + Send + 'static,
    ) -> Result<T, DomainError> {
        self.blocking(move |state| {
            let started = std::time::Instant::now();
            let result = crate::storage::read(state.storage.as_ref(), f);
            ::metrics::histogram!(metrics::STORAGE_SECONDS, "kind" => "read")
                .record(started.elapsed());
            result
        })
        .await
    }

    /// Runs `f` in a write transaction on the blocking pool.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn WriteTx) -> Result<T, DomainError> + Send + 'static,
    ) -> Result<T, DomainError> {
        self.blocking(move |state| {
            let started = std::time::Instant::now();
            let result = crate::storage::write(state.storage.as_ref(), f);
            ::metrics::histogram!(metrics::STORAGE_SECONDS, "kind" => "write")
                .record(started.elapsed());
            result
        })
        .await
    }
}
