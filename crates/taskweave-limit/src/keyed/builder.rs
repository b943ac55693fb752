//! [`KeyedRateLimiterBuilder`]: validates a keyed limiter's configuration and sizes its shards.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio_util::sync::CancellationToken;

use super::{KeyedInner, KeyedRateLimiter, MAX_KEYS, Map, Shard};
use crate::error::ConfigError;
use crate::lifecycle::{Shutter, close_on_cancel};
use crate::metrics::Counters;
use crate::quota::Quota;
use taskweave_clock::{Clock, DefaultClock, duration_nanos};

/// Builds a [`KeyedRateLimiter`]; see [`KeyedRateLimiter::builder`].
pub struct KeyedRateLimiterBuilder<K, C = DefaultClock, S = RandomState> {
    pub(super) key: PhantomData<fn(K)>,
    pub(super) quota: Quota,
    pub(super) max_keys: usize,
    pub(super) sweep_interval: Duration,
    pub(super) name: Cow<'static, str>,
    pub(super) clock: C,
    pub(super) hasher: S,
    pub(super) token: Option<CancellationToken>,
}

impl<K, C, S> fmt::Debug for KeyedRateLimiterBuilder<K, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiterBuilder")
            .field("quota", &self.quota)
            .field("max_keys", &self.max_keys)
            .field("sweep_interval", &self.sweep_interval)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, C: Clock, S: BuildHasher + Clone> KeyedRateLimiterBuilder<K, C, S> {
    /// The most keys tracked at once (default 100,000; at most
    /// [`KeyedRateLimiter::MAX_KEYS`], 2²⁴).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How often a shard, when touched, forgets its idle keys (default 1 s; must not be zero,
    /// which would sweep on every call).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// Names the limiter in its `tracing` events (default `"keyed-rate"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reads time from `clock` instead of the [`DefaultClock`](crate::DefaultClock).
    pub fn clock<C2: Clock>(self, clock: C2) -> KeyedRateLimiterBuilder<K, C2, S> {
        KeyedRateLimiterBuilder {
            key: PhantomData,
            quota: self.quota,
            max_keys: self.max_keys,
            sweep_interval: self.sweep_interval,
            name: self.name,
            clock,
            hasher: self.hasher,
            token: self.token,
        }
    }

    /// Hashes keys with `hasher` (default: std's DoS-resistant `RandomState`; keep a keyed,
    /// randomised hasher when keys come from the network).
    pub fn hasher<S2: BuildHasher + Clone>(self, hasher: S2) -> KeyedRateLimiterBuilder<K, C, S2> {
        KeyedRateLimiterBuilder {
            key: PhantomData,
            quota: self.quota,
            max_keys: self.max_keys,
            sweep_interval: self.sweep_interval,
            name: self.name,
            clock: self.clock,
            hasher,
            token: self.token,
        }
    }

    /// Closes the limiter when `token` is cancelled: exactly what
    /// [`KeyedRateLimiter::close`] does. Graceful; needs no runtime and no task.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Validates the configuration and builds the limiter.
    ///
    /// # Errors
    /// [`ConfigError::ZeroMaxKeys`], [`ConfigError::MaxKeysTooLarge`] above
    /// [`KeyedRateLimiter::MAX_KEYS`], [`ConfigError::ZeroSweepInterval`], or the quota's
    /// error.
    pub fn build(self) -> Result<KeyedRateLimiter<K, C, S>, ConfigError> {
        let params = self.quota.params()?;
        if self.max_keys == 0 {
            return Err(ConfigError::ZeroMaxKeys);
        }
        if self.max_keys > MAX_KEYS {
            return Err(ConfigError::MaxKeysTooLarge {
                max_keys: self.max_keys,
            });
        }
        if self.sweep_interval.is_zero() {
            return Err(ConfigError::ZeroSweepInterval);
        }
        let parallelism = std::thread::available_parallelism().map_or(4, |n| n.get());
        let mut shards = (parallelism * 4).next_power_of_two().min(64);
        while shards > 1 && self.max_keys / shards < 16 {
            shards /= 2;
        }
        let shard_cap = self.max_keys / shards;
        let shards: Box<[CachePadded<Shard<K>>]> = (0..shards)
            .map(|_| {
                CachePadded::new(Shard {
                    tats: RwLock::new(Map::default()),
                    next_sweep: AtomicU64::new(0),
                })
            })
            .collect();
        let shutter = Arc::new(Shutter::new("keyed-rate", self.name.clone()));
        if let Some(token) = self.token {
            close_on_cancel(&shutter, token);
        }
        Ok(KeyedRateLimiter {
            inner: Arc::new(KeyedInner {
                params,
                shard_mask: (shards.len() - 1) as u64,
                shards,
                shard_cap,
                max_keys: self.max_keys,
                sweep_interval: duration_nanos(self.sweep_interval),
                hasher: self.hasher,
                clock: self.clock,
                counters: Counters::new("keyed-rate", self.name),
                evicted_idle: AtomicU64::new(0),
                evicted_early: AtomicU64::new(0),
                shutter,
            }),
        })
    }
}
