//! The batcher: producers append to a shared buffer, one flush task closes and flushes batches.
//!
//! Producers take a short `std::sync::Mutex` to append; they wake the flush task only when a
//! batch closes or when the first item of a batch arrives while no timer is armed, never once
//! per item. The flush task closes batches on age, runs the handler on closed batches (at most
//! `max_concurrent_flushes` at once) and does the final drain.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{BatcherBuilder, Settings};
use crate::error::{BatchError, Closed, TrySubmitError};
use crate::metrics::{FlushTrigger, Metrics, TriggerCounts};
use crate::outcome::FlushOutput;
use crate::ticket::{Reply, Ticket};

/// Groups items into batches and hands each batch to an async flush handler.
///
/// A batch is closed when it holds `max_items` items, when its oldest item has waited
/// `max_delay`, when it reaches `max_weight`, on [`flush`](Self::flush), or on shutdown —
/// whichever comes first. Items are flushed exactly once, in the order they were accepted.
///
/// Cloning is cheap and every clone feeds the same batcher. When the last clone is dropped the
/// batcher shuts down as if [`shutdown`](Self::shutdown) had been called, so nothing accepted is
/// lost.
pub struct Batcher<T, R = (), E = Infallible> {
    shared: Arc<Shared<T, R, E>>,
}

struct Shared<T, R, E> {
    state: Mutex<State<T, R, E>>,
    settings: Settings<T>,
    /// Wakes the flush task: a batch's first item arrived, a batch closed, a flush finished, or
    /// the batcher closed. `notify_one` keeps a permit, so no wake-up is lost.
    wake_flusher: Notify,
    /// Wakes producers waiting for buffer space (or to learn that the batcher closed).
    space: Notify,
    /// Cancelled by the flush task once everything accepted has been flushed.
    drained: CancellationToken,
    /// Live `Batcher` handles; the last one to go shuts the batcher down.
    handles: AtomicUsize,
}

struct State<T, R, E> {
    open: Open<T, R, E>,
    closed_batches: VecDeque<Batch<T, R, E>>,
    buffered_items: usize,
    buffered_weight: u64,
    flushing: usize,
    closed: bool,
    /// Set by the flush task when it waits with no timer armed.
    wake_on_first_item: bool,
    metrics: Counters,
}

/// The batch being filled.
struct Open<T, R, E> {
    items: Vec<T>,
    tickets: Vec<(usize, Reply<R, E>)>,
    weight: u64,
    /// When its first item arrived: the delay is measured from here.
    since: Option<Instant>,
}

/// A closed batch, waiting for a flush slot.
struct Batch<T, R, E> {
    items: Vec<T>,
    tickets: Vec<(usize, Reply<R, E>)>,
    weight: u64,
    trigger: FlushTrigger,
}

#[derive(Default)]
struct Counters {
    accepted: u64,
    rejected_full: u64,
    waits_for_space: u64,
    rejected_closed: u64,
    items_flushed: u64,
    batches_succeeded: u64,
    batches_failed: u64,
    batches_abandoned: u64,
    triggers: TriggerCounts,
}

enum Refused<T, R, E> {
    Full(T, Option<Reply<R, E>>),
    Closed(T),
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts configuring a batcher for items of type `T`; finish with
    /// [`build`](BatcherBuilder::build), which takes the flush handler.
    pub fn builder() -> BatcherBuilder<T> {
        BatcherBuilder::new()
    }
}

impl<T, R, E> Batcher<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + Sync + 'static,
{
    /// Submits `item`, waiting for buffer space if the buffer is at its bound, and returns a
    /// [`Ticket`] that resolves once the item's batch has been flushed.
    ///
    /// # Errors
    ///
    /// [`Closed`] with the item if the batcher is shutting down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the item was not accepted
    /// (and is dropped with the future).
    pub async fn submit(&self, item: T) -> Result<Ticket<R, E>, Closed<T>> {
        let (reply, ticket) = Ticket::new();
        self.enqueue(item, Some(reply)).await?;
        Ok(ticket)
    }

