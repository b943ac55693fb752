//! The fast path for homogeneous jobs: a fixed set of worker tasks, fed by one queue, each
//! running its share of the concurrency limit with one handler.
//!
//! Nothing is spawned per job: a worker takes inputs from the queue in batches, polls its jobs
//! concurrently in reusable slots, and hands results back in batches — to a
//! [`JobHandle`] for [`FixedPool::submit`], or to the reading stream for
//! [`FixedPool::process`], which allocates nothing per job for the result.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::{Semaphore, TryAcquireError};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::config::MAX_CAPACITY;
use crate::error::{JobError, SubmitError};
use crate::handoff::Handoff;
use crate::job::{JobCell, JobHandle, JobId, Outcome, lock};
use crate::metrics::{Counters, Metrics};
use crate::pool::watch_token;
use crate::shutdown::ShutdownReport;

mod results;
mod worker;

pub use results::Results;
use worker::worker;

/// A pool of `workers` long-lived tasks that run one handler, `handler(input) -> output`, for
/// every input: the fast path for homogeneous jobs. Built with
/// [`PoolBuilder::build_fixed`](crate::PoolBuilder::build_fixed).
///
/// It keeps the [`Pool`](crate::Pool) guarantees — at most `max_concurrency` jobs run at once
/// (each worker runs its share), a bounded queue with backpressure, panics and timeouts
/// reported per job, shutdowns that lose nothing — and drops the per-job spawn. A job that
/// panics is caught inside its worker, so the worker set never shrinks.
///
/// Clones share the pool. When the last clone (and the last stream from
/// [`process`](FixedPool::process)) is dropped, the pool closes and its workers exit once the
/// queue is drained.
pub struct FixedPool<I, O> {
    owner: Arc<Owner<I, O>>,
}

impl<I, O> Clone for FixedPool<I, O> {
    fn clone(&self) -> Self {
        Self {
            owner: Arc::clone(&self.owner),
        }
    }
}

/// Closes the pool when the last user-facing handle goes away (the workers hold `Shared`).
struct Owner<I, O> {
    shared: Arc<Shared<I, O>>,
}

