//! The fast path for homogeneous jobs: a fixed set of worker tasks, fed by one queue, each
//! running its share of the concurrency limit with one handler.
//!
//! Nothing is spawned per job: a worker takes inputs from the queue in batches, polls its jobs
//! concurrently in reusable slots, and hands results back in batches — to a
//! [`JobHandle`] for [`FixedPool::submit`], or to the reading stream for
//! [`FixedPool::process`], which allocates nothing per job for the result. The public handle
//! is here, the shared state in `shared`, result delivery in `sink`, the worker loop in
//! `worker` and the stream in `results`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_core::Stream;
use tokio::sync::TryAcquireError;

use crate::config::{Config, check_concurrency};
use crate::error::{ConfigError, SubmitError};
use crate::job::{JobHandle, lock};
use crate::metrics::Metrics;
use crate::shutdown::{ShutdownReport, watch_token};

mod results;
mod shared;
mod sink;
mod worker;

pub use results::Results;
use shared::Shared;
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
/// Clones share the pool. Dropping the last clone and the last stream from
/// [`process`](FixedPool::process) does what [`close`](FixedPool::close) does: queued and
/// running jobs still finish (their handles resolve), and the workers exit once the queue is
/// drained.
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
        self.shared.close("the last handle was dropped");
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
        let shared = Arc::new(Shared::new(&config, workers));
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
        tracing::debug!(
            workers,
            max_concurrency = config.max_concurrency,
            "taskweave-pool: fixed pool started"
        );
        if let Some(token) = config.token {
            watch_token(
                &config.runtime,
                token,
                &shared,
                shared.closing.clone(),
                |shared| shared.close("the cancellation token was cancelled"),
            );
        }
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
    /// queued yield [`JobError::Closed`](crate::JobError::Closed). Dropping the stream cancels
    /// its queued jobs (counted as cancelled) and discards the results of running ones. The
    /// stream is a handle of the pool: while it lives, the pool stays open.
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
    /// take more jobs at once; lowering it never interrupts a running job.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroConcurrency`] for 0 and [`ConfigError::ConcurrencyTooLarge`] above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY); the limit is then left as it was.
    pub fn set_max_concurrency(&self, limit: usize) -> Result<(), ConfigError> {
        let new = check_concurrency(limit)?;
        let shared = self.shared();
        let old = shared.limit.swap(new, Ordering::AcqRel);
        tracing::debug!(old, new, "taskweave-pool: concurrency limit changed");
        shared.wake_all();
        Ok(())
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
        self.shared().metrics()
    }

    /// Stops intake: later submissions get their input back in [`SubmitError::Closed`], as do
    /// submitters waiting for queue room, and streams yield
    /// [`JobError::Closed`](crate::JobError::Closed) for inputs not yet queued. Queued and
    /// running jobs still run to completion. Idempotent; returns at once.
    pub fn close(&self) {
        self.shared().close("close() was called");
    }

    /// Whether the pool has been closed (by [`close`](Self::close), the cancellation token, a
    /// drain, a shutdown or an abort).
    pub fn is_closed(&self) -> bool {
        self.shared().queue.is_closed()
    }

    /// Closes the pool and waits until every queued and running job has finished (or, after
    /// an [`abort`](Self::abort), been cancelled) and the workers have exited. Never aborts
    /// anything itself.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future does not undo the close, and the jobs still run.
    pub async fn drain(&self) {
        self.shared().close("drain() was called");
        self.shared().drained.cancelled().await;
    }

    /// Closes the pool and gives queued and running jobs `grace` to finish; then cancels the
    /// rest — as [`abort`](Self::abort) does — and reports which jobs were aborted or never
    /// started. Needs the time driver.
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
        shared.close("shutdown() was called");
        if tokio::time::timeout(grace, shared.drained.cancelled())
            .await
            .is_err()
        {
            shared.abort_all("the shutdown grace period ended");
            shared.drained.cancelled().await;
        }
        shared.take_report()
    }

    /// The hard stop: closes the pool, cancels every queued job and aborts the workers, which
    /// drop their running jobs. Every handle resolves to
    /// [`JobError::Cancelled`](crate::JobError::Cancelled) and every stream yields it for each
    /// input it had queued; the cancellations are counted in [`Metrics::cancelled`], logged
    /// with `tracing::warn!`, and listed by a later [`shutdown`](Self::shutdown)'s report.
    /// Idempotent; returns at once.
    pub fn abort(&self) {
        self.shared().abort_all("abort() was called");
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
