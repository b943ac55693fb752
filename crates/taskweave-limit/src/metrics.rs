//! Counters every limiter keeps, the snapshot they produce, and the reject/recover events.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::clock::duration_nanos;
use crate::loom::{AtomicBool, AtomicU64};

/// A point-in-time view of a limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Permits admitted since the limiter was built.
    pub admitted: u64,
    /// Requests refused by a non-waiting call (`check`, `try_acquire`) since it was built.
    pub rejected: u64,
    /// Callers currently waiting in `acquire`.
    pub waiting: usize,
    /// The current limit: the burst of a rate limiter (its tightest quota), the permit count of
    /// a concurrency limit, the current value of an adaptive one.
    pub limit: usize,
    /// Permits held right now (concurrency limits; 0 for rate limiters).
    pub in_flight: usize,
}

/// Admission counters plus a "rejecting" flag, so that a limiter logs once when it starts
/// refusing requests and once when it admits again, not once per request.
///
/// Every admission bumps `admitted`. A shared counter would be a second contended cache line
/// next to the limiter's state, and an atomic read-modify-write costs as much as the
/// admission's own compare-and-swap; so the count is striped: each of the first threads to
/// admit anything owns a stripe outright and bumps it with a plain load and store, later
/// threads share stripe 0 with `fetch_add`. Reads sum the stripes. The flag is read on every
/// admission and written only on transitions, so it sits on its own line.
///
/// "Recovered" is only reported after [`QUIET`] without a rejection, so a limiter at the edge
/// of its quota (admit, refuse, admit, …) or a keyed limiter refusing one abusive key among
/// many good ones logs one episode, not one event per request.
#[derive(Debug)]
pub(crate) struct Counters {
    admitted: Box<[Stripe]>,
    rejecting: Padded<AtomicBool>,
    rejected: AtomicU64,
    /// Nanoseconds since `origin` (Tokio's clock) of the latest rejection.
    last_rejection: AtomicU64,
    origin: tokio::time::Instant,
    name: Cow<'static, str>,
    kind: &'static str,
}

/// How long a limiter must go without rejecting before it reports that it recovered.
pub(crate) const QUIET: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

type Stripe = Padded<AtomicU64>;

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
            admitted: (0..STRIPES).map(|_| Padded(AtomicU64::new(0))).collect(),
            rejecting: Padded(AtomicBool::new(false)),
            rejected: AtomicU64::new(0),
            last_rejection: AtomicU64::new(0),
            origin: tokio::time::Instant::now(),
            name,
            kind,
        }
    }

    #[inline]
    pub(crate) fn admit(&self, n: u32) {
        let i = stripe();
        let count = &self.admitted[i].0;
        if i == 0 {
            count.fetch_add(u64::from(n), Ordering::Relaxed);
        } else {
            // Only this thread ever writes stripe `i`, so load + store loses nothing.
            count.store(
                count.load(Ordering::Relaxed).wrapping_add(u64::from(n)),
                Ordering::Relaxed,
            );
        }
        // A plain load on the hot path; the rest only runs while rejecting.
        if self.rejecting.0.load(Ordering::Relaxed) {
            self.maybe_recovered();
        }
    }

    #[cold]
    fn maybe_recovered(&self) {
        let quiet_since = self.last_rejection.load(Ordering::Relaxed);
        if self.elapsed().saturating_sub(quiet_since) >= duration_nanos(QUIET)
            && self.rejecting.0.swap(false, Ordering::Relaxed)
        {
            tracing::debug!(
                limiter = %self.name,
                kind = self.kind,
                rejected_total = self.rejected(),
                "limiter recovered: no rejection for {QUIET:?}"
            );
        }
    }

    fn elapsed(&self) -> u64 {
        duration_nanos(self.origin.elapsed())
    }

    #[cold]
    pub(crate) fn reject(&self, retry_after: Option<Duration>) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.last_rejection
            .fetch_max(self.elapsed(), Ordering::Relaxed);
        let rejecting = &self.rejecting.0;
        if !rejecting.load(Ordering::Relaxed) && !rejecting.swap(true, Ordering::Relaxed) {
            tracing::debug!(
                limiter = %self.name,
                kind = self.kind,
                retry_after_ms = retry_after.map(|d| d.as_secs_f64() * 1e3),
                "limiter started rejecting"
            );
        }
    }

    pub(crate) fn admitted(&self) -> u64 {
        self.admitted
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}
