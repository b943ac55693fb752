//! [`RateLimiter`]: GCRA quotas, non-waiting checks and fair, cancel-safe waiting.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Sleep;

use crate::clock::{Clock, TokioClock, duration_nanos};
use crate::error::{CheckError, ConfigError, ExceedsBurst, RetryAfter};
use crate::gcra::Gate;
use crate::metrics::{Counters, Metrics};
use crate::quota::Quota;

/// A rate limiter: one or more [`Quota`]s, all of which a request must satisfy.
///
/// The state of a single quota is one atomic word (GCRA), so [`check`](Self::check) is a clock
/// read and a compare-and-swap: no lock, no background task, no refill timer. Clones share the
/// same limit.
///
/// [`acquire`](Self::acquire) waits in a FIFO queue: only the oldest waiter sleeps (until the
/// moment its request conforms); when it is served, the waiters behind it whose requests also
/// conform are served in order and woken together. Nobody is overtaken, and capacity wakes
/// the tasks it can serve, not a herd. The non-waiting [`check`](Self::check) does not queue
/// and may take capacity ahead of waiters.
///
/// Waiting sleeps on Tokio's timer, which has 1 ms ticks and can fire up to ~2 ms late; while
/// a waiter oversleeps, capacity beyond the burst is lost. When the quota's burst absorbs that
/// (2 ms of the rate or more), waiters just sleep. When it does not, a wait shorter than 50 µs
/// is spent yielding to the scheduler and checking again instead (at most 256 times per
/// `acquire`, and never on a clock that stands still, such as paused Tokio time), so that
/// high rates with small bursts are still delivered in full. Longer waits on such a quota may
/// lose capacity; see [`spin_wait`](RateLimiterBuilder::spin_wait).
pub struct RateLimiter<C: Clock = TokioClock> {
    inner: Arc<Inner<C>>,
}

struct Inner<C> {
    gate: Gate,
    counters: Counters,
    burst: u32,
    clock: C,
    queue: WaitQueue,
    /// Nanoseconds at the end of a wait spent yielding rather than sleeping.
    spin: u64,
}

impl<C: Clock> Clone for RateLimiter<C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock> fmt::Debug for RateLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.counters.name())
            .field("gate", &self.inner.gate)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl RateLimiter {
    /// A limiter with one quota on Tokio's clock.
    ///
    /// # Errors
    /// [`ConfigError`] if the quota is invalid (zero count, period or burst; rate finer than 1 ns).
    pub fn new(quota: Quota) -> Result<Self, ConfigError> {
        Self::builder().quota(quota).build()
    }

    /// A builder for several quotas, a name for tracing, or another clock.
    pub fn builder() -> RateLimiterBuilder {
        RateLimiterBuilder {
            quotas: Vec::new(),
            name: Cow::Borrowed("rate"),
            clock: TokioClock::new(),
            spin: Duration::ZERO,
        }
    }
}

impl<C: Clock> RateLimiter<C> {
    /// Admits one permit now, or says how long until one would conform. Never waits.
    ///
    /// # Errors
    /// [`RetryAfter`] with the wait until the request would conform.
    #[inline]
    pub fn check(&self) -> Result<(), RetryAfter> {
        let inner = &*self.inner;
        let now = inner.clock.now_nanos();
        match inner.gate.try_consume(now, 1) {
            Ok(_) => {
                inner.counters.admit(1);
                Ok(())
            }
            Err(wait) => Err(inner.rejected(wait)),
        }
    }

    /// Admits `n` permits at once (all or none), or says why not. Never waits.
    ///
    /// # Errors
    /// [`CheckError::RetryAfter`] if they would conform later; [`CheckError::ExceedsBurst`] if
    /// `n` is larger than the burst and never will.
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<(), CheckError> {
        let inner = &*self.inner;
        inner.fits(n)?;
        if n == 0 {
            return Ok(());
        }
        let now = inner.clock.now_nanos();
        match inner.gate.try_consume(now, n) {
            Ok(_) => {
                inner.counters.admit(n);
                Ok(())
            }
            Err(wait) => Err(inner.rejected(wait).into()),
        }
    }

