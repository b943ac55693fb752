//! The state a fixed pool's handles, streams and workers share: the queue and its permits,
//! the per-worker slots, and closing and aborting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{JobError, SubmitError};
use crate::handoff::Handoff;
use crate::job::{JobCell, JobHandle, JobId, Outcome, lock};
use crate::metrics::{Counters, Metrics};
use crate::shutdown::ShutdownReport;

use super::sink::{Reply, Sink, SinkCache};

/// One queued input and where its result goes.
pub(super) struct Entry<I, O> {
    pub(super) id: JobId,
    pub(super) input: I,
    pub(super) reply: Reply<O>,
}

/// Per-worker state, padded so that workers never write to a shared cache line.
#[repr(align(128))]
pub(super) struct Slot {
    pub(super) in_flight: AtomicUsize,
    pub(super) counters: Counters,
}

pub(super) struct Shared<I, O> {
    pub(super) queue: Handoff<Entry<I, O>>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) capacity: usize,
    pub(super) limit: AtomicUsize,
    pub(super) slots: Box<[Slot]>,
    pub(super) timeout: Option<Duration>,
    next_id: AtomicU64,
    /// Counts jobs cancelled outside a worker (queued when the pool was aborted, or skipped).
    pub(super) counters: Counters,
    pub(super) live_workers: AtomicUsize,
    /// Cancelled once the pool is closed and every worker has exited.
    pub(super) drained: CancellationToken,
    /// Cancelled when the pool closes (or aborts), to stop the cancellation-token watcher.
    pub(super) closing: CancellationToken,
    pub(super) workers: Mutex<Vec<AbortHandle>>,
    /// The live `process` streams, by id.
    pub(super) sinks: Mutex<HashMap<u64, Arc<Sink<O>>>>,
    pub(super) next_stream: AtomicU64,
    pub(super) aborted: Mutex<Vec<JobId>>,
    never_started: Mutex<Vec<JobId>>,
}

impl<I, O> Drop for Shared<I, O> {
    fn drop(&mut self) {
        // A backstop: the last handle closed the pool already.
        self.closing.cancel();
    }
}

impl<I, O> Shared<I, O> {
    pub(super) fn new(config: &Config, workers: usize) -> Self {
        let slots = (0..workers)
            .map(|_| Slot {
                in_flight: AtomicUsize::new(0),
                counters: Counters::default(),
            })
            .collect();
        Self {
            queue: Handoff::new(workers),
            permits: Arc::new(Semaphore::new(config.queue_capacity)),
            capacity: config.queue_capacity,
            limit: AtomicUsize::new(config.max_concurrency),
            slots,
            timeout: config.job_timeout,
            next_id: AtomicU64::new(0),
            counters: Counters::default(),
            live_workers: AtomicUsize::new(workers),
            drained: CancellationToken::new(),
            closing: CancellationToken::new(),
            workers: Mutex::new(Vec::with_capacity(workers)),
            sinks: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            aborted: Mutex::new(Vec::new()),
            never_started: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn next_id(&self) -> JobId {
        JobId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues one input for which a permit is held.
    pub(super) fn push_one(&self, input: I) -> Result<JobHandle<O>, SubmitError<I>> {
        let id = self.next_id();
        let cell = Arc::new(JobCell::new());
        let handle = JobHandle::new(id, Arc::clone(&cell));
        let entry = Entry {
            id,
            input,
            reply: Reply::Handle(cell),
        };
        match self.queue.push(entry) {
            Ok(()) => Ok(handle),
            Err(entry) => {
                self.permits.add_permits(1);
                Err(SubmitError::Closed(entry.input))
            }
        }
    }

    /// Queues entries for which permits are held; if the pool is closed, leaves them in
    /// `batch` (with their permits released).
    pub(super) fn push_batch(&self, batch: &mut Vec<Entry<I, O>>) -> Result<(), ()> {
        let n = batch.len();
        if self.queue.push_batch(batch) {
            Ok(())
        } else {
            self.permits.add_permits(n);
            Err(())
        }
    }

    /// Hands one result over (results for a dropped stream are discarded).
    pub(super) fn deliver(
        &self,
        cache: &mut SinkCache<O>,
        reply: Reply<O>,
        result: Result<O, JobError>,
    ) {
        match reply {
            Reply::Handle(cell) => cell.complete(result),
            Reply::Sink { stream, seq } => {
                if let Some(sink) = cache.get(self, stream) {
                    sink.push([(seq, result)]);
                }
            }
        }
    }

    /// The number of jobs worker `idx` may run at once: its share of the limit.
    pub(super) fn share(&self, idx: usize) -> usize {
        let limit = self.limit.load(Ordering::Acquire);
        let workers = self.slots.len();
        limit / workers + usize::from(idx < limit % workers)
    }

    /// Moves up to `want` entries into `out` for worker `idx` (freeing their queue room);
    /// returns whether the queue is closed and empty.
    pub(super) fn pop_batch(&self, idx: usize, want: usize, out: &mut Vec<Entry<I, O>>) -> bool {
        let popped = self.queue.pop(idx, want, out);
        if popped.taken > 0 {
            self.permits.add_permits(popped.taken);
        }
        popped.finished
    }

    /// Stops intake (once): submitters waiting for room get their input back, and the workers
    /// exit when the queue is drained.
    pub(super) fn close(&self, reason: &'static str) {
        if self.queue.close() {
            self.permits.close();
            tracing::debug!(
                reason,
                queued = self.queue.queued(),
                "taskweave-pool: fixed pool closed"
            );
        }
        self.closing.cancel();
    }

    pub(super) fn wake_all(&self) {
        self.queue.wake_all();
    }

    /// Closes the pool, cancels every queued job and aborts every worker (once).
    pub(super) fn abort_all(&self, reason: &'static str) {
        let Some(queued) = self.queue.abort() else {
            return;
        };
        self.permits.close();
        self.closing.cancel();
        let workers: Vec<AbortHandle> = lock(&self.workers).clone();
        tracing::warn!(
            reason,
            never_started = queued.len(),
            "taskweave-pool: cancelling unfinished jobs"
        );
        lock(&self.never_started).extend(queued.iter().map(|e| e.id));
        // Counted before any handle or stream hears of it.
        self.counters.add(Outcome::Cancelled, queued.len() as u64);
        let mut cache = SinkCache::new();
        for entry in queued {
            self.deliver(&mut cache, entry.reply, Err(JobError::Cancelled));
        }
        for worker in workers {
            worker.abort();
        }
    }

    pub(super) fn metrics(&self) -> Metrics {
        let mut m = Metrics {
            max_concurrency: self.limit.load(Ordering::Acquire),
            queued: self.queue.queued(),
            ..Metrics::default()
        };
        for slot in self.slots.iter() {
            m.in_flight += slot.in_flight.load(Ordering::Relaxed);
            slot.counters.fill(&mut m);
        }
        self.counters.fill(&mut m);
        m
    }

    /// What was aborted or never started, taken once.
    pub(super) fn take_report(&self) -> ShutdownReport {
        ShutdownReport {
            aborted: std::mem::take(&mut *lock(&self.aborted)),
            never_started: std::mem::take(&mut *lock(&self.never_started)),
        }
    }
}
