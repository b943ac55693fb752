//! [`KeyedRateLimiter`]: one GCRA quota per key, in bounded memory.
//!
//! (Just over 400 lines: the handle's public API and its documented examples; the key map and
//! the builder live in `map.rs` and `builder.rs`.)

mod builder;
mod map;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash, RandomState};
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::Poll;
use std::time::Duration;

use crossbeam_utils::CachePadded;

pub use self::builder::KeyedRateLimiterBuilder;
use self::map::{Hashed, Lookup, Map, Probe};
use crate::error::{AcquireError, CheckError, Closed, ConfigError, RetryAfter};
use crate::gcra::{Cell, Params};
use crate::lifecycle::{Close, Shutter};
use crate::metrics::{Counters, Metrics, WaitGuard};
use crate::quota::Quota;
use taskweave_clock::{Clock, DefaultClock};

/// Default bound on tracked keys.
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;
/// [`KeyedRateLimiter::MAX_KEYS`].
pub(crate) const MAX_KEYS: usize = 1 << 24;
/// Default pause between two idle sweeps of a shard.
pub(crate) const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A rate limit per key (user, API token, IP address), with a bounded number of keys.
///
/// Each key gets the same [`Quota`]. A key whose theoretical arrival time has passed is idle:
/// its next request would get a full burst whether or not the key is remembered, so it can be
/// forgotten without changing any decision. Forgetting happens inside normal calls, with no
/// background task:
///
/// - every shard sweeps its idle keys when it is touched after
///   [`sweep_interval`](KeyedRateLimiterBuilder::sweep_interval) (default 1 s);
/// - when a new key finds its shard full, the shard sweeps at once and, if still full, evicts
///   exactly a quarter of its keys, those closest to idle (ties, such as keys that all arrived
///   in the same instant, broken arbitrarily). Those keys get a fresh burst early: the memory
///   bound wins over their limit, and the event is counted
///   ([`Metrics::evicted_early`]) and logged at `warn`.
///
/// So memory never exceeds `max_keys` entries, even under a flood of distinct keys.
///
/// [`close`](Self::close) (or the builder's
/// [`cancellation_token`](KeyedRateLimiterBuilder::cancellation_token)) lets every waiting
/// `acquire_key` go with [`Closed`] and refuses later ones; the non-waiting `check_key` ignores
/// it, like [`RateLimiter::check`](crate::RateLimiter::check).
pub struct KeyedRateLimiter<K, C: Clock = DefaultClock, S = RandomState> {
    inner: Arc<KeyedInner<K, C, S>>,
}

struct KeyedInner<K, C, S> {
    params: Params,
    /// Padded so that two shards' locks never share a cache line.
    shards: Box<[CachePadded<Shard<K>>]>,
    shard_mask: u64,
    shard_cap: usize,
    max_keys: usize,
    sweep_interval: u64,
    hasher: S,
    clock: C,
    counters: Counters,
    evicted_idle: AtomicU64,
    evicted_early: AtomicU64,
    shutter: Arc<Shutter>,
}

struct Shard<K> {
    /// Known keys take the read lock and update their own atomic TAT, so concurrent callers
    /// never block each other; only new keys and sweeps take the write lock.
    tats: RwLock<Map<K>>,
    /// When the next idle sweep is due (nanoseconds of the limiter's clock).
    next_sweep: AtomicU64,
}

impl<K, C: Clock, S> Clone for KeyedRateLimiter<K, C, S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, C: Clock, S> fmt::Debug for KeyedRateLimiter<K, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.inner.counters.name())
            .field("params", &self.inner.params)
            .field("max_keys", &self.inner.max_keys)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

impl<K> KeyedRateLimiter<K> {
    /// The largest [`max_keys`](KeyedRateLimiterBuilder::max_keys): 16,777,216 (2²⁴). Above it
    /// `build` fails with [`ConfigError::MaxKeysTooLarge`]; at a few tens of bytes per key plus
    /// the key itself, the bound is already hundreds of megabytes.
    pub const MAX_KEYS: usize = MAX_KEYS;
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A keyed limiter with `quota` per key, at most 100,000 keys, on the [`DefaultClock`].
    ///
    /// # Errors
    /// [`ConfigError`] if the quota is invalid.
    pub fn new(quota: Quota) -> Result<Self, ConfigError> {
        Self::builder(quota).build()
    }

    /// A builder to set the key bound, sweep interval, name, clock or hasher.
    pub fn builder(quota: Quota) -> KeyedRateLimiterBuilder<K> {
        KeyedRateLimiterBuilder {
            key: PhantomData,
            quota,
            max_keys: DEFAULT_MAX_KEYS,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            name: Cow::Borrowed("keyed-rate"),
            clock: DefaultClock::new(),
            hasher: RandomState::new(),
            token: None,
        }
    }
}

