//! The state shared by the batcher's handles and its flush task: the batch being filled, the
//! closed batches waiting for a flush slot, the counters, and every transition between them.
//!
//! Everything here runs under one short `std::sync::Mutex`; nothing user-supplied runs, and no
//! user value is dropped, while it is held.

use std::collections::VecDeque;
use std::mem;
use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::builder::Settings;
use crate::error::BatchError;
use crate::metrics::{FlushTrigger, Metrics, TriggerCounts};
use crate::shutdown::ShutdownReport;
use crate::ticket::Reply;

pub(crate) struct Shared<T, R, E> {
    pub(crate) state: Mutex<State<T, R, E>>,
    pub(crate) settings: Settings<T>,
    /// Wakes the flush task: a batch's first item arrived, a batch closed, a flush finished, or
    /// the batcher closed. `notify_one` keeps a permit, so no wake-up is lost.
    pub(crate) wake_flusher: Notify,
    /// Wakes producers waiting for buffer space (or to learn that the batcher closed).
    pub(crate) space: Notify,
    /// Cancelled by the flush task once everything accepted has been flushed (or aborted).
    pub(crate) drained: CancellationToken,
    /// Cancelled by `abort`, or when `shutdown`'s grace period ends: cuts in-flight flushes
    /// short.
    pub(crate) abort: CancellationToken,
    /// Live `Batcher` handles; the last one to go closes the batcher.
    pub(crate) handles: AtomicUsize,
}

pub(crate) struct State<T, R, E> {
    pub(crate) open: Open<T, R, E>,
    pub(crate) closed_batches: VecDeque<Batch<T, R, E>>,
    pub(crate) buffered_items: usize,
    pub(crate) buffered_weight: u64,
    pub(crate) flushing: usize,
    pub(crate) closed: bool,
    /// Set by the flush task when it waits with no timer armed.
    pub(crate) wake_on_first_item: bool,
    /// Items taken back from the batcher unflushed (grace period over, or runtime gone),
    /// waiting for `shutdown` or `abort` to hand them back.
    pub(crate) unflushed: Vec<T>,
    pub(crate) metrics: Counters,
}

/// The batch being filled.
pub(crate) struct Open<T, R, E> {
    pub(crate) items: Vec<T>,
    pub(crate) tickets: Vec<(usize, Reply<R, E>)>,
    pub(crate) weight: u64,
    /// When its first item arrived: the delay is measured from here.
    pub(crate) since: Option<Instant>,
}

/// A closed batch, waiting for a flush slot.
pub(crate) struct Batch<T, R, E> {
    pub(crate) items: Vec<T>,
    pub(crate) tickets: Vec<(usize, Reply<R, E>)>,
    pub(crate) weight: u64,
    pub(crate) trigger: FlushTrigger,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: u64,
    pub(crate) rejected_full: u64,
    pub(crate) waits_for_space: u64,
    pub(crate) rejected_closed: u64,
    pub(crate) items_flushed: u64,
    pub(crate) batches_succeeded: u64,
    pub(crate) batches_failed: u64,
    pub(crate) batches_abandoned: u64,
    pub(crate) batches_panicked: u64,
    pub(crate) batches_aborted: u64,
    pub(crate) items_aborted: u64,
    pub(crate) items_unflushed: u64,
    pub(crate) sink_items_dropped: u64,
    pub(crate) triggers: TriggerCounts,
}

pub(crate) enum Refused<T, R, E> {
    Full(T, Option<Reply<R, E>>),
    Closed(T),
}

/// How a flush ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    Failed,
    /// The handler, its future or its output panicked.
    Panicked,
    /// `abort`, or the end of `shutdown`'s grace period, came first.
    Aborted,
}

pub(crate) struct Finished {
    pub(crate) items: usize,
    pub(crate) weight: u64,
    pub(crate) outcome: Outcome,
}

impl<T, R, E> State<T, R, E> {
    pub(crate) fn new(settings: &Settings<T>) -> Self {
        State {
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
            unflushed: Vec::new(),
            metrics: Counters::default(),
        }
    }

