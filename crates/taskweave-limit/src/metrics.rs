//! Counters every limiter keeps, the snapshot they produce, and the events that mark when a
//! limiter starts and stops rejecting, or making callers wait.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicU8, AtomicU64, AtomicUsize};
use taskweave_clock::duration_nanos;

/// A point-in-time view of a limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Permits admitted since the limiter was built.
    pub admitted: u64,
    /// Requests refused by a non-waiting call (`check`, `try_acquire`, a rejecting layer) since
    /// it was built. A caller that waits is never counted here.
    pub rejected: u64,
    /// Requests that could not be admitted at once and waited (in `acquire` or a waiting
    /// layer) since the limiter was built, whether they were admitted in the end or gave up.
    pub waited: u64,
    /// Callers currently waiting in `acquire` (or a waiting layer).
    pub waiting: usize,
    /// The current limit: the burst of a rate limiter (its tightest quota; per key for a keyed
    /// one), the permit count of a concurrency limit, the current value of an adaptive one.
    pub limit: usize,
    /// Permits held right now (concurrency limits; 0 for rate limiters).
    pub in_flight: usize,
    /// Keys tracked right now ([`KeyedRateLimiter`](crate::KeyedRateLimiter) only; 0 for the
    /// others).
    pub keys: usize,
    /// The bound on tracked keys (keyed only; 0 for the others).
    pub max_keys: usize,
    /// Idle keys forgotten, with no effect on any decision (keyed only).
    pub evicted_idle: u64,
    /// Keys forgotten before they were idle because their shard was full, each of which got a
    /// fresh burst early (keyed only). Non-zero means `max_keys` is too small for the traffic,
    /// or a key flood.
    pub evicted_early: u64,
}

/// Admission counters plus two episode flags, "rejecting" and "making callers wait", so that
/// a limiter logs once when it starts refusing (or queueing) requests and once when it stops,
/// not once per request.
///
/// Every admission bumps `admitted`. A shared counter would be a second contended cache line
/// next to the limiter's state, and an atomic read-modify-write costs as much as the
/// admission's own compare-and-swap; so the count is striped: each of the first threads to
/// admit anything owns a stripe outright and bumps it with a plain load and store, later
/// threads share stripe 0 with `fetch_add`. Reads sum the stripes. The flags are one byte,
/// read on every admission and written only on transitions, so they sit on their own line.
///
/// An episode only ends after [`QUIET`] without a new rejection (or, for waits, without a
/// caller starting or finishing a wait, and with nobody waiting), so a limiter at the edge of
/// its quota (admit, refuse, admit, …) or a keyed limiter refusing one abusive key among many
/// good ones logs one episode, not one event per request.
#[derive(Debug)]
pub(crate) struct Counters {
    admitted: Box<[Stripe]>,
    episodes: CachePadded<AtomicU8>,
    rejected: AtomicU64,
    /// Nanoseconds since `origin` (Tokio's clock, not the limiter's) of the latest rejection.
    last_rejection: AtomicU64,
    waited: AtomicU64,
    waiting: AtomicUsize,
    /// Nanoseconds since `origin` of the latest start or end of a wait.
    last_wait: AtomicU64,
    origin: tokio::time::Instant,
    name: Cow<'static, str>,
    kind: &'static str,
}

/// Episode flag: the limiter has refused a request within [`QUIET`].
const REJECTING: u8 = 1;
/// Episode flag: a caller has had to wait within [`QUIET`], or is waiting.
const WAITING: u8 = 2;

/// How long a limiter must go without rejecting (or making callers wait) before it reports
/// that it stopped.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

type Stripe = CachePadded<AtomicU64>;

#[cfg(not(taskweave_loom))]
const STRIPES: usize = 16;
// Loom runs its threads on one OS thread: one shared stripe keeps the model exact.
#[cfg(taskweave_loom)]
const STRIPES: usize = 1;

/// This thread's stripe: its own (1..STRIPES) for the first threads to ask, else 0 (shared).
#[inline]
fn stripe() -> usize {
    #[cfg(not(taskweave_loom))]
    {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        // A const-initialised thread-local without a destructor is a plain TLS load; a lazily
        // initialised one checks its state first. `usize::MAX` means "not assigned yet".
        thread_local! {
            static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
        }
        STRIPE.with(|s| {
            let i = s.get();
            if i != usize::MAX {
                return i;
            }
            let i = NEXT.fetch_add(1, Ordering::Relaxed);
            let i = if i < STRIPES { i } else { 0 };
            s.set(i);
            i
        })
    }
    #[cfg(taskweave_loom)]
    {
        0
    }
}

