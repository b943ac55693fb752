//! The default pool: any `Send` future, a bounded queue, and workers that exist only while
//! there is work.
//!
//! Design: a worker task is started for a job when a concurrency slot is free; when its job
//! ends it takes the next queued job itself, so under load the pool runs one long-lived task
//! per slot and spawns nothing per job. A worker exits when the queue is empty or the limit
//! has dropped below the number of running jobs. The public handle is here, the shared state
//! and its accounting in `shared`, closing and aborting in `lifecycle`, the worker loop in
//! `worker`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, PoolBuilder, check_concurrency};
use crate::error::{ConfigError, SubmitError};
use crate::job::{JobHandle, JobId, Runnable, new_blocking_task, new_task};
use crate::keyed::KeyedPool;
use crate::metrics::Metrics;
use crate::shutdown::{ShutdownReport, watch_token};

mod lifecycle;
mod shared;
mod worker;

pub(crate) use shared::{Chain, Job, Refused, Shared};

/// A worker pool for `Send` futures: at most `max_concurrency` jobs run at once, at most
/// `queue_capacity` more wait, and every accepted job's handle resolves — to its output, or to
/// a [`JobError`](crate::JobError) that says why not.
///
/// `Pool` is a cheap handle: clones share the same pool. Dropping the last handle — every
/// `Pool` clone, every [`KeyedPool`] made from it and every stream from
/// [`process`](Pool::process) — does what [`close`](Pool::close) does: nothing more is
/// accepted, and the jobs already accepted still run to completion in the background, their
/// handles resolving as usual (call [`shutdown`](Pool::shutdown) or [`abort`](Pool::abort)
/// first to stop them).
#[derive(Clone)]
pub struct Pool {
    owner: Arc<Owner>,
}

/// Closes the pool when the last user-facing handle goes away (workers and keyed chains hold
/// `Shared` directly).
pub(crate) struct Owner {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.close("the last handle was dropped");
    }
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
                &shared,
                shared.closing.clone(),
                |shared| shared.close("the cancellation token was cancelled"),
            );
        }
        Self {
            owner: Arc::new(Owner { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
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
            match self.shared().admit_task(FutureJob(job), has_permit) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(FutureJob(back))) => job = back,
                Err(closed) => return Err(closed.map(|j| j.0)),
            }
            // No `.await` separates taking the permit from using it, so dropping this future
            // never leaks a queue slot.
            if !self.shared().wait_permit().await {
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
        self.shared()
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
            match self.shared().admit_task(BlockingJob(f), has_permit) {
                Ok(handle) => return Ok(handle),
                Err(SubmitError::Full(BlockingJob(back))) => f = back,
                Err(closed) => return Err(closed.map(|j| j.0)),
            }
            if !self.shared().wait_permit().await {
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
        self.shared()
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
        KeyedPool::new(Arc::clone(&self.owner))
    }

    /// Changes the concurrency limit. Raising it starts queued jobs at once; lowering it never
    /// interrupts a running job, it takes effect as running jobs finish.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroConcurrency`] for 0 and [`ConfigError::ConcurrencyTooLarge`] above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY); the limit is then left as it was.
    pub fn set_max_concurrency(&self, limit: usize) -> Result<(), ConfigError> {
        self.shared().set_limit(check_concurrency(limit)?);
        Ok(())
    }

    /// The current concurrency limit.
    pub fn max_concurrency(&self) -> usize {
        self.shared().limit()
    }

    /// The queue capacity.
    pub fn queue_capacity(&self) -> usize {
        self.shared().capacity
    }

    /// How many jobs may wait behind one key of a [`KeyedPool`] (see
    /// [`PoolBuilder::key_queue_capacity`]).
    pub fn key_queue_capacity(&self) -> usize {
        self.shared().key_capacity
    }

    /// A snapshot of the pool's load and outcome counters. A job is counted in the outcome
    /// counters before its handle resolves; it leaves `in_flight` just after.
    pub fn metrics(&self) -> Metrics {
        self.shared().metrics()
    }

    /// Stops intake: later submissions (here, through a [`KeyedPool`], or from a stream) get
    /// their job back in [`SubmitError::Closed`], as do submitters waiting for room. Jobs
    /// already accepted — queued, waiting behind their key, or running — still run to
    /// completion. Idempotent; returns at once.
    pub fn close(&self) {
        self.shared().close("close() was called");
    }

    /// Whether the pool has been closed (by [`close`](Self::close), the cancellation token, a
    /// drain, a shutdown or an abort).
    pub fn is_closed(&self) -> bool {
        self.shared().is_closed()
    }

    /// Closes the pool and waits until every job accepted earlier — queued, waiting for its
    /// key, or running — has finished and its handle resolved (or, after an
    /// [`abort`](Self::abort), been cancelled). Never aborts anything itself.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future does not undo the close, and the jobs still run.
    pub async fn drain(&self) {
        let shared = self.shared();
        shared.close("drain() was called");
        shared.drained.cancelled().await;
    }

    /// Closes the pool and gives accepted jobs `grace` to finish; then cancels the rest — as
    /// [`abort`](Self::abort) does — and reports which were cut short. Every handle resolves
    /// either way. Needs a runtime with the time driver.
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

    /// The hard stop: closes the pool, drops every queued job (keyed ones included) and aborts
    /// every running one at its next `.await`. Every handle of a job cut short resolves to
    /// [`JobError::Cancelled`](crate::JobError::Cancelled); the cancellations are counted in
    /// [`Metrics::cancelled`], logged with `tracing::warn!`, and listed by a later
    /// [`shutdown`](Self::shutdown)'s report. A blocking closure that already runs cannot be
    /// interrupted: its handle resolves at once and its result is discarded. Idempotent;
    /// returns at once.
    pub fn abort(&self) {
        self.shared().abort_all("abort() was called");
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("metrics", &self.metrics())
            .field("queue_capacity", &self.shared().capacity)
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