    pub(crate) fn close_open(&mut self, trigger: FlushTrigger, max_items: usize) {
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

    /// Moves every item not yet handed to the handler (closed batches, then the open one) to
    /// `unflushed`, in acceptance order, and returns their tickets, to be resolved to
    /// [`BatchError::Unflushed`] once the lock is released. Nothing is dropped here.
    pub(crate) fn take_unflushed(&mut self) -> Vec<Reply<R, E>> {
        let mut tickets = Vec::new();
        let open = Batch {
            items: mem::take(&mut self.open.items),
            tickets: mem::take(&mut self.open.tickets),
            weight: mem::take(&mut self.open.weight),
            trigger: FlushTrigger::Close,
        };
        self.open.since = None;
        let mut taken = 0;
        for batch in mem::take(&mut self.closed_batches)
            .into_iter()
            .chain([open])
        {
            taken += batch.items.len();
            self.buffered_weight = self.buffered_weight.saturating_sub(batch.weight);
            self.unflushed.extend(batch.items);
            tickets.extend(batch.tickets.into_iter().map(|(_, reply)| reply));
        }
        self.buffered_items -= taken;
        self.metrics.items_unflushed += taken as u64;
        tickets
    }
}

/// Resolves the tickets of items that were never flushed. Call without the lock held.
pub(crate) fn resolve_unflushed<R, E>(tickets: Vec<Reply<R, E>>) {
    for reply in tickets {
        let _ = reply.send(Err(BatchError::Unflushed));
    }
}

impl<T, R, E> Shared<T, R, E> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T, R, E>> {
        // Nothing user-supplied runs under this lock, so a poisoned lock still holds
        // consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The hot path: append `item` to the open batch under a short lock.
    pub(crate) fn offer(
        &self,
        item: T,
        reply: Option<Reply<R, E>>,
    ) -> Result<(), Refused<T, R, E>> {
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

    pub(crate) fn close(&self) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.closed = true;
        tracing::debug!(
            buffered_items = state.buffered_items,
            "batcher closed: no more items accepted, flushing everything buffered"
        );
        drop(state);
        self.space.notify_waiters();
        self.wake_flusher.notify_one();
    }

    /// The hard stop (`abort`, or the end of a shutdown's grace period, as `reason` says):
    /// closes the batcher, takes back what was never handed to the handler (into `unflushed`)
    /// and cancels the flushes in progress.
    pub(crate) fn abort(&self, reason: &'static str) {
        let mut state = self.lock();
        state.closed = true;
        let (flushing, buffered) = (state.flushing, state.buffered_items);
        let tickets = state.take_unflushed();
        let unflushed = buffered - state.buffered_items;
        drop(state);
        if unflushed == 0 && flushing == 0 {
            tracing::debug!(reason, "batcher aborted: nothing was left to cut short");
        } else {
            tracing::warn!(
                reason,
                unflushed,
                flushing,
                "batcher aborted: cancelling in-flight flushes, handing back unflushed items"
            );
        }
        resolve_unflushed(tickets);
        self.abort.cancel();
        self.space.notify_waiters();
        self.wake_flusher.notify_one();
    }

    /// Releases a finished flush's buffer space and slot, and records how it ended.
    pub(crate) fn finish(&self, done: Finished) {
        let mut state = self.lock();
        state.flushing -= 1;
        state.buffered_items -= done.items;
        // Weights are summed saturating, so a batch may weigh more than what is left.
        state.buffered_weight = state.buffered_weight.saturating_sub(done.weight);
        let m = &mut state.metrics;
        match done.outcome {
            Outcome::Succeeded => m.batches_succeeded += 1,
            Outcome::Failed => m.batches_failed += 1,
            Outcome::Panicked => m.batches_panicked += 1,
            Outcome::Aborted => {
                m.batches_aborted += 1;
                m.items_aborted += done.items as u64;
            }
        }
        if done.outcome != Outcome::Aborted {
            m.items_flushed += done.items as u64;
        }
        drop(state);
        match done.outcome {
            Outcome::Succeeded => {}
            Outcome::Failed => tracing::warn!(items = done.items, "flush handler failed the batch"),
            Outcome::Panicked => tracing::warn!(
                items = done.items,
                "flush handler panicked; the batch's tickets resolve to FlushPanicked"
            ),
            Outcome::Aborted => tracing::warn!(
                items = done.items,
                "flush cancelled (abort, or the end of shutdown's grace period); its tickets resolve to Aborted"
            ),
        }
        self.space.notify_waiters();
    }

    /// Takes the items never flushed that were not handed back yet, in acceptance order.
    pub(crate) fn take_unflushed_items(&self) -> Vec<T> {
        mem::take(&mut self.lock().unflushed)
    }

    /// Hands back what was never flushed, with the count of cancelled flushes.
    pub(crate) fn report(&self) -> ShutdownReport<T> {
        let mut state = self.lock();
        let unflushed = mem::take(&mut state.unflushed);
        ShutdownReport {
            unflushed,
            aborted_batches: state.metrics.batches_aborted,
            aborted_items: state.metrics.items_aborted,
            abandoned_batches: state.metrics.batches_abandoned,
            unflushed_items: state.metrics.items_unflushed,
        }
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let state = self.lock();
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
            batches_panicked: m.batches_panicked,
            batches_aborted: m.batches_aborted,
            items_aborted: m.items_aborted,
            items_unflushed: m.items_unflushed,
            sink_items_dropped: m.sink_items_dropped,
            triggers: m.triggers,
        }
    }
}
