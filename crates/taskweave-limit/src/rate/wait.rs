//! The FIFO of `acquire` callers, and the future that waits in it.
//!
//! Waiters are identified by their ticket (their place in line), never by their waker: a
//! waker is only something to call, and it may change on every poll.
//!
//! (Over 400 lines on purpose: the queue and the future that waits in it are one state machine;
//! split, each half would only make sense with the other open beside it.)

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Sleep;

use super::Inner;
use crate::error::Closed;
use taskweave_clock::Clock;

/// The FIFO of `acquire` callers.
///
/// Only the first waiter sleeps, until its request conforms. When it is served it also serves,
/// in order, every following waiter whose request conforms at that instant: their permits are
/// granted under the queue lock and they are woken together, so a burst of capacity reaches
/// queued tasks in one round of wake-ups rather than a chain of one wake-up per permit.
#[derive(Debug, Default)]
pub(super) struct WaitQueue {
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
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Nothing in a critical section of this queue can panic halfway through an update.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every queued waiter, once the limiter's `closed` flag is set: each finds the flag
    /// under this lock and leaves with `Closed`. A waiter joining later reads the flag under
    /// the lock too, so none can slip in unseen. Returns how many were woken.
    pub(super) fn close(&self) -> usize {
        let wake: Vec<Waker> = self
            .lock()
            .queued
            .values()
            .map(|w| w.waker.clone())
            .collect();
        let n = wake.len();
        for waker in wake {
            waker.wake();
        }
        n
    }
}

impl Waiters {
    fn head(&self) -> Option<u64> {
        self.queued.first_key_value().map(|(t, _)| *t)
    }

