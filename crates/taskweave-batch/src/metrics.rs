//! Counters a batcher keeps: what came in, why batches were flushed, how flushes ended.

use std::fmt;

/// Why a batch was closed and handed to the flush handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlushTrigger {
    /// It reached `max_items`.
    Size,
    /// Its oldest item had waited `max_delay`.
    Delay,
    /// It reached `max_weight`, or the next item would have pushed it over.
    Weight,
    /// [`Batcher::flush`](crate::Batcher::flush) was called.
    Explicit,
    /// The batcher was closed ([`Batcher::close`](crate::Batcher::close), `drain`, `shutdown`,
    /// its cancellation token or the drop of its last handle): the tail is flushed at once.
    Close,
}

impl FlushTrigger {
    /// A short lowercase name, as used in `tracing` events: `size`, `delay`, `weight`,
    /// `explicit`, `close`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Delay => "delay",
            Self::Weight => "weight",
            Self::Explicit => "explicit",
            Self::Close => "close",
        }
    }
}

impl fmt::Display for FlushTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many batches each [`FlushTrigger`] closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TriggerCounts {
    /// Closed at `max_items`.
    pub size: u64,
    /// Closed when the oldest item reached `max_delay`.
    pub delay: u64,
    /// Closed at `max_weight`.
    pub weight: u64,
    /// Closed by [`Batcher::flush`](crate::Batcher::flush).
    pub explicit: u64,
    /// Closed because the batcher was closed.
    pub close: u64,
}

impl TriggerCounts {
    /// The count for one trigger.
    pub fn get(&self, trigger: FlushTrigger) -> u64 {
        match trigger {
            FlushTrigger::Size => self.size,
            FlushTrigger::Delay => self.delay,
            FlushTrigger::Weight => self.weight,
            FlushTrigger::Explicit => self.explicit,
            FlushTrigger::Close => self.close,
        }
    }

    pub(crate) fn bump(&mut self, trigger: FlushTrigger) {
        match trigger {
            FlushTrigger::Size => self.size += 1,
            FlushTrigger::Delay => self.delay += 1,
            FlushTrigger::Weight => self.weight += 1,
            FlushTrigger::Explicit => self.explicit += 1,
            FlushTrigger::Close => self.close += 1,
        }
    }

    /// All batches closed so far.
    pub fn total(&self) -> u64 {
        self.size + self.delay + self.weight + self.explicit + self.close
    }
}

/// A snapshot of a batcher's counters; see [`Batcher::metrics`](crate::Batcher::metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Items accepted.
    pub accepted: u64,
    /// `try_submit`/`try_push` calls refused because the buffer was full (the item was handed
    /// back).
    pub rejected_full: u64,
    /// Times `submit`/`push` (or a [`BatcherSink`](crate::BatcherSink)) found the buffer full
    /// and had to wait for space.
    pub waits_for_space: u64,
    /// Submissions refused because the batcher was closed (the item was handed back).
    pub rejected_closed: u64,
    /// Items accepted and not yet flushed (filling, waiting for a flush slot, or flushing).
    pub buffered_items: usize,
    /// Their total weight (0 without a weight function).
    pub buffered_weight: u64,
    /// Batches being flushed right now.
    pub flushing: usize,
    /// Items whose flush has finished, whatever its outcome.
    pub items_flushed: u64,
    /// Batches whose handler returned `Ok`.
    pub batches_succeeded: u64,
    /// Batches whose handler returned `Err`.
    pub batches_failed: u64,
    /// Batches whose flush was dropped with the flush task (the runtime shut down mid-flush).
    pub batches_abandoned: u64,
    /// Batches whose handler, handler future or [`FlushOutput`](crate::FlushOutput) panicked;
    /// their tickets resolved to [`BatchError::FlushPanicked`](crate::BatchError::FlushPanicked).
    pub batches_panicked: u64,
    /// Batches whose flush was cancelled, by [`abort`](crate::Batcher::abort) or at the end of
    /// [`shutdown`](crate::Batcher::shutdown)'s grace period; their tickets resolved to
    /// [`BatchError::Aborted`](crate::BatchError::Aborted).
    pub batches_aborted: u64,
    /// Items in those cancelled flushes.
    pub items_aborted: u64,
    /// Accepted items that were never handed to the handler ([`abort`](crate::Batcher::abort),
    /// the end of shutdown's grace period, or the runtime's shutdown came first); their tickets
    /// resolved to [`BatchError::Unflushed`](crate::BatchError::Unflushed), and `abort` or the
    /// [`ShutdownReport`](crate::ShutdownReport) hands them back.
    pub items_unflushed: u64,
    /// Items a [`BatcherSink`](crate::BatcherSink) had taken (`start_send`) but not yet handed
    /// to the batcher when it was dropped without a completed flush or close.
    pub sink_items_dropped: u64,
    /// Why batches were closed.
    pub triggers: TriggerCounts,
}