    /// Waits until one permit conforms and takes it.
    ///
    /// # Cancel safety
    /// Cancel-safe: a dropped future leaves the queue (waking the next waiter if it was first)
    /// and consumes nothing. If it was dropped after being served but before being polled, its
    /// permit is refunded, exactly, as long as that happens before the burst tolerance has
    /// elapsed since the grant; later than that it stays consumed (erring on the side of the
    /// limit), which is logged at `debug`.
    pub async fn acquire(&self) {
        Acquire::new(&self.inner, 1).await;
    }

    /// Waits until `n` permits conform and takes them all at once. Waiters are served in
    /// arrival order, so a large request is not starved by small ones arriving after it.
    ///
    /// # Errors
    /// [`ExceedsBurst`] at once, without waiting, if `n` is larger than the burst.
    ///
    /// # Cancel safety
    /// Cancel-safe, as [`acquire`](Self::acquire).
    pub async fn acquire_n(&self, n: u32) -> Result<(), ExceedsBurst> {
        self.inner.fits(n)?;
        if n > 0 {
            Acquire::new(&self.inner, n).await;
        }
        Ok(())
    }

    /// Admits `n` permits only if they conform now and nobody is queued in `acquire` ahead.
    #[cfg(feature = "tower")]
    pub(crate) fn try_acquire_fair(&self, n: u32) -> Result<(), CheckError> {
        let inner = &*self.inner;
        inner.fits(n)?;
        if inner.queue.len() > 0 {
            return Err(CheckError::RetryAfter(RetryAfter(Duration::ZERO)));
        }
        self.check_n(n)
    }

    /// The largest request that can ever be admitted: the smallest burst among the quotas.
    pub fn burst(&self) -> u32 {
        self.inner.burst
    }

    /// A snapshot of the counters; `limit` is the burst.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            admitted: self.inner.counters.admitted(),
            rejected: self.inner.counters.rejected(),
            waiting: self.inner.queue.len(),
            limit: self.inner.burst as usize,
            in_flight: 0,
        }
    }
}

impl<C: Clock> Inner<C> {
    #[inline]
    fn fits(&self, n: u32) -> Result<(), ExceedsBurst> {
        if n > self.burst {
            Err(ExceedsBurst {
                requested: n,
                burst: self.burst,
            })
        } else {
            Ok(())
        }
    }

    #[cold]
    fn rejected(&self, wait_nanos: u64) -> RetryAfter {
        let wait = Duration::from_nanos(wait_nanos);
        self.counters.reject(Some(wait));
        RetryAfter(wait)
    }
}

/// Builds a [`RateLimiter`]; see [`RateLimiter::builder`].
#[derive(Debug)]
pub struct RateLimiterBuilder<C = TokioClock> {
    quotas: Vec<Quota>,
    name: Cow<'static, str>,
    clock: C,
    spin: Duration,
}

