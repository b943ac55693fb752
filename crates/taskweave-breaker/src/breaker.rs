//! The breaker: admission and observation. Recording in the closed state lives in `closed`,
//! half-open trials in `trials`, manual transitions and their announcement in `transition`,
//! permits and the `call` guard in `permit`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

use taskweave_clock::{Clock, CoarseClock, DefaultClock, duration_nanos};
use tokio::sync::broadcast;

use crate::builder::Builder;
use crate::classify::{Classify, FailOnErr, Outcome};
use crate::config::Config;
use crate::error::{CallError, Rejected};
use crate::loom::AtomicU64;
use crate::metrics::Metrics;
use crate::state::{HalfOpenDeadline, State, Transition, Trials, Word};
use crate::time::{CallTimer, TimeSource};
use crate::window::{Counts, Window};
use crossbeam_utils::CachePadded;

mod closed;
mod permit;
mod transition;
mod trials;

use permit::Guard;
pub use permit::Permit;

/// A circuit breaker: admits calls to a dependency while it is healthy, rejects them for a while
/// once too many fail or are slow, then lets a few trial calls decide whether to resume.
///
/// Cloning is cheap and every clone shares the same breaker. See the [crate docs](crate) for the
/// state machine, and [`Builder`] for the settings.
pub struct Breaker<C = FailOnErr> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Breaker<C> {
    fn clone(&self) -> Self {
        Breaker {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C> fmt::Debug for Breaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.inner.config.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

struct Inner<C> {
    /// The packed state word (see `state.rs`): read by every call, written by transitions and
    /// half-open trials only, so it stays shared in every core's cache while closed.
    state: AtomicU64,
    config: Config,
    /// `config.slow_call_duration` in nanoseconds.
    slow_nanos: Option<u64>,
    /// What times calls, if slow calls are counted.
    call_timer: CallTimer,
    /// Whether recording an outcome reads the breaker's clock: for a time window, or to time
    /// the call on it.
    clock_at_end: bool,
    window: Window,
    /// The breaker's clock: times are kept as nanoseconds since the breaker was built.
    clock: TimeSource,
    /// Consecutive trips without closing in between, for the growing wait.
    trips: AtomicU64,
    /// When the current half-open state gives up on trials still held (a `HalfOpenDeadline`).
    /// Written once per entry into half-open, read only by calls the half-open state rejects.
    half_open_deadline: AtomicU64,
    transitions: AtomicU64,
    /// Outcomes dropped because their permit predates the latest transition.
    stale_outcomes: AtomicU64,
    /// Written by every rejected call, so kept off the state's cache line.
    rejected: CachePadded<AtomicU64>,
    events: broadcast::Sender<Transition>,
    classifier: C,
}

/// What an admitted call carries until its outcome is recorded.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    /// The state word that admitted the call (`Closed`, `HalfOpen` or `Disabled`).
    word: Word,
    /// When the call started on the call timer, if slow calls are counted.
    start: u64,
}

impl Ticket {
    fn state(&self) -> State {
        self.word.state()
    }
}

impl Breaker<FailOnErr> {
    /// Starts building a breaker; see [`Builder`] for the settings and their defaults.
    pub fn builder() -> Builder<FailOnErr> {
        Builder::new()
    }
}

impl<C> Breaker<C> {
    pub(crate) fn from_parts(
        config: Config,
        classifier: C,
        clock: Option<Arc<dyn Clock>>,
    ) -> Breaker<C> {
        let window = Window::new(config.window, config.minimum_calls);
        let slow_nanos = config.slow_call_duration.map(duration_nanos);
        // The coarse clock is probed only for a breaker that counts slow calls.
        let call_timer = CallTimer::choose(
            config.slow_call_duration,
            clock.is_some(),
            DefaultClock::FOLLOWS_TOKIO,
            config.slow_call_duration.and_then(|_| CoarseClock::new()),
        );
        let clock_at_end = reads_clock_at_end(&window, slow_nanos.is_some(), &call_timer);
        let (events, _) = broadcast::channel(config.event_capacity);
        Breaker {
            inner: Arc::new(Inner {
                state: AtomicU64::new(Word::closed(0).0),
                slow_nanos,
                call_timer,
                clock_at_end,
                window,
                clock: TimeSource::new(clock),
                trips: AtomicU64::new(0),
                // Never expires, should a half-open state ever match its epoch.
                half_open_deadline: AtomicU64::new(
                    HalfOpenDeadline::new(0, HalfOpenDeadline::NEVER_MS).0,
                ),
                transitions: AtomicU64::new(0),
                stale_outcomes: AtomicU64::new(0),
                rejected: CachePadded::new(AtomicU64::new(0)),
                events,
                classifier,
                config,
            }),
        }
    }

    /// Runs `op` if the breaker admits a call, and records its result as the classifier says.
    ///
    /// # Errors
    ///
    /// [`CallError::Rejected`] without running `op` when the breaker is open, forced open, or
    /// half-open with all trial calls taken; [`CallError::Operation`] with `op`'s error otherwise.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before `op` completes records nothing; a half-open trial slot it held
    /// is freed for another call.
    pub async fn call<F, Fut, T, E>(&self, op: F) -> Result<T, CallError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classify<T, E>,
    {
        let mut guard = Guard {
            inner: &self.inner,
            ticket: self.inner.acquire()?,
            armed: true,
        };
        let result = op().await;
        // By reference: moving the guard out of the future's state right after writing it
        // costs a store-forwarding stall, a third of the closed breaker's whole cost.
        guard.finish(self.inner.classifier.classify(&result));
        result.map_err(CallError::Operation)
    }

    /// Asks for permission to make one call, for code that is not a single future (streams,
    /// callbacks): record the outcome on the returned [`Permit`] when the call is done.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the breaker is open, forced open, or half-open with all trial calls
    /// taken. A rejection is counted in [`Metrics::rejected_calls`].
    pub fn try_acquire(&self) -> Result<Permit<C>, Rejected> {
        let ticket = self.inner.acquire()?;
        Ok(Permit {
            breaker: self.clone(),
            ticket,
            armed: true,
        })
    }

    /// The current state.
    ///
    /// An open breaker stays `Open` past its wait duration until the next call arrives and
    /// turns it half-open: there is no timer.
    pub fn state(&self) -> State {
        Word(self.inner.state.load(Acquire)).state()
    }

    /// A snapshot of the window (or, when half-open, of the trial calls) and of the counters.
    pub fn metrics(&self) -> Metrics {
        let inner = &*self.inner;
        let word = Word(inner.state.load(Acquire));
        let counts = if word.state() == State::HalfOpen {
            trial_counts(word.trials())
        } else {
            let now = if inner.window.needs_clock() {
                inner.now()
            } else {
                0
            };
            inner.window.counts(now)
        };
        Metrics {
            state: word.state(),
            buffered_calls: counts.calls,
            failed_calls: counts.failed,
            slow_calls: counts.slow,
            rejected_calls: inner.rejected.load(Relaxed),
            transitions: inner.transitions.load(Relaxed),
            stale_outcomes: inner.stale_outcomes.load(Relaxed),
        }
    }

    /// Subscribes to state transitions, delivered in the order they happened for transitions
    /// made one after another (as they are in practice: each needs calls or time in between).
    ///
    /// The channel holds `event_capacity` transitions; a receiver that falls further behind gets
    /// `RecvError::Lagged` with the number it missed, then the newest ones.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.inner.events.subscribe()
    }

    /// Opens the breaker until [`reset`](Breaker::reset), [`disable`](Breaker::disable) or
    /// [`half_open`](Breaker::half_open) is called; every call is rejected meanwhile.
    pub fn force_open(&self) {
        self.inner.transition_by_hand(State::ForcedOpen);
    }

    /// Turns the breaker off: every call is admitted and nothing is recorded, until another
    /// manual transition.
    pub fn disable(&self) {
        self.inner.transition_by_hand(State::Disabled);
    }

    /// Closes the breaker and empties its window, whatever its state. Outcomes being recorded at
    /// the same moment may be cleared along with the window.
    pub fn reset(&self) {
        self.inner.transition_by_hand(State::Closed);
    }

    /// Ends the wait now: the breaker becomes half-open and admits its trial calls.
    pub fn half_open(&self) {
        self.inner.transition_by_hand(State::HalfOpen);
    }
}

impl<C> Inner<C> {
    /// Nanoseconds since the breaker was built, on its clock.
    #[inline]
    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// When a call starts, on the call timer; zero if slow calls are not counted.
    #[inline]
    fn start_time(&self) -> u64 {
        if self.slow_nanos.is_none() {
            return 0;
        }
        match &self.call_timer {
            CallTimer::Breaker => self.now(),
            CallTimer::Coarse(clock) => clock.now_nanos(),
        }
    }