    /// Submits `item` without waiting: the item is handed back if the buffer is full or the
    /// batcher is closed.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], holding the item.
    pub fn try_submit(&self, item: T) -> Result<Ticket<R, E>, TrySubmitError<T>> {
        let (reply, ticket) = Ticket::new();
        self.try_enqueue(item, Some(reply))?;
        Ok(ticket)
    }

    /// Submits `item` fire-and-forget, waiting for buffer space if needed. The outcome of its
    /// batch shows only in [`metrics`](Self::metrics) and `tracing` events.
    ///
    /// # Errors
    ///
    /// [`Closed`] with the item if the batcher is shutting down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the item was not accepted
    /// (and is dropped with the future).
    pub async fn push(&self, item: T) -> Result<(), Closed<T>> {
        self.enqueue(item, None).await
    }

    /// Submits `item` fire-and-forget without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], holding the item.
    pub fn try_push(&self, item: T) -> Result<(), TrySubmitError<T>> {
        self.try_enqueue(item, None)
    }

    async fn enqueue(&self, item: T, reply: Option<Reply<R, E>>) -> Result<(), Closed<T>> {
        let (mut item, mut reply) = match self.shared.offer(item, reply) {
            Ok(()) => return Ok(()),
            Err(Refused::Closed(item)) => return Err(Closed(item)),
            Err(Refused::Full(item, reply)) => (item, reply),
        };
        self.shared.lock().metrics.waits_for_space += 1;
        loop {
            // Register interest before re-checking, so a flush finishing in between is seen.
            let space = self.shared.space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.shared.offer(item, reply) {
                Ok(()) => return Ok(()),
                Err(Refused::Closed(back)) => return Err(Closed(back)),
                Err(Refused::Full(back, back_reply)) => {
                    item = back;
                    reply = back_reply;
                }
            }
            space.await;
        }
    }

    fn try_enqueue(&self, item: T, reply: Option<Reply<R, E>>) -> Result<(), TrySubmitError<T>> {
        match self.shared.offer(item, reply) {
            Ok(()) => Ok(()),
            Err(Refused::Closed(item)) => Err(TrySubmitError::Closed(item)),
            Err(Refused::Full(item, _)) => {
                self.shared.lock().metrics.rejected_full += 1;
                Err(TrySubmitError::Full(item))
            }
        }
    }

    /// Closes the batch being filled now (trigger [`FlushTrigger::Explicit`]) instead of waiting
    /// for its size, weight or delay. Does nothing if it is empty. Await the items' tickets to
    /// know when they have been flushed.
    pub fn flush(&self) {
        let mut state = self.shared.lock();
        if state.open.items.is_empty() {
            return;
        }
        state.close_open(
            FlushTrigger::Explicit,
            self.shared.settings.limits.max_items,
        );
        drop(state);
        self.shared.wake_flusher.notify_one();
    }

    /// Shuts the batcher down and waits until it is drained: nothing more is accepted (waiting
    /// submitters get their item back in [`Closed`]), everything buffered is flushed, in-flight
    /// flushes are awaited, and so every ticket has resolved when this returns.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown goes on without the caller; call again (or
    /// [`drained`](Self::drained)) to wait for it.
    pub async fn shutdown(&self) {
        self.shared.close();
        self.shared.drained.cancelled().await;
    }

    /// Waits until the batcher has shut down and flushed everything, without starting the
    /// shutdown itself (which a [`CancellationToken`] given to
    /// [`shutdown_on`](BatcherBuilder::shutdown_on) may do).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn drained(&self) {
        self.shared.drained.cancelled().await;
    }

    /// Whether the batcher has stopped accepting items.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// A snapshot of the batcher's counters.
    pub fn metrics(&self) -> Metrics {
        let state = self.shared.lock();
        let m = &state.metrics;
        Metrics {
            accepted: m.accepted,
            rejected_full: m.rejected_full,
            waits_for_space: m.waits_for_space,
            rejected_closed: m.rejected_closed,
            buffered_items: state.buffered_items,
            buffered_weight: state.buffered_weight,
            flushing: state.flushing,
            items_flushed: m.items_flushed,
            batches_succeeded: m.batches_succeeded,
            batches_failed: m.batches_failed,
            batches_abandoned: m.batches_abandoned,
            triggers: m.triggers,
        }
    }
}