impl<C: Clock> RateLimiterBuilder<C> {
    /// Adds a quota. A request must conform to every quota; one that fails any consumes none.
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quotas.push(quota);
        self
    }

    /// Names the limiter in its `tracing` events (default `"rate"`).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Reads time from `clock` instead of Tokio's.
    pub fn clock<C2: Clock>(self, clock: C2) -> RateLimiterBuilder<C2> {
        RateLimiterBuilder {
            quotas: self.quotas,
            name: self.name,
            clock,
            spin: self.spin,
        }
    }

    /// Spends the last `spin` of each wait in `acquire` yielding to the scheduler and checking
    /// again, instead of on Tokio's timer (default: zero, never).
    ///
    /// Tokio's timer has 1 ms ticks, so a waiter can oversleep by up to ~2 ms, and capacity
    /// accrued beyond the burst meanwhile is lost. By default only waits shorter than 50 µs
    /// are yielded through, and only on quotas whose burst is under 2 ms of the rate; a wait
    /// of, say, 0.5 ms at 2,000/s with a burst of 1 still sleeps and loses. Spinning the last
    /// ~2 ms makes every wait precise, at the cost of keeping one worker busy while the
    /// limiter is saturated. Prefer a larger burst when the downstream allows it. Ignored
    /// while the clock stands still (paused Tokio time), where yielding cannot help.
    pub fn spin_wait(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Validates the quotas and builds the limiter.
    ///
    /// # Errors
    /// [`ConfigError::NoQuota`] without a quota, or the first invalid quota's error.
    pub fn build(self) -> Result<RateLimiter<C>, ConfigError> {
        if self.quotas.is_empty() {
            return Err(ConfigError::NoQuota);
        }
        let params = self
            .quotas
            .iter()
            .map(Quota::params)
            .collect::<Result<Vec<_>, _>>()?;
        let gate = Gate::new(params);
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                burst: gate.burst(),
                gate,
                clock: self.clock,
                counters: Counters::new("rate", self.name),
                queue: WaitQueue::default(),
                spin: duration_nanos(self.spin),
            }),
        })
    }
}

/// The FIFO of `acquire` callers.
///
/// Only the first waiter sleeps, until its request conforms. When it is served it also serves,
/// in order, every following waiter whose request conforms at that instant: their permits are
/// granted under the queue lock and they are woken together, so a burst of capacity reaches
/// queued tasks in one round of wake-ups rather than a chain of one wake-up per permit.
#[derive(Debug, Default)]
struct WaitQueue {
    waiters: Mutex<Waiters>,
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct Waiters {
    next_ticket: u64,
    /// Waiters not yet served, by ticket (arrival order).
    queued: BTreeMap<u64, Waiter>,
    /// Waiters served but not yet polled: ticket to the TAT their grant produced.
    granted: HashMap<u64, u64>,
}

#[derive(Debug)]
struct Waiter {
    n: u32,
    waker: Waker,
}

impl WaitQueue {
    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Nothing in a critical section of this queue can panic halfway through an update.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Waiters {
    fn head(&self) -> Option<u64> {
        self.queued.first_key_value().map(|(t, _)| *t)
    }

    /// Grants permits to queued waiters in order while their requests conform, collecting
    /// their wakers in `wake`; stops at the first that does not, and returns how long it must
    /// wait. That waiter is the new head: it is woken too, so that it starts its sleep.
    fn serve<C: Clock>(&mut self, inner: &Inner<C>, wake: &mut Vec<Waker>) -> Option<HeadWait> {
        let now = inner.clock.now_nanos();
        while let Some(entry) = self.queued.first_entry() {
            let n = entry.get().n;
            match inner.gate.try_consume(now, n) {
                Ok(tat) => {
                    let ticket = *entry.key();
                    let waiter = entry.remove();
                    self.granted.insert(ticket, tat);
                    wake.push(waiter.waker);
                }
                Err(wait) => {
                    wake.push(entry.get().waker.clone());
                    return Some(HeadWait {
                        wait,
                        now,
                        headroom: inner.gate.headroom(now, n),
                    });
                }
            }
        }
        None
    }
}

/// Why the head of the queue still waits, as [`Waiters::serve`] found it (nanoseconds).
#[derive(Debug, Clone, Copy)]
struct HeadWait {
    /// Until its request conforms.
    wait: u64,
    /// The clock reading the decision was made at.
    now: u64,
    /// How late it may be served after that without the limiter losing capacity.
    headroom: u64,
}

/// How late Tokio's timer may fire: it rounds deadlines up to its 1 ms tick and its driver can
/// wake up to a tick after that, plus the OS's own timer slack.
const TIMER_LATENESS: u64 = 2_000_000;

/// The longest remaining wait that `acquire` yields through by default instead of sleeping,
/// when sleeping would lose capacity: far below a tick, so a waiter never spends more than
/// this polling per wait.
const SHORT_WAIT: u64 = 50_000;

/// How many times one `acquire` may yield by default before it falls back to the timer, so
/// that `check` callers taking capacity ahead of it cannot keep it polling.
const MAX_YIELDS: u32 = 256;

/// What the head waiter does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Wake itself and check again (the clock moves meanwhile).
    Yield,
    /// Sleep on Tokio's timer for this many nanoseconds.
    Sleep(u64),
}

/// Chooses between sleeping and yielding for a head waiter that must wait `head.wait`.
///
/// Sleeping costs nothing but may fire up to [`TIMER_LATENESS`] late. That is harmless while
/// the quota's headroom absorbs it: the burst refills meanwhile and the waiter takes it when
/// it wakes. Below that, a late wake-up loses the capacity accrued beyond the burst (at a burst
/// of exactly 1 ms of the rate, about a tenth of the quota); so a wait short enough to be cheap
/// to poll through ([`SHORT_WAIT`]) is spent yielding instead, at most `yields_left` times. The
/// explicit `spin` ([`RateLimiterBuilder::spin_wait`]) yields through the last `spin` of any
/// wait, without a budget. `clock_moved` is false when the clock has not advanced since the
/// previous yield (paused Tokio time), where only the timer can make time pass.
fn plan(head: HeadWait, spin: u64, yields_left: u32, clock_moved: bool) -> Plan {
    if clock_moved {
        if head.wait <= spin {
            return Plan::Yield;
        }
        if head.wait <= SHORT_WAIT && head.headroom < TIMER_LATENESS && yields_left > 0 {
            return Plan::Yield;
        }
    }
    if head.wait > spin {
        Plan::Sleep(head.wait - spin)
    } else {
        Plan::Sleep(head.wait)
    }
}

enum State {
    Start,
    Queued(u64),
    Done,
}

/// The future behind `acquire`.
struct Acquire<'a, C: Clock> {
    inner: &'a Inner<C>,
    n: u32,
    state: State,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The clock reading at the last yield, to notice a clock that stands still.
    spun_at: Option<u64>,
    /// Yields left before short waits go back to the timer (see [`plan`]).
    yields_left: u32,
}