impl<K, C, S> KeyedRateLimiter<K, C, S>
where
    K: Hash + Eq + Clone,
    C: Clock,
    S: BuildHasher,
{
    /// Admits one permit for `key` now, or says how long until one would conform.
    ///
    /// # Errors
    /// [`RetryAfter`] with the wait until `key`'s request would conform.
    #[inline]
    pub fn check_key(&self, key: &K) -> Result<(), RetryAfter> {
        match self.inner.try_consume(key, 1) {
            Ok(()) => {
                self.inner.counters.admit(1);
                Ok(())
            }
            Err(wait) => Err(self.inner.rejected(wait)),
        }
    }

    /// Admits `n` permits for `key` at once (all or none), or says why not.
    ///
    /// # Errors
    /// [`CheckError::RetryAfter`] if they would conform later; [`CheckError::ExceedsBurst`] if
    /// `n` is larger than the burst.
    pub fn check_key_n(&self, key: &K, n: u32) -> Result<(), CheckError> {
        self.inner.fits(n)?;
        if n == 0 {
            return Ok(());
        }
        match self.inner.try_consume(key, n) {
            Ok(()) => {
                self.inner.counters.admit(n);
                Ok(())
            }
            Err(wait) => Err(self.inner.rejected(wait).into()),
        }
    }

    /// Waits until one permit for `key` conforms and takes it.
    ///
    /// Waiters on one key are not queued: each sleeps until its computed time and checks
    /// again, so under contention on a single key the order is not guaranteed. Use a
    /// [`RateLimiter`](crate::RateLimiter) where arrival order matters. A caller that cannot
    /// be admitted at once counts as waiting ([`Metrics::waited`]), never as rejected.
    ///
    /// # Errors
    /// [`Closed`] if the limiter is closed, at once for a new call and as soon as it closes
    /// for a waiting one.
    ///
    /// # Cancel safety
    /// Cancel-safe: permits are only taken in the same poll that returns them.
    ///
    /// # Panics
    /// If it has to wait outside a Tokio runtime with time enabled.
    pub async fn acquire_key(&self, key: &K) -> Result<(), Closed> {
        // n = 1 never exceeds a burst, which is at least 1.
        self.acquire_key_n(key, 1).await.map_err(|_| Closed)
    }

    /// Waits until `n` permits for `key` conform and takes them all at once.
    ///
    /// # Errors
    /// [`AcquireError::ExceedsBurst`] at once if `n` is larger than the burst;
    /// [`AcquireError::Closed`] as for [`acquire_key`](Self::acquire_key).
    ///
    /// # Cancel safety
    /// Cancel-safe: permits are only taken in the same poll that returns them.
    ///
    /// # Panics
    /// If it has to wait outside a Tokio runtime with time enabled.
    pub async fn acquire_key_n(&self, key: &K, n: u32) -> Result<(), AcquireError> {
        self.inner.fits(n)?;
        let shutter = &*self.inner.shutter;
        // Enabled before the flag is read, so that a close in between still wakes it.
        let mut closing = pin!(shutter.closing());
        closing.as_mut().enable();
        if shutter.is_closed() {
            return Err(AcquireError::Closed);
        }
        if n == 0 {
            return Ok(());
        }
        let mut waiting = None;
        loop {
            match self.inner.try_consume(key, n) {
                Ok(()) => {
                    drop(waiting);
                    self.inner.counters.admit(n);
                    return Ok(());
                }
                Err(wait) => {
                    let wait = Duration::from_nanos(wait);
                    waiting
                        .get_or_insert_with(|| WaitGuard::begin(&self.inner.counters, Some(wait)));
                    let mut sleep = pin!(tokio::time::sleep(wait));
                    let closed = std::future::poll_fn(|cx| {
                        if closing.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(true);
                        }
                        sleep.as_mut().poll(cx).map(|()| false)
                    })
                    .await;
                    if closed {
                        return Err(AcquireError::Closed);
                    }
                }
            }
        }
    }

    /// Stops intake: every caller waiting in `acquire_key` returns [`Closed`] at once, and
    /// later ones are refused with it. Idempotent; returns at once. `check_key` ignores it
    /// (see [`RateLimiter::check`](crate::RateLimiter::check)). There is nothing to drain or
    /// abort: a permit is spent when it is taken.
    pub fn close(&self) {
        self.inner.shutter.close();
    }

    /// Whether [`close`](Self::close) was called (or the cancellation token cancelled).
    pub fn is_closed(&self) -> bool {
        self.inner.shutter.is_closed()
    }

    /// Admits one permit for `key` if it conforms now; counts nothing otherwise (the caller
    /// goes on to wait in `acquire_key`).
    #[cfg(feature = "tower")]
    pub(crate) fn try_admit_key(&self, key: &K) -> bool {
        if self.inner.try_consume(key, 1).is_err() {
            return false;
        }
        self.inner.counters.admit(1);
        true
    }

    /// Keys tracked right now (locks every shard in turn).
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest request that can ever be admitted for one key.
    pub fn burst(&self) -> u32 {
        self.inner.params.burst
    }

    /// A snapshot of the counters; `limit` is the burst per key, and the key fields are set.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            admitted: self.inner.counters.admitted(),
            rejected: self.inner.counters.rejected(),
            waited: self.inner.counters.waited(),
            waiting: self.inner.counters.waiting(),
            limit: self.inner.params.burst as usize,
            in_flight: 0,
            keys: self.len(),
            max_keys: self.inner.max_keys,
            evicted_idle: self.inner.evicted_idle.load(Ordering::Relaxed),
            evicted_early: self.inner.evicted_early.load(Ordering::Relaxed),
        }
    }
}

