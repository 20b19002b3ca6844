//! Per-device limits a broken or hostile app cannot exceed: how often it may sync, and how fast
//! it may upload; and how often a rating or a complaint may be sent through a customer's link. Sign-in limits live with sign-in (`crate::domain::auth::LoginLimiter`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// The limits' settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceQuotas {
    /// Sync requests a device may make per minute, sustained.
    pub syncs_per_minute: NonZeroU32,
    /// Sync requests a device may make at once (a reconnect pages through its backlog).
    pub sync_burst: NonZeroU32,
    /// Upload bytes per second a device may send, sustained; `None`: unlimited.
    pub upload_bytes_per_second: Option<u64>,
}

const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

impl Default for DeviceQuotas {
    /// Two syncs a second (a burst of 60), 16 MiB/s of uploads: far above what a phone on a
    /// mobile network does, well below what a runaway loop would.
    fn default() -> Self {
        DeviceQuotas {
            syncs_per_minute: nonzero(120),
            sync_burst: nonzero(60),
            upload_bytes_per_second: Some(16 << 20),
        }
    }
}

/// The per-device limits in force.
pub struct DeviceLimits {
    syncs: RateLimiter<String, HashMapStateStore<String>, DefaultClock>,
    uploads: Option<Bandwidth>,
}

impl std::fmt::Debug for DeviceLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLimits").finish_non_exhaustive()
    }
}

impl Default for DeviceLimits {
    fn default() -> Self {
        Self::new(DeviceQuotas::default())
    }
}

impl DeviceLimits {
    /// Limits with these settings.
    pub fn new(quotas: DeviceQuotas) -> Self {
        DeviceLimits {
            syncs: RateLimiter::hashmap(
                Quota::per_minute(quotas.syncs_per_minute).allow_burst(quotas.sync_burst),
            ),
            uploads: quotas.upload_bytes_per_second.map(Bandwidth::new),
        }
    }

    /// Takes one sync for `device`, or says how many seconds until it may sync again.
    pub fn sync(&self, device: &str) -> Result<(), u64> {
        if self.syncs.len() > 100_000 {
            self.syncs.retain_recent();
        }
        self.syncs
            .check_key(&device.to_owned())
            .map_err(|not_until| {
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1)
            })
    }

    /// How long `device` must wait before sending `bytes` more of an upload.
    pub fn upload_wait(&self, device: &str, bytes: usize) -> Duration {
        self.uploads
            .as_ref()
            .map_or(Duration::ZERO, |bandwidth| bandwidth.reserve(device, bytes))
    }
}

/// How often ratings and complaints may be sent through one customer's link from one network:
/// 20 an hour, 5 at once. Counted per node: a customer needs a handful, a script hammering a
/// link is stopped, and customers sharing a carrier's address keep their own budgets.
pub struct LinkLimits {
    sends: RateLimiter<String, HashMapStateStore<String>, DefaultClock>,
}

impl std::fmt::Debug for LinkLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkLimits").finish_non_exhaustive()
    }
}

impl Default for LinkLimits {
    fn default() -> Self {
        LinkLimits {
            sends: RateLimiter::hashmap(Quota::per_hour(nonzero(20)).allow_burst(nonzero(5))),
        }
    }
}

impl LinkLimits {
    /// Takes one send for `key` (a link and a network), or says how many seconds until it may
    /// send again.
    pub fn send(&self, key: &str) -> Result<(), u64> {
        if self.sends.len() > 100_000 {
            self.sends.retain_recent();
        }
        self.sends.check_key(&key.to_owned()).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }
}

/// A token bucket of bytes per key: a second's worth may pass at once, then the rate.
struct Bandwidth {
    bytes_per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Bandwidth {
    fn new(bytes_per_second: u64) -> Self {
        Bandwidth {
            bytes_per_second: bytes_per_second.max(1) as f64,
            buckets: Mutex::default(),
        }
    }

    /// Takes `bytes` from `key`'s bucket and says how long to wait until they have passed.
    fn reserve(&self, key: &str, bytes: usize) -> Duration {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let burst = self.bytes_per_second;
        if buckets.len() > 100_000 {
            // Full buckets are the same as no bucket.
            buckets.retain(|_, (available, at)| {
                *available + now.duration_since(*at).as_secs_f64() * self.bytes_per_second < burst
            });
        }
        let (available, at) = buckets.entry(key.to_owned()).or_insert((burst, now));
        let refilled =
            (*available + now.duration_since(*at).as_secs_f64() * self.bytes_per_second).min(burst);
        let left = refilled - bytes as f64;
        *available = left;
        *at = now;
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.bytes_per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_syncs_its_burst_then_waits_and_others_are_untouched() {
        let limits = DeviceLimits::new(DeviceQuotas {
            syncs_per_minute: nonzero(6),
            sync_burst: nonzero(3),
            upload_bytes_per_second: None,
        });
        for _ in 0..3 {
            assert!(limits.sync("phone-1").is_ok());
        }
        let wait = limits.sync("phone-1").expect_err("over the burst");
        assert!((1..=10).contains(&wait), "{wait}");
        assert!(limits.sync("phone-2").is_ok());
        assert_eq!(limits.upload_wait("phone-1", 1 << 30), Duration::ZERO);
    }

    #[test]
    fn uploads_pass_a_seconds_worth_at_once_then_at_the_rate() {
        let bandwidth = Bandwidth::new(1000);
        assert_eq!(bandwidth.reserve("phone", 1000), Duration::ZERO);
        let wait = bandwidth.reserve("phone", 500);
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert_eq!(bandwidth.reserve("other", 1000), Duration::ZERO);
    }
}