impl<'a, C: Clock> Acquire<'a, C> {
    fn new(inner: &'a Inner<C>, n: u32) -> Self {
        Self {
            inner,
            n,
            state: State::Start,
            sleep: None,
            spun_at: None,
            yields_left: MAX_YIELDS,
        }
    }

    fn finish(&mut self) -> Poll<()> {
        self.inner.counters.admit(self.n);
        self.state = State::Done;
        Poll::Ready(())
    }
}

impl<C: Clock> Future for Acquire<'_, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let inner = this.inner;
        loop {
            match this.state {
                State::Start => {
                    // Only skip the queue when it is empty, so later arrivals never overtake.
                    if inner.queue.len() == 0
                        && inner
                            .gate
                            .try_consume(inner.clock.now_nanos(), this.n)
                            .is_ok()
                    {
                        return this.finish();
                    }
                    let mut w = inner.queue.lock();
                    let ticket = w.next_ticket;
                    w.next_ticket += 1;
                    w.queued.insert(
                        ticket,
                        Waiter {
                            n: this.n,
                            waker: cx.waker().clone(),
                        },
                    );
                    inner.queue.len.fetch_add(1, Ordering::Relaxed);
                    this.state = State::Queued(ticket);
                }
                State::Queued(ticket) => {
                    let mut w = inner.queue.lock();
                    if w.granted.remove(&ticket).is_some() {
                        drop(w);
                        inner.queue.len.fetch_sub(1, Ordering::Relaxed);
                        return this.finish();
                    }
                    if w.head() != Some(ticket) {
                        if let Some(waiter) = w.queued.get_mut(&ticket) {
                            waiter.waker.clone_from(cx.waker());
                        }
                        return Poll::Pending;
                    }
                    let mut wake = Vec::new();
                    let wait = w.serve(inner, &mut wake);
                    let granted = w.granted.remove(&ticket).is_some();
                    drop(w);
                    for waker in wake {
                        if !waker.will_wake(cx.waker()) {
                            waker.wake();
                        }
                    }
                    if granted {
                        inner.queue.len.fetch_sub(1, Ordering::Relaxed);
                        return this.finish();
                    }
                    // Still first in line: wait until the request conforms, on Tokio's timer
                    // or, where its lateness would lose capacity, by yielding (see `plan`).
                    let Some(head) = wait else {
                        continue;
                    };
                    let clock_moved = this.spun_at != Some(head.now);
                    let sleep_for = match plan(head, inner.spin, this.yields_left, clock_moved) {
                        Plan::Yield => {
                            this.spun_at = Some(head.now);
                            this.yields_left = this.yields_left.saturating_sub(1);
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        Plan::Sleep(nanos) => nanos,
                    };
                    this.spun_at = None;
                    let deadline = tokio::time::Instant::now() + Duration::from_nanos(sleep_for);
                    let sleep = match &mut this.sleep {
                        Some(sleep) => {
                            sleep.as_mut().reset(deadline);
                            sleep
                        }
                        None => this
                            .sleep
                            .insert(Box::pin(tokio::time::sleep_until(deadline))),
                    };
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                State::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<C: Clock> Drop for Acquire<'_, C> {
    fn drop(&mut self) {
        let State::Queued(ticket) = self.state else {
            return;
        };
        let inner = self.inner;
        let mut w = inner.queue.lock();
        let mut wake = Vec::new();
        if let Some(granted_tat) = w.granted.remove(&ticket) {
            // Served but never told: give the permits back, and to the waiters behind.
            let now = inner.clock.now_nanos();
            if !inner.gate.refund(now, self.n, granted_tat) {
                tracing::debug!(
                    limiter = %inner.counters.name(),
                    permits = self.n,
                    "acquire dropped after its permits were granted; they could not be refunded exactly and stay consumed"
                );
            }
            if w.head().is_some() {
                w.serve(inner, &mut wake);
            }
        } else {
            let was_head = w.head() == Some(ticket);
            w.queued.remove(&ticket);
            if was_head {
                if let Some((_, next)) = w.queued.first_key_value() {
                    wake.push(next.waker.clone());
                }
            }
        }
        inner.queue.len.fetch_sub(1, Ordering::Relaxed);
        drop(w);
        for waker in wake {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(wait: u64, headroom: u64) -> HeadWait {
        HeadWait {
            wait,
            now: 0,
            headroom,
        }
    }

    #[test]
    fn sleeps_when_the_burst_absorbs_a_late_timer() {
        let h = head(10_000, TIMER_LATENESS);
        assert_eq!(plan(h, 0, MAX_YIELDS, true), Plan::Sleep(10_000));
    }

    #[test]
    fn yields_through_short_waits_that_a_late_timer_would_lose() {
        let h = head(10_000, 990_000);
        assert_eq!(plan(h, 0, MAX_YIELDS, true), Plan::Yield);
        assert_eq!(plan(head(SHORT_WAIT, 0), 0, 1, true), Plan::Yield);
        // Too long to poll through: sleep, even if late.
        let long = head(SHORT_WAIT + 1, 0);
        assert_eq!(plan(long, 0, MAX_YIELDS, true), Plan::Sleep(SHORT_WAIT + 1));
    }

    #[test]
    fn yielding_is_bounded() {
        let h = head(10_000, 0);
        // Out of yields, or on a clock that stands still: back to the timer.
        assert_eq!(plan(h, 0, 0, true), Plan::Sleep(10_000));
        assert_eq!(plan(h, 0, MAX_YIELDS, false), Plan::Sleep(10_000));
    }

    #[test]
    fn spin_wait_yields_through_the_end_of_any_wait() {
        let spin = 2_000_000;
        let far = head(5_000_000, u64::MAX);
        assert_eq!(plan(far, spin, 0, true), Plan::Sleep(3_000_000));
        let near = head(1_500_000, u64::MAX);
        assert_eq!(plan(near, spin, 0, true), Plan::Yield);
        assert_eq!(plan(near, spin, 0, false), Plan::Sleep(1_500_000));
    }
}