// A shard's critical sections keep the map consistent even if a user's `Hash`/`Eq` panics
// midway (HashMap is unwind-safe), so a poisoned lock is still usable.
impl<K> Shard<K> {
    fn read(&self) -> RwLockReadGuard<'_, Map<K>> {
        self.tats.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Map<K>> {
        self.tats.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K, C, S> KeyedInner<K, C, S>
where
    K: Hash + Eq + Clone,
    C: Clock,
    S: BuildHasher,
{
    #[inline]
    fn fits(&self, n: u32) -> Result<(), crate::error::ExceedsBurst> {
        crate::error::ExceedsBurst::check(n, self.params.burst)
    }

    fn rejected(&self, wait_nanos: u64) -> RetryAfter {
        self.counters.reject_for(wait_nanos)
    }

    #[inline]
    fn try_consume(&self, key: &K, n: u32) -> Result<(), u64> {
        // Bits 40.. of the hash choose the shard: the map inside uses the low bits for its
        // bucket and the top 7 for its tags, so those stay well spread within a shard.
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[((hash >> 40) & self.shard_mask) as usize];
        let now = self.clock.now_nanos();
        if now >= shard.next_sweep.load(Ordering::Relaxed) {
            let mut tats = shard.write();
            // Re-checked under the lock, so that racing callers sweep once.
            if now >= shard.next_sweep.load(Ordering::Relaxed) {
                self.sweep(shard, &mut tats, now);
            }
        }
        let probe = Probe { hash, key };
        if let Some(cell) = shard.read().get(&probe as &dyn Lookup<K>) {
            return cell.try_consume(&self.params, now, n).map(drop);
        }
        let mut tats = shard.write();
        if let Some(cell) = tats.get(&probe as &dyn Lookup<K>) {
            // Another caller inserted it between the two locks.
            return cell.try_consume(&self.params, now, n).map(drop);
        }
        // An unknown key is idle: the request fits in a full burst (n <= burst was checked).
        let tat = self.params.decide(0, now, n)?;
        if tats.len() >= self.shard_cap {
            self.make_room(shard, &mut tats, now);
        }
        tats.insert(
            Hashed {
                hash,
                key: key.clone(),
            },
            Cell::new(tat),
        );
        Ok(())
    }

    /// Forgets the idle keys of a shard.
    fn sweep(&self, shard: &Shard<K>, tats: &mut Map<K>, now: u64) {
        let before = tats.len();
        tats.retain(|_, cell| cell.tat() > now);
        let evicted = before - tats.len();
        if evicted > 0 {
            self.evicted_idle
                .fetch_add(evicted as u64, Ordering::Relaxed);
        }
        shard
            .next_sweep
            .store(now.saturating_add(self.sweep_interval), Ordering::Relaxed);
    }

    /// Brings a full shard under its cap: idle keys first, then exactly a quarter of the cap,
    /// those closest to idle, so that a flood of new keys pays O(1) amortised per key.
    #[cold]
    fn make_room(&self, shard: &Shard<K>, tats: &mut Map<K>, now: u64) {
        self.sweep(shard, tats, now);
        let len = tats.len();
        if len < self.shard_cap {
            return;
        }
        let keep = self.shard_cap - (self.shard_cap / 4).max(1);
        let evict = len - keep;
        let mut by_age: Vec<u64> = tats.values().map(Cell::tat).collect();
        let (below, &mut threshold, _) = by_age.select_nth_unstable(evict - 1);
        // Every key under the threshold goes, and only as many at the threshold as needed:
        // many keys can share one TAT (all that arrived in one clock tick), and evicting all
        // of them would forget far more than a quarter.
        let mut at_threshold = evict - below.iter().filter(|&&t| t < threshold).count();
        // No other thread touches a cell while the shard's write lock is held, so the TATs
        // read here are the ones `by_age` saw.
        tats.retain(|_, cell| {
            let tat = cell.tat();
            if tat < threshold {
                false
            } else if tat == threshold && at_threshold > 0 {
                at_threshold -= 1;
                false
            } else {
                true
            }
        });
        let evicted = (len - tats.len()) as u64;
        debug_assert_eq!(evicted, evict as u64);
        self.evicted_early.fetch_add(evicted, Ordering::Relaxed);
        tracing::warn!(
            limiter = %self.counters.name(),
            evicted,
            max_keys = self.max_keys,
            "keyed rate limiter full: forgot keys that were not idle yet; raise max_keys if this is normal traffic"
        );
    }
}