impl Counters {
    pub(crate) fn new(kind: &'static str, name: Cow<'static, str>) -> Self {
        Self {
            admitted: (0..STRIPES)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            episodes: CachePadded::new(AtomicU8::new(0)),
            rejected: AtomicU64::new(0),
            last_rejection: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            last_wait: AtomicU64::new(0),
            origin: tokio::time::Instant::now(),
            name,
            kind,
        }
    }

    #[inline]
    pub(crate) fn admit(&self, n: u32) {
        let i = stripe();
        let count = &*self.admitted[i];
        if i == 0 {
            count.fetch_add(u64::from(n), Ordering::Relaxed);
        } else {
            // Only this thread ever writes stripe `i`, so load + store loses nothing.
            count.store(
                count.load(Ordering::Relaxed).wrapping_add(u64::from(n)),
                Ordering::Relaxed,
            );
        }
        // A plain load on the hot path; the rest only runs during an episode.
        let episodes = self.episodes.load(Ordering::Relaxed);
        if episodes != 0 {
            self.maybe_ended(episodes);
        }
    }

    #[cold]
    fn maybe_ended(&self, episodes: u8) {
        let now = self.elapsed();
        let quiet = duration_nanos(QUIET);
        if episodes & REJECTING != 0
            && now.saturating_sub(self.last_rejection.load(Ordering::Relaxed)) >= quiet
            && self.episodes.fetch_and(!REJECTING, Ordering::Relaxed) & REJECTING != 0
        {
            tracing::debug!(
                limiter = %self.name,
                kind = self.kind,
                rejected_total = self.rejected(),
                "limiter recovered: no rejection for {QUIET:?}"
            );
        }
        if episodes & WAITING != 0
            && self.waiting.load(Ordering::Relaxed) == 0
            && now.saturating_sub(self.last_wait.load(Ordering::Relaxed)) >= quiet
            && self.episodes.fetch_and(!WAITING, Ordering::Relaxed) & WAITING != 0
        {
            tracing::debug!(
                limiter = %self.name,
                kind = self.kind,
                waited_total = self.waited(),
                "limiter admitting at once again: nobody waited for {QUIET:?}"
            );
        }
    }

    fn elapsed(&self) -> u64 {
        duration_nanos(self.origin.elapsed())
    }

    /// Sets an episode flag; true if this call started the episode.
    fn start(&self, flag: u8) -> bool {
        let episodes = &*self.episodes;
        episodes.load(Ordering::Relaxed) & flag == 0
            && episodes.fetch_or(flag, Ordering::Relaxed) & flag == 0
    }

    /// Counts a rate rejection that may be retried in `wait_nanos`, and returns it to the caller.
    #[cold]
    pub(crate) fn reject_for(&self, wait_nanos: u64) -> crate::RetryAfter {
        let wait = Duration::from_nanos(wait_nanos);
        self.reject(Some(wait));
        crate::RetryAfter::new(wait)
    }

    /// Counts a request refused by a non-waiting call.
    #[cold]
    pub(crate) fn reject(&self, retry_after: Option<Duration>) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.last_rejection
            .fetch_max(self.elapsed(), Ordering::Relaxed);
        if self.start(REJECTING) {
            tracing::debug!(
                limiter = %self.name,
                kind = self.kind,
                retry_after_ms = retry_after.map(|d| d.as_secs_f64() * 1e3),
                "limiter started rejecting"
            );
        }
    }

    /// Counts a caller that could not be admitted at once and waits; `wait` is how long it
    /// will wait at least, when known. Pair with [`end_wait`](Self::end_wait) (see
    /// [`WaitGuard`]).
    #[cold]
    pub(crate) fn begin_wait(&self, wait: Option<Duration>) {
        self.waited.fetch_add(1, Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.last_wait.fetch_max(self.elapsed(), Ordering::Relaxed);
        if self.start(WAITING) {
            tracing::debug!(
                limiter = %self.name,
                kind = self.kind,
                wait_ms = wait.map(|d| d.as_secs_f64() * 1e3),
                "limiter started making callers wait"
            );
        }
    }

    /// A caller counted by [`begin_wait`](Self::begin_wait) was admitted or gave up.
    pub(crate) fn end_wait(&self) {
        self.last_wait.fetch_max(self.elapsed(), Ordering::Relaxed);
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn admitted(&self) -> u64 {
        self.admitted
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Callers between [`begin_wait`](Self::begin_wait) and [`end_wait`](Self::end_wait).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Counts a caller as waiting until it is dropped (admitted or given up).
#[derive(Debug)]
pub(crate) struct WaitGuard<'a>(&'a Counters);

impl<'a> WaitGuard<'a> {
    pub(crate) fn begin(counters: &'a Counters, wait: Option<Duration>) -> Self {
        counters.begin_wait(wait);
        Self(counters)
    }
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.end_wait();
    }
}
