//! The flush task: closes batches on age, runs the handler on closed batches (at most
//! `max_concurrent_flushes` at once), fans each outcome back to the tickets, and does the final
//! drain.
//!
//! Flushes run as futures inside this one task rather than as tasks of their own: with a quick
//! handler it then works through every closed batch in one go, instead of paying a spawn and
//! two wake-ups per batch. User code (the handler, its future, its output) runs inside
//! `catch_unwind`, so a panic fails its own batch only.

use std::collections::VecDeque;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use futures_util::FutureExt as _;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::batcher::Batcher;
use crate::builder::Settings;
use crate::error::BatchError;
use crate::metrics::FlushTrigger;
use crate::outcome::FlushOutput;
use crate::state::{Batch, Finished, Outcome, Shared, State, resolve_unflushed};
use crate::ticket::Reply;

/// Spawns the flush task and returns the first handle.
pub(crate) fn start<T, R, E, F, Fut, O>(
    runtime: &tokio::runtime::Handle,
    settings: Settings<T>,
    handler: F,
    token: Option<CancellationToken>,
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
        state: std::sync::Mutex::new(State::new(&settings)),
        settings,
        wake_flusher: Notify::new(),
        space: Notify::new(),
        drained: CancellationToken::new(),
        abort: CancellationToken::new(),
        handles: AtomicUsize::new(1),
    });
    let flusher = Flusher {
        shared: Arc::clone(&shared),
        handler,
        finished: false,
    };
    runtime.spawn(flusher.run(token));
    Batcher::from_shared(shared)
}

struct Flusher<T, R, E, F> {
    shared: Arc<Shared<T, R, E>>,
    handler: F,
    finished: bool,
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
    async fn run(mut self, token: Option<CancellationToken>) {
        let shared = Arc::clone(&self.shared);
        let max_delay = shared.settings.limits.max_delay;
        let max_items = shared.settings.limits.max_items;
        let mut watch_token = token.is_some();
        let token = token.unwrap_or_default();
        let mut starting = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        loop {
            let deadline;
            let finished;
            {
                let mut state = shared.lock();
                if let Some(since) = state.open.since {
                    if state.closed {
                        state.close_open(FlushTrigger::Close, max_items);
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
                // Graceful: the token does what `close()` does.
                () = token.cancelled(), if watch_token => {
                    watch_token = false;
                    shared.close();
                }
            }
        }
        self.finished = true;
        tracing::debug!("batcher drained: every accepted item was flushed or handed back");
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
        let abort = self.shared.abort.clone();
        // A panicking handler takes down its own batch only.
        let flush = panic::catch_unwind(AssertUnwindSafe(|| (self.handler)(items)));
        async move {
            let mut tickets = VecDeque::from(tickets);
            let outcome = match flush {
                Err(_) => Outcome::Panicked,
                Ok(flush) => {
                    // The flush first: a result that is ready is delivered even after the
                    // grace period. Either way the handler's future is dropped here, inside
                    // this future, with no lock held.
                    tokio::select! {
                        biased;
                        result = AssertUnwindSafe(flush).catch_unwind() => match result {
                            Ok(result) => deliver(result, &mut tickets),
                            Err(_) => Outcome::Panicked,
                        },
                        () = abort.cancelled() => Outcome::Aborted,
                    }
                }
            };
            let error = match outcome {
                Outcome::Succeeded | Outcome::Failed => None,
                Outcome::Panicked => Some(BatchError::FlushPanicked),
                Outcome::Aborted => Some(BatchError::Aborted),
            };
            if let Some(error) = error {
                for (_, reply) in tickets {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            Finished {
                items: len,
                weight,
                outcome,
            }
        }
    }
}

impl<T, R, E, F> Drop for Flusher<T, R, E, F> {
    /// The flush task was dropped before draining (its runtime shut down): close the batcher,
    /// keep what was never flushed for `shutdown` or `abort` to hand back, and resolve the tickets,
    /// so that producers get their items back and nothing hangs. Flushes in progress are dropped
    /// with the task; their tickets resolve to `Abandoned`.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self.shared.lock();
        state.closed = true;
        let in_flight = mem::take(&mut state.flushing);
        let flushing_items = state.buffered_items
            - state.open.items.len()
            - state
                .closed_batches
                .iter()
                .map(|batch| batch.items.len())
                .sum::<usize>();
        let tickets = state.take_unflushed();
        let unflushed = state.unflushed.len();
        state.metrics.batches_abandoned += in_flight as u64;
        state.buffered_items = 0;
        state.buffered_weight = 0;
        drop(state);
        resolve_unflushed(tickets);
        tracing::warn!(
            unflushed,
            in_flight,
            flushing_items,
            "batcher's flush task was cancelled (runtime shutdown?): unflushed items are kept for \
             shutdown(grace) or abort() to hand back, in-flight flushes resolve to Abandoned"
        );
        self.shared.space.notify_waiters();
        self.shared.drained.cancel();
    }
}

/// Fans a batch's outcome back out to its tickets, taking each one off `tickets` as it is
/// resolved. The output's conversion and iteration are user code: if they panic, the tickets
/// not yet resolved stay in `tickets` and the outcome is `Panicked`.
fn deliver<O: FlushOutput, E>(
    result: Result<O, E>,
    tickets: &mut VecDeque<(usize, Reply<O::Item, E>)>,
) -> Outcome {
    match result {
        Ok(output) => {
            let delivered = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut results = output.into_item_results();
                let mut position = 0;
                while let Some(&(index, _)) = tickets.front() {
                    let result = results
                        .nth(index - position)
                        .ok_or(BatchError::MissingResult);
                    position = index + 1;
                    if let Some((_, reply)) = tickets.pop_front() {
                        // A ticket dropped by its holder no longer wants the result.
                        let _ = reply.send(result);
                    }
                }
            }));
            match delivered {
                Ok(()) => Outcome::Succeeded,
                Err(_) => Outcome::Panicked,
            }
        }
        Err(error) => {
            let error = Arc::new(error);
            for (_, reply) in tickets.drain(..) {
                let _ = reply.send(Err(BatchError::Failed(Arc::clone(&error))));
            }
            Outcome::Failed
        }
    }
}