impl<T, R, E> Clone for Batcher<T, R, E> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, R, E> Drop for Batcher<T, R, E> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.close();
        }
    }
}

impl<T, R, E> fmt::Debug for Batcher<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Batcher")
            .field("limits", &self.shared.settings.limits)
            .field("buffered_items", &state.buffered_items)
            .field("flushing", &state.flushing)
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}

impl<T, R, E> Shared<T, R, E> {
    fn lock(&self) -> MutexGuard<'_, State<T, R, E>> {
        // Nothing user-supplied runs under this lock, so a poisoned lock still holds
        // consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The hot path: append `item` to the open batch under a short lock.
    fn offer(&self, item: T, reply: Option<Reply<R, E>>) -> Result<(), Refused<T, R, E>> {
        let limits = &self.settings.limits;
        // The weigher is user code: run it before taking the lock.
        let weight = limits.weigh(&item);
        let mut wake = false;
        {
            let mut guard = self.lock();
            let state = &mut *guard;
            if state.closed {
                state.metrics.rejected_closed += 1;
                return Err(Refused::Closed(item));
            }
            if state.buffered_items >= self.settings.max_buffered_items {
                return Err(Refused::Full(item, reply));
            }
            let max_weight = limits.max_weight();
            if let Some(max) = self.settings.max_buffered_weight {
                if state.buffered_items > 0 && state.buffered_weight.saturating_add(weight) > max {
                    // If the item would not fit the open batch either, close that batch now,
                    // as accepting the item would: otherwise, with nothing else in flight, the
                    // space the item waits for is held by a batch that only its delay (maybe
                    // never) would close.
                    let overflows_open = !state.open.items.is_empty()
                        && max_weight
                            .is_some_and(|limit| state.open.weight.saturating_add(weight) > limit);
                    if overflows_open {
                        state.close_open(FlushTrigger::Weight, limits.max_items);
                        drop(guard);
                        self.wake_flusher.notify_one();
                    }
                    return Err(Refused::Full(item, reply));
                }
            }
            if let Some(max_weight) = max_weight {
                if !state.open.items.is_empty()
                    && state.open.weight.saturating_add(weight) > max_weight
                {
                    state.close_open(FlushTrigger::Weight, limits.max_items);
                    wake = true;
                }
            }
            let open = &mut state.open;
            if open.items.is_empty() {
                // The delay timer starts at the batch's first item.
                open.since = Some(Instant::now());
                if mem::take(&mut state.wake_on_first_item) {
                    wake = true;
                }
            }
            if let Some(reply) = reply {
                open.tickets.push((open.items.len(), reply));
            }
            open.items.push(item);
            open.weight = open.weight.saturating_add(weight);
            let (len, open_weight) = (open.items.len(), open.weight);
            state.buffered_items += 1;
            state.buffered_weight = state.buffered_weight.saturating_add(weight);
            state.metrics.accepted += 1;
            if len >= limits.max_items {
                state.close_open(FlushTrigger::Size, limits.max_items);
                wake = true;
            } else if max_weight.is_some_and(|max| open_weight >= max) {
                state.close_open(FlushTrigger::Weight, limits.max_items);
                wake = true;
            }
        }
        if wake {
            self.wake_flusher.notify_one();
        }
        Ok(())
    }

    fn close(&self) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.closed = true;
        tracing::debug!(
            buffered_items = state.buffered_items,
            "batcher closing: flushing everything buffered"
        );
        drop(state);
        self.space.notify_waiters();
        self.wake_flusher.notify_one();
    }
}

impl<T, R, E> State<T, R, E> {
    fn close_open(&mut self, trigger: FlushTrigger, max_items: usize) {
        let open = &mut self.open;
        // A full batch's successor will most likely fill up too; a partial one's may not.
        let capacity = if trigger == FlushTrigger::Size {
            max_items
        } else {
            0
        };
        // Likewise, a batch with tickets is likely followed by one with tickets.
        let ticket_capacity = if open.tickets.is_empty() { 0 } else { capacity };
        let batch = Batch {
            items: mem::replace(&mut open.items, Vec::with_capacity(capacity)),
            tickets: mem::replace(&mut open.tickets, Vec::with_capacity(ticket_capacity)),
            weight: mem::take(&mut open.weight),
            trigger,
        };
        open.since = None;
        self.metrics.triggers.bump(trigger);
        self.closed_batches.push_back(batch);
    }
}

