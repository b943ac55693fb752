//! The breaker: admission, recording, transitions and observation.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::classify::{Classify, FailOnErr, Outcome};
use crate::config::{Builder, Config};
use crate::error::{CallError, Rejected};
use crate::loom::AtomicU64;
use crate::metrics::Metrics;
use crate::state::{State, Transition, Trials, Word};
use crate::window::{Counts, Padded, Window};

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
    /// Whether recording an outcome needs the current time.
    clock_at_end: bool,
    window: Window,
    /// The zero of the breaker's clock: times are kept as nanoseconds since then.
    origin: Instant,
    /// Consecutive trips without closing in between, for the growing wait.
    trips: AtomicU64,
    transitions: AtomicU64,
    /// Written by every rejected call, so kept off the state's cache line.
    rejected: Padded<AtomicU64>,
    events: broadcast::Sender<Transition>,
    classifier: C,
}

/// What an admitted call carries until its outcome is recorded.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    /// The state word that admitted the call (`Closed`, `HalfOpen` or `Disabled`).
    word: Word,
    /// When the call started, if slow calls are counted.
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
    pub(crate) fn from_parts(config: Config, classifier: C) -> Breaker<C> {
        let window = Window::new(config.window, config.minimum_calls);
        let slow_nanos = config.slow_call_duration.map(duration_nanos);
        let (events, _) = broadcast::channel(config.event_capacity);
        Breaker {
            inner: Arc::new(Inner {
                state: AtomicU64::new(Word::closed(0).0),
                slow_nanos,
                clock_at_end: slow_nanos.is_some() || window.needs_clock(),
                window,
                origin: Instant::now(),
                trips: AtomicU64::new(0),
                transitions: AtomicU64::new(0),
                rejected: Padded(AtomicU64::new(0)),
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
            rejected_calls: inner.rejected.0.load(Relaxed),
            transitions: inner.transitions.load(Relaxed),
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
    /// Nanoseconds since the breaker was built, on tokio's clock (so paused time applies).
    fn now(&self) -> u64 {
        duration_nanos(Instant::now().saturating_duration_since(self.origin))
    }

    fn start_time(&self) -> u64 {
        if self.slow_nanos.is_some() {
            self.now()
        } else {
            0
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
                        return Err(self.reject(State::HalfOpen, None));
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

    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        self.rejected.0.fetch_add(1, Relaxed);
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

    fn is_slow(&self, ticket: &Ticket, now: u64, elapsed: Option<Duration>) -> bool {
        self.slow_nanos.is_some_and(|threshold| {
            let took = elapsed.map_or_else(|| now.saturating_sub(ticket.start), duration_nanos);
            took >= threshold
        })
    }

    #[inline(always)]
    fn record_closed(&self, ticket: &Ticket, outcome: Outcome, elapsed: Option<Duration>) {
        if outcome == Outcome::Ignored {
            return;
        }
        let now = if self.clock_at_end { self.now() } else { 0 };
        let slow = self.is_slow(ticket, now, elapsed);
        let failed = outcome == Outcome::Failure;
        if !failed && !slow && self.window.skips_successes() {
            return;
        }
        let word = Word(self.state.load(Acquire));
        if word != ticket.word {
            // The breaker moved on since this call was admitted: its outcome belongs to a window
            // that no longer exists.
            return;
        }
        if self.window.record(failed, slow, now) {
            self.evaluate(word, now);
        }
    }

    /// Trips the closed breaker (still in `word`) if the window's rates reach a threshold.
    #[cold]
    fn evaluate(&self, word: Word, now: u64) {
        let Some(counts) = self.window.evaluate(now) else {
            return;
        };
        if !self.over_threshold(counts) {
            return;
        }
        let now = if self.clock_at_end { now } else { self.now() };
        let wait = self.config.wait_after(0);
        let next = Word::open(word.next_epoch(), deadline_ms(now, wait));
        // Only one caller's swap succeeds, so the trip is announced once however many
        // failures race to it.
        if self.swap_state(word, next).is_ok() {
            self.trips.store(1, Relaxed);
            self.announce(word, next, Some(counts), Some(wait));
        }
    }

    fn over_threshold(&self, counts: Counts) -> bool {
        let rate = |n: u64| n as f64 / counts.calls as f64;
        counts.calls > 0
            && (rate(counts.failed) >= self.config.failure_rate_threshold
                || (self.slow_nanos.is_some()
                    && rate(counts.slow) >= self.config.slow_call_rate_threshold))
    }

    fn record_trial(&self, ticket: &Ticket, outcome: Outcome, elapsed: Option<Duration>) {
        let now = if outcome == Outcome::Ignored {
            0
        } else {
            self.now()
        };
        let slow = outcome != Outcome::Ignored && self.is_slow(ticket, now, elapsed);
        let wait = self.config.wait_after(self.trips.load(Relaxed));
        let mut word = Word(self.state.load(Acquire));
        loop {
            if word.state() != State::HalfOpen || word.epoch() != ticket.word.epoch() {
                return;
            }
            let mut trials = word.trials();
            let next = if outcome == Outcome::Ignored {
                // The slot goes back: another caller may take the trial.
                trials.admitted -= 1;
                Word::half_open(word.epoch(), trials)
            } else {
                trials.recorded += 1;
                trials.failed += u32::from(outcome == Outcome::Failure);
                trials.slow += u32::from(slow);
                if trials.recorded < self.config.half_open_calls {
                    Word::half_open(word.epoch(), trials)
                } else {
                    // The last trial decides, in the same swap that records it: no other
                    // outcome can slip in between, and no second caller can decide again.
                    if self.over_threshold(trial_counts(trials)) {
                        Word::open(word.next_epoch(), deadline_ms(now, wait))
                    } else {
                        Word::closed(word.next_epoch())
                    }
                }
            };
            match self.swap_state(word, next) {
                Ok(()) => {
                    if next.state() == State::Open {
                        self.trips.fetch_add(1, Relaxed);
                    } else if next.state() == State::Closed {
                        self.trips.store(0, Relaxed);
                    }
                    if next.state() != State::HalfOpen {
                        let wait = (next.state() == State::Open).then_some(wait);
                        self.announce(word, next, Some(trial_counts(trials)), wait);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    fn transition_by_hand(&self, target: State) {
        let mut word = Word(self.state.load(Acquire));
        loop {
            if word.state() == target && target != State::Closed {
                return;
            }
            let epoch = word.next_epoch();
            let next = match target {
                State::Closed => Word::closed(epoch),
                State::HalfOpen => Word::half_open(epoch, Trials::default()),
                State::Disabled => Word::disabled(epoch),
                _ => Word::forced_open(epoch),
            };
            // The window must be empty when the breaker (re)enters `Closed` or `HalfOpen`. It is
            // idle unless closed: clear it before leaving any other state, and right after
            // leaving `Closed` (so that callers still recording see the new epoch and stop).
            let clear = matches!(target, State::Closed | State::HalfOpen);
            let from_closed = word.state() == State::Closed;
            if clear && !from_closed {
                self.window.clear();
            }
            match self.swap_state(word, next) {
                Ok(()) => {
                    if clear && from_closed {
                        self.window.clear();
                    }
                    self.trips.store(0, Relaxed);
                    if word.state() == target {
                        tracing::debug!(breaker = self.name(), "circuit breaker reset");
                    } else {
                        self.announce(word, next, None, None);
                    }
                    return;
                }
                Err(actual) => word = actual,
            }
        }
    }

    fn name(&self) -> &str {
        self.config.name.as_deref().unwrap_or("")
    }

    /// Counts, logs and broadcasts a transition that this caller made.
    #[cold]
    fn announce(&self, from: Word, to: Word, counts: Option<Counts>, wait: Option<Duration>) {
        self.transitions.fetch_add(1, Relaxed);
        let transition = Transition {
            from: from.state(),
            to: to.state(),
            at: Instant::now(),
        };
        let counts = counts.unwrap_or_default();
        match transition.to {
            State::Open => {
                let wait_ms =
                    u64::try_from(wait.unwrap_or_default().as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(
                    breaker = self.name(),
                    from = %transition.from,
                    to = %transition.to,
                    calls = counts.calls,
                    failed = counts.failed,
                    slow = counts.slow,
                    wait_ms,
                    "circuit breaker opened"
                );
            }
            State::ForcedOpen => tracing::warn!(
                breaker = self.name(),
                from = %transition.from,
                to = %transition.to,
                "circuit breaker forced open"
            ),
            _ => tracing::debug!(
                breaker = self.name(),
                from = %transition.from,
                to = %transition.to,
                calls = counts.calls,
                failed = counts.failed,
                slow = counts.slow,
                "circuit breaker state changed"
            ),
        }
        // No receivers is fine: nobody asked to be told.
        let _ = self.events.send(transition);
    }
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

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Records the outcome of a `call`, or releases its slot if the call is dropped first.
struct Guard<'a, C> {
    inner: &'a Inner<C>,
    ticket: Ticket,
    armed: bool,
}

impl<C> Guard<'_, C> {
    #[inline(always)]
    fn finish(&mut self, outcome: Outcome) {
        self.armed = false;
        self.inner.record(&self.ticket, outcome, None);
    }
}

impl<C> Drop for Guard<'_, C> {
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            self.inner.release(&self.ticket);
        }
    }
}

/// Permission to make one call, from [`Breaker::try_acquire`].
///
/// Record the call's outcome with [`record`](Permit::record),
/// [`record_elapsed`](Permit::record_elapsed) or [`record_result`](Permit::record_result).
/// Dropping a permit unrecorded records nothing and, if it held a half-open trial slot, frees
/// the slot for another call.
#[must_use = "a permit records nothing unless its outcome is recorded"]
pub struct Permit<C = FailOnErr> {
    breaker: Breaker<C>,
    ticket: Ticket,
    armed: bool,
}

impl<C> fmt::Debug for Permit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("admitted_in", &self.ticket.state())
            .finish_non_exhaustive()
    }
}

impl<C> Permit<C> {
    /// The state that admitted the call: `Closed`, `HalfOpen` (a trial call) or `Disabled`.
    pub fn admitted_in(&self) -> State {
        self.ticket.state()
    }

    /// Records the call's outcome; if slow calls are counted, the call's duration is the time
    /// since the permit was acquired.
    pub fn record(mut self, outcome: Outcome) {
        self.armed = false;
        self.breaker.inner.record(&self.ticket, outcome, None);
    }

    /// Records the call's outcome with the duration measured by the caller, for calls that did
    /// not start when the permit was acquired.
    pub fn record_elapsed(mut self, outcome: Outcome, elapsed: Duration) {
        self.armed = false;
        self.breaker
            .inner
            .record(&self.ticket, outcome, Some(elapsed));
    }

    /// Records the call's result as the breaker's classifier sees it.
    pub fn record_result<T, E>(self, result: &Result<T, E>)
    where
        C: Classify<T, E>,
    {
        let outcome = self.breaker.inner.classifier.classify(result);
        self.record(outcome);
    }
}

impl<C> Drop for Permit<C> {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.inner.release(&self.ticket);
        }
    }
}