impl<I, O> Drop for Owner<I, O> {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// Where a job's result goes.
enum Reply<O> {
    Handle(Arc<JobCell<O>>),
    /// To the `process` stream registered under `stream`, as its `seq`-th result. Streams are
    /// looked up by id (once per run of results, not per job) rather than held by an `Arc` in
    /// every entry, so no reference count bounces between threads per job.
    Sink {
        stream: u64,
        seq: u64,
    },
}

impl<O> Sink<O> {
    /// Appends results and wakes the stream if it is waiting.
    fn push(&self, results: impl IntoIterator<Item = (u64, Result<O, JobError>)>) {
        let waker = {
            let mut inner = lock(&self.inner);
            inner.ready.extend(results);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A worker's handle on the stream it delivered to last.
struct SinkCache<O> {
    cached: Option<(u64, Arc<Sink<O>>)>,
}

impl<O> SinkCache<O> {
    fn new() -> Self {
        Self { cached: None }
    }

    fn get<I>(&mut self, shared: &Shared<I, O>, stream: u64) -> Option<&Arc<Sink<O>>> {
        let hit = matches!(&self.cached, Some((id, _)) if *id == stream);
        if !hit {
            let found = lock(&shared.sinks).get(&stream).map(Arc::clone);
            // The previous sink (perhaps the last reference to a stream's unread results) is
            // dropped here, outside the lock.
            self.cached = found.map(|sink| (stream, sink));
        }
        self.cached.as_ref().map(|(_, sink)| sink)
    }

    /// Whether nobody wants the result any more (aborted handle, dropped stream).
    fn is_cancelled<I>(&mut self, shared: &Shared<I, O>, reply: &Reply<O>) -> bool {
        match reply {
            Reply::Handle(cell) => cell.is_abort_requested(),
            Reply::Sink { stream, .. } => self
                .get(shared, *stream)
                .is_none_or(|sink| sink.closed.load(Ordering::Acquire)),
        }
    }
}

/// Results on their way to one `process` stream.
struct Sink<O> {
    inner: Mutex<SinkInner<O>>,
    closed: AtomicBool,
}

struct SinkInner<O> {
    ready: Vec<(u64, Result<O, JobError>)>,
    /// Left by the stream only when it has nothing to yield, so workers wake it only then.
    waker: Option<Waker>,
}

struct Entry<I, O> {
    id: JobId,
    input: I,
    reply: Reply<O>,
}

/// Per-worker state, padded so that workers never write to a shared cache line.
#[repr(align(128))]
struct Slot {
    in_flight: AtomicUsize,
    counters: Counters,
}

struct Shared<I, O> {
    queue: Handoff<Entry<I, O>>,
    permits: Arc<Semaphore>,
    capacity: usize,
    limit: AtomicUsize,
    slots: Box<[Slot]>,
    timeout: Option<Duration>,
    next_id: AtomicU64,
    /// Counts jobs cancelled outside a worker (queued when the pool was aborted, or skipped).
    counters: Counters,
    live_workers: AtomicUsize,
    drained: CancellationToken,
    gone: CancellationToken,
    workers: Mutex<Vec<AbortHandle>>,
    /// The live `process` streams, by id.
    sinks: Mutex<HashMap<u64, Arc<Sink<O>>>>,
    next_stream: AtomicU64,
    aborted: Mutex<Vec<JobId>>,
    never_started: Mutex<Vec<JobId>>,
}

impl<I, O> Drop for Shared<I, O> {
    fn drop(&mut self) {
        self.gone.cancel();
    }
}

impl<I, O> FixedPool<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    pub(crate) fn start<H, Fut>(config: Config, workers: usize, handler: H) -> Self
    where
        H: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        let slots = (0..workers)
            .map(|_| Slot {
                in_flight: AtomicUsize::new(0),
                counters: Counters::default(),
            })
            .collect();
        let shared = Arc::new(Shared {
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
            gone: CancellationToken::new(),
            workers: Mutex::new(Vec::with_capacity(workers)),
            sinks: Mutex::new(HashMap::new()),
            next_stream: AtomicU64::new(0),
            aborted: Mutex::new(Vec::new()),
            never_started: Mutex::new(Vec::new()),
        });
        let handler = Arc::new(handler);
        // Spawned with no lock held: on a runtime that is shutting down, `spawn` drops the
        // worker at once, and a dropped worker takes locks to cancel what it holds.
        for idx in 0..workers {
            let task = config
                .runtime
                .spawn(worker(Arc::clone(&shared), idx, Arc::clone(&handler)));
            let abort = task.abort_handle();
            lock(&shared.workers).push(abort.clone());
            // Aborted before it was listed (its runtime dropped another worker): stop it too.
            if shared.queue.is_aborting() {
                abort.abort();
            }
        }
        if let Some(token) = config.token {
            watch_token(
                &config.runtime,
                token,
                shared.gone.clone(),
                Arc::downgrade(&shared),
                Shared::abort_all,
            );
        }
        tracing::debug!(
            workers,
            max_concurrency = config.max_concurrency,
            "taskweave-pool: fixed pool started"
        );
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared<I, O>> {
        &self.owner.shared
    }

    /// Queues `input`, waiting for queue space if the queue is full, and returns the handle
    /// that resolves to `handler(input)`'s output.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the input if the pool is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the input was not queued.
    pub async fn submit(&self, input: I) -> Result<JobHandle<O>, SubmitError<I>> {
        let shared = self.shared();
        let permit = match shared.permits.try_acquire() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return Err(SubmitError::Closed(input)),
            Err(TryAcquireError::NoPermits) => match shared.permits.acquire().await {
                Ok(permit) => permit,
                Err(_) => return Err(SubmitError::Closed(input)),
            },
        };
        permit.forget();
        shared.push_one(input)
    }

    /// Queues `input` if there is room right now, handing it back otherwise.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], carrying the input.
    pub fn try_submit(&self, input: I) -> Result<JobHandle<O>, SubmitError<I>> {
        let shared = self.shared();
        match shared.permits.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::Closed) => return Err(SubmitError::Closed(input)),
            Err(TryAcquireError::NoPermits) => return Err(SubmitError::Full(input)),
        }
        shared.push_one(input)
    }

    /// Runs the handler on every input of `inputs` and yields the results in **input order**,
    /// with no per-job allocation for the result.
    ///
    /// Backpressure: at most `max_concurrency + queue_capacity` inputs are taken ahead of the
    /// output. Every input yields exactly one item; once the pool is closed, inputs not yet
    /// queued yield [`JobError::Closed`]. Dropping the stream cancels its queued jobs (counted
    /// as cancelled) and discards the results of running ones.
    pub fn process<S>(&self, inputs: S) -> Results<S, O>
    where
        S: Stream<Item = I>,
    {
        Results::new(Arc::clone(&self.owner), inputs, true)
    }

    /// Like [`process`](FixedPool::process), but yields results in **completion order**.
    pub fn process_unordered<S>(&self, inputs: S) -> Results<S, O>
    where
        S: Stream<Item = I>,
    {
        Results::new(Arc::clone(&self.owner), inputs, false)
    }