/// Spawns the flush task and returns the first handle.
pub(crate) fn start<T, R, E, F, Fut, O>(
    runtime: &tokio::runtime::Handle,
    settings: Settings<T>,
    handler: F,
    shutdown: Option<CancellationToken>,
) -> Batcher<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + Sync + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: FlushOutput<Item = R>,
{
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            open: Open {
                items: Vec::with_capacity(settings.limits.max_items.min(4096)),
                tickets: Vec::new(),
                weight: 0,
                since: None,
            },
            closed_batches: VecDeque::new(),
            buffered_items: 0,
            buffered_weight: 0,
            flushing: 0,
            closed: false,
            wake_on_first_item: true,
            metrics: Counters::default(),
        }),
        settings,
        wake_flusher: Notify::new(),
        space: Notify::new(),
        drained: CancellationToken::new(),
        handles: AtomicUsize::new(1),
    });
    let flusher = Flusher {
        shared: Arc::clone(&shared),
        handler,
        finished: false,
    };
    runtime.spawn(flusher.run(shutdown));
    Batcher { shared }
}

/// The flush task. Flushes run as futures inside it (up to `max_concurrent_flushes` at once)
/// rather than as tasks of their own: with a quick handler it then works through every closed
/// batch in one go, instead of paying a spawn and two wake-ups per batch.
struct Flusher<T, R, E, F> {
    shared: Arc<Shared<T, R, E>>,
    handler: F,
    finished: bool,
}

/// How a flush ended.
enum Outcome {
    Succeeded,
    Failed,
    /// The handler panicked.
    Abandoned,
}

struct Finished {
    items: usize,
    weight: u64,
    outcome: Outcome,
}

impl<T, R, E, F, Fut, O> Flusher<T, R, E, F>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + Sync + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: FlushOutput<Item = R>,
{
    async fn run(mut self, shutdown: Option<CancellationToken>) {
        let shared = Arc::clone(&self.shared);
        let max_delay = shared.settings.limits.max_delay;
        let max_items = shared.settings.limits.max_items;
        let mut watch_token = shutdown.is_some();
        let shutdown = shutdown.unwrap_or_default();
        let mut starting = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        loop {
            let deadline;
            let finished;
            {
                let mut state = shared.lock();
                if let Some(since) = state.open.since {
                    if state.closed {
                        state.close_open(FlushTrigger::Shutdown, max_items);
                    } else if since
                        .checked_add(max_delay)
                        .is_some_and(|deadline| deadline <= Instant::now())
                    {
                        state.close_open(FlushTrigger::Delay, max_items);
                    }
                }
                while state.flushing < shared.settings.max_concurrent_flushes {
                    let Some(batch) = state.closed_batches.pop_front() else {
                        break;
                    };
                    state.flushing += 1;
                    starting.push(batch);
                }
                // A delay too long to represent (`Duration::MAX`) means: never by age.
                deadline = state
                    .open
                    .since
                    .and_then(|since| since.checked_add(max_delay));
                // Without a timer armed, the next batch's first item must wake us to arm one;
                // otherwise whatever replaces the open batch wakes us anyway.
                state.wake_on_first_item = deadline.is_none();
                finished = state.closed
                    && starting.is_empty()
                    && state.closed_batches.is_empty()
                    && state.flushing == 0
                    && state.open.items.is_empty();
            }
            for batch in starting.drain(..) {
                in_flight.push(self.flush(batch));
            }
            if finished {
                break;
            }
            tokio::select! {
                biased;
                Some(done) = in_flight.next(), if !in_flight.is_empty() => shared.finish(done),
                () = shared.wake_flusher.notified() => {}
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)),
                    if deadline.is_some() => {}
                () = shutdown.cancelled(), if watch_token => {
                    watch_token = false;
                    shared.close();
                }
            }
        }
        self.finished = true;
        tracing::debug!("batcher drained: every accepted item was flushed");
        shared.drained.cancel();
    }

    /// Hands `batch` to the handler; the returned future fans the outcome back to the tickets.
    fn flush(&self, batch: Batch<T, R, E>) -> impl Future<Output = Finished> + Send + 'static {
        let Batch {
            items,
            tickets,
            weight,
            trigger,
        } = batch;
        let len = items.len();
        tracing::debug!(
            trigger = trigger.as_str(),
            items = len,
            weight,
            "flushing batch"
        );
        // A panicking handler takes down its own batch only: its tickets resolve to Abandoned.
        let flush = panic::catch_unwind(AssertUnwindSafe(|| (self.handler)(items)));
        async move {
            let outcome = match flush {
                Ok(flush) => match AssertUnwindSafe(flush).catch_unwind().await {
                    Ok(result) => {
                        let outcome = if result.is_ok() {
                            Outcome::Succeeded
                        } else {
                            Outcome::Failed
                        };
                        deliver(result, tickets);
                        outcome
                    }
                    Err(_) => Outcome::Abandoned,
                },
                Err(_) => Outcome::Abandoned,
            };
            Finished {
                items: len,
                weight,
                outcome,
            }
        }
    }
}

