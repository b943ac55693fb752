//! Per-stage counters (atomics, written by the stage's task) and the [`Metrics`] snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Latency buckets: bucket `i` holds latencies below 2^i microseconds (the last is open).
const BUCKETS: usize = 32;

/// What feeds a stage's buffer, to tell how many items wait in it.
#[derive(Debug, Clone)]
pub(crate) enum Fed {
    /// The stage before it.
    Stage(Arc<StageStats>),
    /// One branch of a fan-out: its counter of items sent.
    Branch(Arc<[AtomicU64]>, usize),
    /// Several branches merged.
    Merged(Vec<Fed>),
}

impl Fed {
    pub(crate) fn sent(&self) -> u64 {
        match self {
            Self::Stage(s) => s.items_out.load(Relaxed),
            Self::Branch(counters, i) => counters[*i].load(Relaxed),
            Self::Merged(all) => all.iter().map(Fed::sent).sum(),
        }
    }
}

/// A stage's live counters, shared between its task and the handles.
#[derive(Debug)]
pub(crate) struct StageStats {
    pub(crate) name: Arc<str>,
    pub(crate) items_in: AtomicU64,
    pub(crate) items_out: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) busy_nanos: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl StageStats {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            items_in: AtomicU64::new(0),
            items_out: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Records one sampled item's time in the stage (it stands for `TIMING_SAMPLE` items).
    pub(crate) fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let weight = crate::worker::TIMING_SAMPLE;
        self.busy_nanos
            .fetch_add(nanos.saturating_mul(weight), Relaxed);
        let micros = nanos / 1_000;
        let bucket = (u64::BITS - micros.leading_zeros()) as usize;
        self.latency[bucket.min(BUCKETS - 1)].fetch_add(1, Relaxed);
    }

    fn quantile(counts: &[u64; BUCKETS], q: f64) -> Duration {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                // The bucket's upper bound: 2^i microseconds.
                return Duration::from_micros(1u64 << i);
            }
        }
        Duration::from_micros(1u64 << (BUCKETS - 1))
    }

    pub(crate) fn snapshot(&self, upstream_out: Option<u64>) -> StageMetrics {
        let counts: [u64; BUCKETS] = std::array::from_fn(|i| self.latency[i].load(Relaxed));
        let items_in = self.items_in.load(Relaxed);
        StageMetrics {
            name: Arc::clone(&self.name),
            items_in,
            items_out: self.items_out.load(Relaxed),
            completed: self.completed.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            dead_lettered: self.dead_lettered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            buffered: upstream_out.map_or(0, |out| out.saturating_sub(items_in)),
            busy: Duration::from_nanos(self.busy_nanos.load(Relaxed)),
            p50: Self::quantile(&counts, 0.50),
            p99: Self::quantile(&counts, 0.99),
        }
    }
}

/// One stage's counters at the time of [`PipelineHandle::metrics`](crate::PipelineHandle::metrics).
///
/// Once the stage has finished, `items_in == completed + filtered + skipped + dead_lettered +
/// failed + dropped`. For the source (the first entry of [`Metrics::stages`]), `items_in`
/// counts items taken from the source and `completed` those handed to the first stage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageMetrics {
    /// The stage's name.
    pub name: Arc<str>,
    /// Items the stage took from its buffer.
    pub items_in: u64,
    /// Items it handed downstream (a `flat_map` may emit several per input).
    pub items_out: u64,
    /// Inputs that produced output.
    pub completed: u64,
    /// Inputs a `filter_map` or `flat_map` turned into nothing.
    pub filtered: u64,
    /// Inputs failed under [`ErrorPolicy::Skip`](crate::ErrorPolicy::Skip).
    pub skipped: u64,
    /// Inputs failed under [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter).
    pub dead_lettered: u64,
    /// Inputs failed under [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop) (0 or 1).
    pub failed: u64,
    /// Of the failures, how many were timeouts.
    pub timed_out: u64,
    /// Of the failures, how many were panics.
    pub panicked: u64,
    /// Inputs dropped by an abort (or because nobody downstream was left to take them).
    pub dropped: u64,
    /// Items being processed now.
    pub in_flight: u64,
    /// Items waiting in the buffer in front of the stage.
    pub buffered: u64,
    /// Total time spent processing items (summed over concurrent items), estimated from one
    /// item in four, the ones timed.
    pub busy: Duration,
    /// Median time per item (upper bound of a power-of-two microsecond bucket), over the
    /// timed items (one in four, starting with the first).
    pub p50: Duration,
    /// 99th percentile time per item (same buckets and sample).
    pub p99: Duration,
}

/// A snapshot of a pipeline: the source, then each stage in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// `stages[0]` is the source, then one entry per stage, in flow order.
    pub stages: Vec<StageMetrics>,
    /// Items the caller took from the pipeline's output.
    pub delivered: u64,
    /// Items left unread in the output when the [`Pipeline`](crate::Pipeline) was dropped.
    pub discarded: u64,
    /// Dead letters nobody could receive (the dead-letter receiver was dropped).
    pub dead_letters_discarded: u64,
}

impl Metrics {
    /// Items taken from the source.
    pub fn items_in(&self) -> u64 {
        self.stages.first().map_or(0, |s| s.items_in)
    }

    /// Items dropped by an abort, summed over the source and every stage.
    pub fn dropped(&self) -> u64 {
        self.stages.iter().map(|s| s.dropped).sum()
    }

    /// Whether every item that entered is accounted for, for a pipeline whose stages emit one
    /// item per completed input (no `flat_map`) and whose output has been read to the end:
    /// items in = delivered + discarded + filtered + skipped + dead-lettered + failed + dropped.
    pub fn reconciles(&self) -> bool {
        let lost: u64 = self
            .stages
            .iter()
            .map(|s| s.filtered + s.skipped + s.dead_lettered + s.failed + s.dropped)
            .sum();
        self.items_in() == self.delivered + self.discarded + lost
    }
}