    /// Changes the concurrency limit, re-dividing it among the workers. Raising it lets workers
    /// take more jobs at once; lowering it never interrupts a running job. A limit above
    /// [`MAX_CAPACITY`] is lowered to it.
    pub fn set_max_concurrency(&self, limit: NonZeroUsize) {
        let shared = self.shared();
        let new = limit.get().min(MAX_CAPACITY);
        let old = shared.limit.swap(new, Ordering::AcqRel);
        tracing::debug!(old, new, "taskweave-pool: concurrency limit changed");
        shared.wake_all();
    }

    /// The current concurrency limit.
    pub fn max_concurrency(&self) -> usize {
        self.shared().limit.load(Ordering::Acquire)
    }

    /// The number of worker tasks.
    pub fn workers(&self) -> usize {
        self.shared().slots.len()
    }

    /// The queue capacity.
    pub fn queue_capacity(&self) -> usize {
        self.shared().capacity
    }

    /// A snapshot of the pool's load and outcome counters. A job is counted before its handle
    /// resolves or its result reaches a stream.
    pub fn metrics(&self) -> Metrics {
        let shared = self.shared();
        let mut m = Metrics {
            max_concurrency: shared.limit.load(Ordering::Acquire),
            queued: shared.queue.queued(),
            ..Metrics::default()
        };
        for slot in shared.slots.iter() {
            m.in_flight += slot.in_flight.load(Ordering::Relaxed);
            slot.counters.fill(&mut m);
        }
        shared.counters.fill(&mut m);
        m
    }

    /// Stops accepting inputs; queued and running jobs still run.
    pub fn close(&self) {
        self.shared().close();
    }

    /// Whether the pool has been closed.
    pub fn is_closed(&self) -> bool {
        self.shared().queue.is_closed()
    }

    /// Closes the pool and waits until every queued and running job has finished and the
    /// workers have exited.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the waiting, not the draining.
    pub async fn drain(&self) {
        self.shared().close();
        self.shared().drained.cancelled().await;
    }

    /// Closes the pool and gives queued and running jobs `grace` to finish; then cancels the
    /// rest and reports which jobs were aborted or never started. Needs the time driver.
    ///
    /// # Panics
    ///
    /// Panics if awaited in a runtime without the time driver (build it with `enable_all()`
    /// or `enable_time()`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future during the grace period leaves the pool closed and draining; once
    /// the grace period is over the cancellation finishes regardless.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let shared = self.shared();
        shared.close();
        if tokio::time::timeout(grace, shared.drained.cancelled())
            .await
            .is_err()
        {
            shared.abort_all("shutdown grace period ended");
            shared.drained.cancelled().await;
        }
        ShutdownReport {
            aborted: std::mem::take(&mut *lock(&shared.aborted)),
            never_started: std::mem::take(&mut *lock(&shared.never_started)),
        }
    }
}

impl<I, O> fmt::Debug for FixedPool<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.owner.shared;
        f.debug_struct("FixedPool")
            .field("workers", &shared.slots.len())
            .field("max_concurrency", &shared.limit.load(Ordering::Relaxed))
            .field("queue_capacity", &shared.capacity)
            .finish_non_exhaustive()
    }
}

impl<I, O> Shared<I, O> {
    fn next_id(&self) -> JobId {
        JobId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues one input for which a permit is held.
    fn push_one(&self, input: I) -> Result<JobHandle<O>, SubmitError<I>> {
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
    fn push_batch(&self, batch: &mut Vec<Entry<I, O>>) -> Result<(), ()> {
        let n = batch.len();
        if self.queue.push_batch(batch) {
            Ok(())
        } else {
            self.permits.add_permits(n);
            Err(())
        }
    }

    /// Hands one result over (results for a dropped stream are discarded).
    fn deliver(&self, cache: &mut SinkCache<O>, reply: Reply<O>, result: Result<O, JobError>) {
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
    fn share(&self, idx: usize) -> usize {
        let limit = self.limit.load(Ordering::Acquire);
        let workers = self.slots.len();
        limit / workers + usize::from(idx < limit % workers)
    }

    /// Moves up to `want` entries into `out` for worker `idx` (freeing their queue room);
    /// returns whether the queue is closed and empty.
    fn pop_batch(&self, idx: usize, want: usize, out: &mut Vec<Entry<I, O>>) -> bool {
        let popped = self.queue.pop(idx, want, out);
        if popped.taken > 0 {
            self.permits.add_permits(popped.taken);
        }
        popped.finished
    }

    fn close(&self) {
        if self.queue.close() {
            self.permits.close();
            tracing::debug!(
                queued = self.queue.queued(),
                "taskweave-pool: fixed pool closed"
            );
        }
    }

    fn wake_all(&self) {
        self.queue.wake_all();
    }

    /// Closes the pool, cancels every queued job and aborts every worker (once).
    fn abort_all(&self, reason: &'static str) {
        let Some(queued) = self.queue.abort() else {
            return;
        };
        self.permits.close();
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
}
