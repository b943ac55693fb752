//! An in-process stand-in for a remote enrichment service: it looks up where a sensor is
//! installed and its calibration offset, with injected latency, random failures, and one
//! outage in the middle of the run.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::events::{Reading, mix};

/// What the remote service knows about a sensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Enrichment {
    /// Where the sensor is installed.
    pub site: &'static str,
    /// Added to the sensor's readings to correct its drift, in °C.
    pub offset_celsius: f64,
}

/// A failed call to the remote service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteError {
    /// The call failed at random (`--fail-rate`): a timeout, a 503.
    Transient,
    /// The service is in its outage and refuses every call.
    Down,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "remote call failed (transient)",
            Self::Down => "remote service unavailable (outage)",
        })
    }
}

impl std::error::Error for RemoteError {}

const SITES: [&str; 6] = [
    "north-hall",
    "south-hall",
    "cold-store",
    "boiler-room",
    "roof",
    "lab",
];

/// The simulated service. Cheap to share behind an `Arc`; every counter is an atomic.
#[derive(Debug)]
pub struct RemoteService {
    fail_rate: f64,
    seed: u64,
    outage: Duration,
    /// The call that starts the outage.
    outage_after_calls: u64,
    outage_started: OnceLock<Instant>,
    calls: AtomicU64,
    failures: AtomicU64,
}

impl RemoteService {
    /// A service that fails `fail_rate` of its calls, and is down for `outage` once it has
    /// received `outage_after_calls` calls (no outage if `outage` is zero).
    pub fn new(fail_rate: f64, outage: Duration, outage_after_calls: u64, seed: u64) -> Self {
        Self {
            fail_rate,
            seed,
            outage,
            outage_after_calls,
            outage_started: OnceLock::new(),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Looks up `reading`'s sensor, taking 0.5–2.5 ms.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Transient`] for `fail_rate` of the calls, [`RemoteError::Down`] for every
    /// call during the outage.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the call has no effect but the counters.
    pub async fn enrich(&self, reading: &Reading) -> Result<Enrichment, RemoteError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let roll = mix(self.seed ^ call.wrapping_mul(0x2545_F491_4F6C_DD1D));
        if self.is_down(call) {
            // A refused connection fails fast.
            tokio::time::sleep(Duration::from_micros(200)).await;
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(RemoteError::Down);
        }
        tokio::time::sleep(Duration::from_micros(500 + roll % 2_000)).await;
        if ((roll >> 11) as f64 / (1u64 << 53) as f64) < self.fail_rate {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(RemoteError::Transient);
        }
        let sensor = mix(u64::from(reading.sensor));
        Ok(Enrichment {
            site: SITES[(sensor % SITES.len() as u64) as usize],
            offset_celsius: ((sensor >> 8) % 41) as f64 / 10.0 - 2.0,
        })
    }

    fn is_down(&self, call: u64) -> bool {
        if self.outage.is_zero() || call < self.outage_after_calls {
            return false;
        }
        let started = *self.outage_started.get_or_init(|| {
            tracing::warn!(outage = ?self.outage, "remote service: outage begins");
            Instant::now()
        });
        started.elapsed() < self.outage
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls that failed so far (transient or outage).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Reading {
        Reading {
            id: 0,
            sensor: 9,
            timestamp_ms: 0,
            celsius: 20.0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fails_about_the_fail_rate() {
        let remote = RemoteService::new(0.1, Duration::ZERO, 0, 3);
        let mut failed = 0;
        for _ in 0..2_000 {
            match remote.enrich(&reading()).await {
                Ok(e) => assert!((-2.0..=2.0).contains(&e.offset_celsius)),
                Err(e) => {
                    assert_eq!(e, RemoteError::Transient);
                    failed += 1;
                }
            }
        }
        assert!((120..=280).contains(&failed), "{failed}");
        assert_eq!(remote.failures(), failed);
        assert_eq!(remote.calls(), 2_000);
    }

    #[tokio::test(start_paused = true)]
    async fn the_outage_starts_at_its_call_and_ends_after_its_duration() {
        let remote = RemoteService::new(0.0, Duration::from_secs(1), 5, 3);
        for _ in 0..5 {
            assert!(remote.enrich(&reading()).await.is_ok());
        }
        assert_eq!(remote.enrich(&reading()).await, Err(RemoteError::Down));
        tokio::time::advance(Duration::from_millis(900)).await;
        assert_eq!(remote.enrich(&reading()).await, Err(RemoteError::Down));
        tokio::time::advance(Duration::from_millis(100)).await;
        assert!(remote.enrich(&reading()).await.is_ok());
    }
}