impl<T, R, E, F> Drop for Flusher<T, R, E, F> {
    /// The flush task was dropped before draining (its runtime shut down): close the batcher and
    /// drop what is left, so that producers get their items back and tickets resolve to
    /// `Abandoned` instead of hanging.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self.shared.lock();
        state.closed = true;
        // Dropping the batches drops their tickets' senders: the tickets resolve to Abandoned.
        let mut abandoned = mem::take(&mut state.closed_batches).len() + state.flushing;
        if !state.open.items.is_empty() {
            abandoned += 1;
        }
        state.open.items.clear();
        state.open.tickets.clear();
        state.open.weight = 0;
        state.open.since = None;
        let lost = mem::take(&mut state.buffered_items);
        state.buffered_weight = 0;
        state.flushing = 0;
        state.metrics.batches_abandoned += abandoned as u64;
        drop(state);
        tracing::warn!(
            items = lost,
            "batcher's flush task was cancelled (runtime shutdown?); unflushed items dropped, their tickets resolve to Abandoned"
        );
        self.shared.space.notify_waiters();
        self.shared.drained.cancel();
    }
}

impl<T, R, E> Shared<T, R, E> {
    /// Releases a finished flush's buffer space and slot, and records how it ended.
    fn finish(&self, done: Finished) {
        let mut state = self.lock();
        state.flushing -= 1;
        state.buffered_items -= done.items;
        // Weights are summed saturating, so a batch may weigh more than what is left.
        state.buffered_weight = state.buffered_weight.saturating_sub(done.weight);
        state.metrics.items_flushed += done.items as u64;
        match done.outcome {
            Outcome::Succeeded => state.metrics.batches_succeeded += 1,
            Outcome::Failed => state.metrics.batches_failed += 1,
            Outcome::Abandoned => state.metrics.batches_abandoned += 1,
        }
        drop(state);
        match done.outcome {
            Outcome::Succeeded => {}
            Outcome::Failed => tracing::warn!(items = done.items, "flush handler failed the batch"),
            Outcome::Abandoned => tracing::warn!(
                items = done.items,
                "flush handler panicked; the batch's tickets resolve to Abandoned"
            ),
        }
        self.space.notify_waiters();
    }
}

/// Fans a batch's outcome back out to its tickets.
fn deliver<O: FlushOutput, E>(result: Result<O, E>, tickets: Vec<(usize, Reply<O::Item, E>)>) {
    match result {
        Ok(output) => {
            let mut results = output.into_item_results();
            let mut position = 0;
            for (index, reply) in tickets {
                let result = results
                    .nth(index - position)
                    .ok_or(BatchError::MissingResult);
                position = index + 1;
                // A ticket dropped by its holder no longer wants the result.
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            let error = Arc::new(error);
            for (_, reply) in tickets {
                let _ = reply.send(Err(BatchError::Failed(Arc::clone(&error))));
            }
        }
    }
}
