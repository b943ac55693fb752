//! The default pool: any `Send` future, a bounded queue, and workers that exist only while
//! there is work.
//!
//! Design: a worker task is started for a job when a concurrency slot is free; when its job
//! ends it takes the next queued job itself, so under load the pool runs one long-lived task
//! per slot and spawns nothing per job. A worker exits when the queue is empty or the limit
//! has dropped below the number of running jobs. The public handle is here, the shared state
//! and its accounting in `shared`, the worker loop in `worker`.

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, MAX_CAPACITY, PoolBuilder};
use crate::error::SubmitError;
use crate::job::{JobHandle, JobId, Runnable, new_blocking_task, new_task};
use crate::keyed::KeyedPool;
use crate::metrics::Metrics;
use crate::shutdown::ShutdownReport;

mod shared;
mod worker;

pub(crate) use shared::{Chain, Job, Refused, Shared};
pub(crate) use worker::watch_token;

/// A worker pool for `Send` futures: at most `max_concurrency` jobs run at once, at most
/// `queue_capacity` more wait, and every accepted job's handle resolves — to its output, or to
/// a [`JobError`](crate::JobError) that says why not.
///
/// `Pool` is a cheap handle: clones share the same pool. Dropping every clone does not cancel
/// anything: accepted jobs still run to completion in the background (call
/// [`shutdown`](Pool::shutdown) to stop them).
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    /// A builder with the defaults listed on [`PoolBuilder`].
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        let shared = Arc::new(Shared::new(&config));
        if let Some(token) = config.token {
            watch_token(
                &config.runtime,
                token,
                shared.gone.clone(),
                Arc::downgrade(&shared),
                Shared::abort_all,
            );
        }
        Self { shared }
    }

    /// Queues `job`, waiting for queue space if the queue is full (backpressure), and returns
    /// the handle that resolves to its output.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job if the pool is closed (also while waiting).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the job was not queued.
    pub async fn submit<F>(&self, job: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut job = job;
        let mut has_permit = false;
        loop {
            match self.shared.admit_task(FutureJob(job), has_permit) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(FutureJob(back))) => job = back,
                Err(closed) => return Err(closed.map(|j| j.0)),
            }
            // No `.await` separates taking the permit from using it, so dropping this future
            // never leaks a queue slot.
            if !self.shared.wait_permit().await {
                return Err(SubmitError::Closed(job));
            }
            has_permit = true;
        }
    }

    /// Queues `job` if there is room right now, handing it back otherwise. Usable outside the
    /// runtime.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] if the queue is full, [`SubmitError::Closed`] if the pool is
    /// closed; both carry the job.
    pub fn try_submit<F>(&self, job: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared
            .admit_task(FutureJob(job), false)
            .map_err(|e| e.map(|j| j.0))
    }

    /// Like [`submit`](Pool::submit) for blocking work: `f` runs on Tokio's blocking threads
    /// while it holds one of the pool's concurrency slots.
    ///
    /// A running closure cannot be interrupted. An [`abort`](JobHandle::abort) or the job
    /// timeout resolves its handle at once, but the closure keeps its slot until it returns, so
    /// the limit holds for blocking threads too; after a [`shutdown`](Pool::shutdown) has
    /// aborted it, it finishes on its own, its result discarded.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the closure if the pool is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like `submit`.
    pub async fn submit_blocking<F, T>(&self, f: F) -> Result<JobHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The same loop as `submit`'s: a generic helper shared by both would make the
        // returned futures fail `Send` checks for some outputs (a rustc limitation with
        // higher-ranked lifetimes in generic async fns).
        let mut f = f;
        let mut has_permit = false;
        loop {
            match self.shared.admit_task(BlockingJob(f), has_permit) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(BlockingJob(back))) => f = back,
                Err(closed) => return Err(closed.map(|j| j.0)),
            }
            if !self.shared.wait_permit().await {
                return Err(SubmitError::Closed(f));
            }
            has_permit = true;
        }
    }

    /// Like [`try_submit`](Pool::try_submit) for blocking work (see
    /// [`submit_blocking`](Pool::submit_blocking)).
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], carrying the closure.
    pub fn try_submit_blocking<F, T>(&self, f: F) -> Result<JobHandle<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared
            .admit_task(BlockingJob(f), false)
            .map_err(|e| e.map(|j| j.0))
    }

    /// A submitter for keyed jobs: jobs with equal keys run one at a time in submission order,
    /// jobs with different keys run in parallel. Clones of the returned [`KeyedPool`] share the
    /// ordering; separate calls to `keyed` do not.
    pub fn keyed<K>(&self) -> KeyedPool<K>
    where
        K: std::hash::Hash + Eq + Clone + Send + 'static,
    {
        KeyedPool::new(Arc::clone(&self.shared))
    }

    /// Changes the concurrency limit. Raising it starts queued jobs at once; lowering it never
    /// interrupts a running job, it takes effect as running jobs finish. A limit above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY) is lowered to it.
    pub fn set_max_concurrency(&self, limit: NonZeroUsize) {
        self.shared.set_limit(limit.get().min(MAX_CAPACITY));
    }

    /// The current concurrency limit.
    pub fn max_concurrency(&self) -> usize {
        self.shared.limit()
    }

    /// The queue capacity.
    pub fn queue_capacity(&self) -> usize {
        self.shared.capacity
    }

    /// How many jobs may wait behind one key of a [`KeyedPool`] (see
    /// [`PoolBuilder::key_queue_capacity`]).
    pub fn key_queue_capacity(&self) -> usize {
        self.shared.key_capacity
    }

    /// A snapshot of the pool's load and outcome counters. A job is counted in the outcome
    /// counters before its handle resolves; it leaves `in_flight` just after.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Stops accepting jobs; queued and running jobs still run. Submitters waiting for queue
    /// space get their job back in [`SubmitError::Closed`].
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the pool has been closed.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the pool and waits until every accepted job — queued, waiting for its key, or
    /// running — has finished and its handle resolved.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the waiting, not the draining.
    pub async fn drain(&self) {
        self.shared.close();
        self.shared.drained.cancelled().await;
    }

    /// Closes the pool and gives accepted jobs `grace` to finish; then cancels the rest —
    /// aborting running jobs and dropping queued ones — and reports which were cut short.
    /// Every handle resolves either way. Needs a runtime with the time driver.
    ///
    /// # Panics
    ///
    /// Panics if awaited in a runtime without the time driver (build it with `enable_all()`
    /// or `enable_time()`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future during the grace period leaves the pool closed and draining; once
    /// the grace period is over, the cancellation has begun and finishes regardless.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.shared.close();
        if tokio::time::timeout(grace, self.shared.drained.cancelled())
            .await
            .is_err()
        {
            self.shared.abort_all("shutdown grace period ended");
            self.shared.drained.cancelled().await;
        }
        self.shared.take_report()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("metrics", &self.metrics())
            .field("queue_capacity", &self.shared.capacity)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Shared {
    /// Admits an async or blocking job and spawns its worker if it starts at once.
    fn admit_task<S: IntoTask>(
        self: &Arc<Self>,
        job: S,
        has_permit: bool,
    ) -> Result<JobHandle<S::Output>, SubmitError<S>> {
        let admitted = self.admit(has_permit, job, |id, job| {
            let (task, handle) = job.into_task(id);
            (Job::new(id, task), handle)
        });
        match admitted {
            Ok(admitted) => {
                if admitted.release_permit {
                    self.release_permit();
                }
                if let Some(start) = admitted.start {
                    self.spawn(start);
                }
                Ok(admitted.handle)
            }
            Err((Refused::Full, job)) => Err(SubmitError::Full(job)),
            Err((Refused::Closed, job)) => Err(SubmitError::Closed(job)),
        }
    }
}

/// Something the pool can turn into a queued job; handed back unchanged if it is refused.
pub(crate) trait IntoTask: Sized {
    type Output;
    fn into_task(self, id: JobId) -> (Pin<Box<dyn Runnable>>, JobHandle<Self::Output>);
}

/// An async job.
pub(crate) struct FutureJob<F>(pub(crate) F);

impl<F> IntoTask for FutureJob<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;
    fn into_task(self, id: JobId) -> (Pin<Box<dyn Runnable>>, JobHandle<F::Output>) {
        new_task(id, self.0)
    }
}

/// A blocking job, run with `spawn_blocking` while it holds a concurrency slot (until its
/// closure returns, even if its handle was aborted or timed out first).
pub(crate) struct BlockingJob<F>(pub(crate) F);

impl<F, T> IntoTask for BlockingJob<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;
    fn into_task(self, id: JobId) -> (Pin<Box<dyn Runnable>>, JobHandle<T>) {
        new_blocking_task(id, self.0)
    }
}