    /// When a call ends, on the call timer, given `now` on the breaker's clock (read if
    /// `clock_at_end`).
    #[inline]
    fn end_time(&self, now: u64) -> u64 {
        match &self.call_timer {
            // Chosen only when slow calls are counted.
            CallTimer::Coarse(clock) => clock.now_nanos(),
            CallTimer::Breaker => now,
        }
    }

    #[inline]
    fn ticket(&self, word: Word) -> Ticket {
        Ticket {
            word,
            start: self.start_time(),
        }
    }

    /// Admits a call or rejects it. Closed: one atomic load.
    #[inline(always)]
    fn acquire(&self) -> Result<Ticket, Rejected> {
        let word = Word(self.state.load(Acquire));
        if word.state() == State::Closed {
            return Ok(self.ticket(word));
        }
        self.acquire_slow(word)
    }

    fn acquire_slow(&self, mut word: Word) -> Result<Ticket, Rejected> {
        loop {
            match word.state() {
                State::Closed | State::Disabled => return Ok(self.ticket(word)),
                State::ForcedOpen => return Err(self.reject(State::ForcedOpen, None)),
                State::Open => {
                    let now = self.now();
                    let deadline = word.deadline_ms().saturating_mul(1_000_000);
                    if now < deadline {
                        let after = Duration::from_nanos(deadline - now);
                        return Err(self.reject(State::Open, Some(after)));
                    }
                    // The wait is over: this caller turns the breaker half-open and takes the
                    // first trial.
                    let trials = Trials {
                        admitted: 1,
                        ..Trials::default()
                    };
                    let next = Word::half_open(word.next_epoch(), trials);
                    match self.swap_state(word, next) {
                        Ok(()) => {
                            self.start_half_open_clock(next, now);
                            // Only the caller that won the swap clears the window: a loser
                            // clearing it could wipe a window that the trials had already
                            // closed. Nobody records into it meanwhile, since the breaker
                            // cannot close before this caller's own trial is recorded.
                            self.window.clear();
                            self.announce(word, next, None, None);
                            return Ok(self.ticket(next));
                        }
                        Err(actual) => word = actual,
                    }
                }
                State::HalfOpen => {
                    let mut trials = word.trials();
                    if trials.admitted >= self.config.half_open_calls {
                        if !self.half_open_expired(word) {
                            return Err(self.reject(State::HalfOpen, None));
                        }
                        match self.abandon_trials(word) {
                            Ok(rejected) => return Err(rejected),
                            Err(actual) => {
                                word = actual;
                                continue;
                            }
                        }
                    }
                    trials.admitted += 1;
                    let next = Word::half_open(word.epoch(), trials);
                    match self.swap_state(word, next) {
                        Ok(()) => return Ok(self.ticket(next)),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    /// Counts an outcome dropped because its permit predates the latest transition.
    #[cold]
    fn stale_outcome(&self, ticket: &Ticket) {
        self.stale_outcomes.fetch_add(1, Relaxed);
        tracing::debug!(
            breaker = self.name(),
            admitted_in = %ticket.state(),
            "circuit breaker dropped a stale outcome"
        );
    }

    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        self.rejected.fetch_add(1, Relaxed);
        Rejected { state, retry_after }
    }

    fn swap_state(&self, current: Word, next: Word) -> Result<(), Word> {
        self.state
            .compare_exchange(current.0, next.0, AcqRel, Acquire)
            .map(drop)
            .map_err(Word)
    }

    /// Records the outcome of a call admitted with `ticket`; `elapsed` overrides the measured
    /// duration.
    #[inline(always)]
    fn record(&self, ticket: &Ticket, outcome: Outcome, elapsed: Option<Duration>) {
        match ticket.state() {
            State::Closed => self.record_closed(ticket, outcome, elapsed),
            State::HalfOpen => self.record_trial(ticket, outcome, elapsed),
            _ => {}
        }
    }

    /// Gives back a half-open trial slot whose call will not be recorded.
    fn release(&self, ticket: &Ticket) {
        if ticket.state() == State::HalfOpen {
            self.record_trial(ticket, Outcome::Ignored, None);
        }
    }

    /// Whether the call took at least the slow-call threshold: `elapsed` if the caller measured
    /// it, else from its start to `end` on the call timer.
    fn is_slow(&self, ticket: &Ticket, end: u64, elapsed: Option<Duration>) -> bool {
        self.slow_nanos.is_some_and(|threshold| {
            let took = elapsed.map_or_else(|| end.saturating_sub(ticket.start), duration_nanos);
            took >= threshold
        })
    }

    fn name(&self) -> &str {
        self.config.name.as_deref().unwrap_or("")
    }
}

/// Whether recording an outcome reads the breaker's clock: for a time window, or to time a call
/// that the breaker's clock times.
fn reads_clock_at_end(window: &Window, counts_slow_calls: bool, call_timer: &CallTimer) -> bool {
    window.needs_clock() || (counts_slow_calls && matches!(call_timer, CallTimer::Breaker))
}

/// The deadline, in whole milliseconds rounded up, of an open state entered at `now` (in
/// nanoseconds) for `wait`.
fn deadline_ms(now: u64, wait: Duration) -> u64 {
    now.saturating_add(duration_nanos(wait)).div_ceil(1_000_000)
}

fn trial_counts(t: Trials) -> Counts {
    Counts {
        calls: t.recorded.into(),
        failed: t.failed.into(),
        slow: t.slow.into(),
    }
}

#[cfg(all(
    test,
    not(taskweave_loom),
    any(target_os = "linux", target_os = "android")
))]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Tests build with `test-util`, where every call is timed on Tokio's clock: this one swaps
    /// in the coarse timer that a release build picks for long thresholds, and times real calls
    /// on it. The slow call busy-waits until the coarse clock has moved (no sleep, no guess).
    #[test]
    fn calls_timed_on_the_coarse_clock_are_slow_once_they_span_the_threshold() {
        let coarse = CoarseClock::new().expect("Linux has a coarse clock");
        let tick = duration_nanos(coarse.resolution());
        let mut breaker = Breaker::builder()
            .slow_call_duration(coarse.resolution() * 3)
            .build()
            .expect("valid settings");
        let inner = Arc::get_mut(&mut breaker.inner).expect("not shared yet");
        inner.call_timer = CallTimer::Coarse(coarse);
        inner.clock_at_end = reads_clock_at_end(&inner.window, true, &inner.call_timer);

        // Quick calls span at most one tick of the coarse clock: not slow.
        for _ in 0..100 {
            breaker
                .try_acquire()
                .expect("closed")
                .record(Outcome::Success);
        }
        // A call that lasts four ticks, as the coarse clock sees them.
        let permit = breaker.try_acquire().expect("closed");
        let (from, deadline) = (coarse.now_nanos(), Instant::now() + Duration::from_secs(10));
        while coarse.now_nanos() - from < 4 * tick {
            assert!(Instant::now() < deadline, "the coarse clock stopped");
        }
        permit.record(Outcome::Success);

        let metrics = breaker.metrics();
        assert_eq!((metrics.buffered_calls, metrics.slow_calls), (100, 1));
    }
}