    /// Grants permits to queued waiters in order while their requests conform, collecting
    /// their wakers in `wake`; stops at the first that does not, and returns how long it must
    /// wait. That waiter is the new head: it is woken too, so that it starts its sleep.
    ///
    /// `caller` is the ticket of the waiter running this, if any: it is awake already, so its
    /// waker is not collected (waking it would make it poll again at once, in a loop).
    fn serve<C: Clock>(
        &mut self,
        inner: &Inner<C>,
        caller: Option<u64>,
        wake: &mut Vec<Waker>,
    ) -> Option<HeadWait> {
        let now = inner.clock.now_nanos();
        while let Some(entry) = self.queued.first_entry() {
            let ticket = *entry.key();
            let n = entry.get().n;
            match inner.gate.try_consume(now, n) {
                Ok(tat) => {
                    let waiter = entry.remove();
                    self.granted.insert(ticket, tat);
                    if caller != Some(ticket) {
                        wake.push(waiter.waker);
                    }
                }
                Err(wait) => {
                    if caller != Some(ticket) {
                        wake.push(entry.get().waker.clone());
                    }
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

/// The longest single sleep of the head waiter (one day). A longer wait sleeps again when it
/// wakes; the cap keeps every deadline far from the ends of `Instant`'s range.
const MAX_SLEEP: u64 = 86_400_000_000_000;

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

/// The future behind `acquire`: borrows the limiter (`&Inner`) in `acquire`, owns a handle
/// (`Arc<Inner>`) in a waiting `tower` layer.
pub(crate) struct Acquire<P: Deref<Target = Inner<C>>, C: Clock> {
    inner: P,
    clock: PhantomData<fn() -> C>,
    n: u32,
    state: State,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The clock reading at the last yield, to notice a clock that stands still.
    spun_at: Option<u64>,
    /// Yields left before short waits go back to the timer (see [`plan`]).
    yields_left: u32,
}

impl<P: Deref<Target = Inner<C>>, C: Clock> Acquire<P, C> {
    pub(super) fn new(inner: P, n: u32) -> Self {
        Self {
            inner,
            clock: PhantomData,
            n,
            state: State::Start,
            sleep: None,
            spun_at: None,
            yields_left: MAX_YIELDS,
        }
    }
}

/// Ends a wait: `Ok` counts the admission; `Err` leaves with the limiter closed.
fn finish<C: Clock>(
    inner: &Inner<C>,
    state: &mut State,
    n: u32,
    admitted: bool,
) -> Poll<Result<(), Closed>> {
    if let State::Queued(_) = *state {
        inner.queue.len.fetch_sub(1, Ordering::Relaxed);
        inner.counters.end_wait();
    }
    *state = State::Done;
    if admitted {
        inner.counters.admit(n);
        Poll::Ready(Ok(()))
    } else {
        Poll::Ready(Err(Closed))
    }
}

impl<P, C> Future for Acquire<P, C>
where
    P: Deref<Target = Inner<C>> + Unpin,
    C: Clock,
{
    type Output = Result<(), Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let this = self.get_mut();
        let inner: &Inner<C> = &this.inner;
        loop {
            match this.state {
                State::Start => {
                    if inner.closed.load(Ordering::Relaxed) {
                        return finish(inner, &mut this.state, this.n, false);
                    }
                    // Only skip the queue when it is empty, so later arrivals never overtake.
                    let mut wait = None;
                    if inner.queue.len() == 0 {
                        match inner.gate.try_consume(inner.clock.now_nanos(), this.n) {
                            Ok(_) => return finish(inner, &mut this.state, this.n, true),
                            Err(nanos) => wait = Some(Duration::from_nanos(nanos)),
                        }
                    }
                    let mut w = inner.queue.lock();
                    // Read under the lock: `close` sets the flag before it takes the lock to
                    // wake the queue, so a waiter either sees the flag or is woken.
                    if inner.closed.load(Ordering::SeqCst) {
                        drop(w);
                        return finish(inner, &mut this.state, this.n, false);
                    }
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
                    drop(w);
                    inner.counters.begin_wait(wait);
                    this.state = State::Queued(ticket);
                }
                State::Queued(ticket) => {
                    let mut w = inner.queue.lock();
                    if w.granted.remove(&ticket).is_some() {
                        drop(w);
                        return finish(inner, &mut this.state, this.n, true);
                    }
                    if inner.closed.load(Ordering::SeqCst) {
                        w.queued.remove(&ticket);
                        drop(w);
                        return finish(inner, &mut this.state, this.n, false);
                    }
                    // Whoever serves the queue next wakes the waker stored here, so it must be
                    // this poll's: the task (or the waker) may have changed since the last one.
                    if let Some(waiter) = w.queued.get_mut(&ticket) {
                        waiter.waker.clone_from(cx.waker());
                    }
                    if w.head() != Some(ticket) {
                        return Poll::Pending;
                    }
                    let mut wake = Vec::new();
                    let wait = w.serve(inner, Some(ticket), &mut wake);
                    let granted = w.granted.remove(&ticket).is_some();
                    drop(w);
                    for waker in wake {
                        waker.wake();
                    }
                    if granted {
                        return finish(inner, &mut this.state, this.n, true);
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
                        Plan::Sleep(nanos) => nanos.min(MAX_SLEEP),
                    };
                    this.spun_at = None;
                    let deadline = tokio::time::Instant::now() + Duration::from_nanos(sleep_for);
                    // A new timer each time rather than `reset`: the runtime whose timer the
                    // previous sleep was registered with may have been dropped since (a future
                    // moved to another runtime), and resetting such a sleep panics.
                    let sleep = this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep_until(deadline)));
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                // Only reached by polling again after completion; a finished wait holds nothing.
                State::Done => return Poll::Ready(Err(Closed)),
            }
        }
    }
}

impl<P: Deref<Target = Inner<C>>, C: Clock> Drop for Acquire<P, C> {
    fn drop(&mut self) {
        let State::Queued(ticket) = self.state else {
            return;
        };
        let inner: &Inner<C> = &self.inner;
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
                w.serve(inner, None, &mut wake);
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
        inner.counters.end_wait();
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
