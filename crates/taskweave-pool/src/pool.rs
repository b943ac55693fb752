//! The default pool: any `Send` future, a bounded queue, and workers that exist only while
//! there is work.
//!
//! Design: a worker task is started for a job when a concurrency slot is free; when its job
//! ends it takes the next queued job itself, so under load the pool runs one long-lived task
//! per slot and spawns nothing per job. A worker exits when the queue is empty or the limit
//! has dropped below the number of running jobs. One `std` mutex guards the queue and the
//! counts it shares with the workers; it is never held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{Semaphore, TryAcquireError};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, PoolBuilder};
use crate::error::{JobError, SubmitError};
use crate::job::{JobHandle, JobId, Outcome, Runnable, lock, new_blocking_task, new_task};
use crate::keyed::KeyedPool;
use crate::metrics::{Counters, Metrics};
use crate::shutdown::ShutdownReport;

/// A worker pool for `Send` futures: at most `max_concurrency` jobs run at once, at most
/// `queue_capacity` more wait, and every accepted job's handle resolves — to its output, or to
/// a [`JobError`] that says why not.
///
/// `Pool` is a cheap handle: clones share the same pool. Dropping every clone does not cancel
/// anything: accepted jobs still run to completion in the background (call
/// [`shutdown`](Pool::shutdown) to stop them).
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// Continues a chain of jobs (the next job of a key) once a job is done with.
pub(crate) trait Chain: Send {
    fn next(self: Box<Self>);
}

/// A queued job: its id, the type-erased future, and what to start after it.
pub(crate) struct Job {
    pub(crate) id: JobId,
    task: Option<Pin<Box<dyn Runnable>>>,
    pub(crate) chain: Option<Box<dyn Chain>>,
}

impl Job {
    pub(crate) fn new(id: JobId, task: Pin<Box<dyn Runnable>>) -> Self {
        Self {
            id,
            task: Some(task),
            chain: None,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // The job's future goes first (publishing `Cancelled` if it never finished), so the
        // next job of its key cannot start while this one still exists.
        drop(self.task.take());
        if let Some(chain) = self.chain.take() {
            chain.next();
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// One permit per free queue slot; a queued job holds one until it starts.
    permits: Semaphore,
    capacity: usize,
    /// How many freed queue slots a worker gathers before returning them.
    return_batch: usize,
    timeout: Option<Duration>,
    runtime: Handle,
    counters: Counters,
    /// Keyed jobs waiting for their key (they hold queue permits, so they count as queued).
    pub(crate) backlog: AtomicUsize,
    next_id: AtomicU64,
    /// Cancelled once the pool is closed and every accepted job has resolved.
    drained: CancellationToken,
    /// Cancelled when the pool is dropped, to stop the token watcher.
    gone: CancellationToken,
}

struct State {
    queue: VecDeque<Job>,
    limit: usize,
    /// Jobs running, which is also the number of live workers.
    running: usize,
    /// Queue slots freed by workers but not yet returned to `permits`: they are returned in
    /// batches (see `Shared::return_batch`) so a submitter blocked on a full queue is woken once
    /// per batch rather than once per job.
    unreturned: usize,
    /// Jobs accepted (queued, keyed backlog or running) whose handle has not resolved.
    outstanding: usize,
    closed: bool,
    aborting: bool,
    workers: HashMap<u64, AbortHandle>,
    next_worker: u64,
    aborted: Vec<JobId>,
    never_started: Vec<JobId>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.gone.cancel();
    }
}

impl Pool {
    /// A builder with the defaults listed on [`PoolBuilder`].
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    pub(crate) fn from_config(config: Config) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                limit: config.max_concurrency,
                running: 0,
                unreturned: 0,
                outstanding: 0,
                closed: false,
                aborting: false,
                workers: HashMap::new(),
                next_worker: 0,
                aborted: Vec::new(),
                never_started: Vec::new(),
            }),
            permits: Semaphore::new(config.queue_capacity),
            capacity: config.queue_capacity,
            return_batch: (config.queue_capacity / 32).clamp(1, 32),
            timeout: config.job_timeout,
            runtime: config.runtime,
            counters: Counters::default(),
            backlog: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            drained: CancellationToken::new(),
            gone: CancellationToken::new(),
        });
        if let Some(token) = config.token {
            watch_token(
                &shared.runtime,
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
            match self.shared.admit(FutureJob(job), has_permit) {
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
            .admit(FutureJob(job), false)
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
            match self.shared.admit(BlockingJob(f), has_permit) {
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
            .admit(BlockingJob(f), false)
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
    /// interrupts a running job, it takes effect as running jobs finish.
    pub fn set_max_concurrency(&self, limit: NonZeroUsize) {
        let released = {
            let mut st = lock(&self.shared.state);
            let old = st.limit;
            st.limit = limit.get();
            tracing::debug!(
                old,
                new = st.limit,
                "taskweave-pool: concurrency limit changed"
            );
            self.shared.fill(&mut st)
        };
        self.shared.permits.add_permits(released);
    }

    /// The current concurrency limit.
    pub fn max_concurrency(&self) -> usize {
        lock(&self.shared.state).limit
    }

    /// The queue capacity.
    pub fn queue_capacity(&self) -> usize {
        self.shared.capacity
    }

    /// A snapshot of the pool's load and outcome counters.
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::default();
        {
            let st = lock(&self.shared.state);
            m.in_flight = st.running;
            m.queued = st.queue.len();
            m.max_concurrency = st.limit;
        }
        m.queued += self.shared.backlog.load(Ordering::Relaxed);
        self.shared.counters.fill(&mut m);
        m
    }

    /// Stops accepting jobs; queued and running jobs still run. Submitters waiting for queue
    /// space get their job back in [`SubmitError::Closed`].
    pub fn close(&self) {
        self.shared.close();
    }

    /// Whether the pool has been closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared.state).closed
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
        let mut st = lock(&self.shared.state);
        ShutdownReport {
            aborted: std::mem::take(&mut st.aborted),
            never_started: std::mem::take(&mut st.never_started),
        }
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
    pub(crate) fn next_id(&self) -> JobId {
        JobId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Accepts a job if the pool is open and a slot or a queue permit is free (`has_permit`
    /// says the caller already holds one).
    fn admit<S: IntoTask>(
        self: &Arc<Self>,
        fut: S,
        has_permit: bool,
    ) -> Result<JobHandle<S::Output>, SubmitError<S>> {
        let mut st = lock(&self.state);
        if st.closed {
            drop(st);
            if has_permit {
                self.permits.add_permits(1);
            }
            return Err(SubmitError::Closed(fut));
        }
        let start_now = st.queue.is_empty() && st.running < st.limit;
        if !start_now && !has_permit {
            match self.permits.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => return Err(SubmitError::Full(fut)),
            }
        }
        let id = self.next_id();
        let (task, handle) = fut.into_task(id);
        let job = Job::new(id, task);
        st.outstanding += 1;
        if start_now {
            self.start_worker(&mut st, job);
        } else {
            st.queue.push_back(job);
        }
        drop(st);
        if start_now && has_permit {
            self.permits.add_permits(1);
        }
        Ok(handle)
    }

    /// Counts a job accepted outside `admit` (keyed jobs); false if the pool is closed.
    pub(crate) fn register_outstanding(&self) -> bool {
        let mut st = lock(&self.state);
        if st.closed {
            return false;
        }
        st.outstanding += 1;
        true
    }

    /// Takes a queue permit for a keyed job, waiting if needed; false if the pool is closed.
    pub(crate) async fn acquire_permit(&self) -> bool {
        match self.permits.try_acquire() {
            Ok(permit) => {
                permit.forget();
                return true;
            }
            Err(TryAcquireError::Closed) => return false,
            Err(TryAcquireError::NoPermits) => {}
        }
        match self.permits.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for a queue permit (not taking the fast path: the caller just failed it); false if
    /// the pool is closed.
    async fn wait_permit(&self) -> bool {
        match self.permits.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Takes a queue permit if one is free right now.
    pub(crate) fn try_acquire_permit(&self) -> Result<(), TryAcquireError> {
        self.permits.try_acquire().map(|p| p.forget())
    }

    pub(crate) fn release_permit(&self) {
        self.permits.add_permits(1);
    }

    /// Queues (or starts) an accepted job that holds a queue permit, even if the pool is
    /// closed — closing stops new work, not work already accepted. Hands the job back if the
    /// pool is aborting.
    pub(crate) fn dispatch_accepted(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        let mut st = lock(&self.state);
        if st.aborting {
            return Err(job);
        }
        let start_now = st.queue.is_empty() && st.running < st.limit;
        if start_now {
            self.start_worker(&mut st, job);
            drop(st);
            self.permits.add_permits(1);
        } else {
            st.queue.push_back(job);
        }
        Ok(())
    }

    /// Cancels an accepted job that never started (its chain must already be detached).
    pub(crate) fn reject_accepted(&self, job: Job) {
        let drained = {
            let mut st = lock(&self.state);
            st.outstanding -= 1;
            st.never_started.push(job.id);
            st.closed && st.outstanding == 0
        };
        self.permits.add_permits(1);
        self.counters.record(Outcome::Cancelled);
        drop(job);
        if drained {
            self.drained.cancel();
        }
    }

    /// Starts a worker for `job`. Spawning under the lock keeps the worker registry exact:
    /// a worker cannot deregister before it is registered.
    fn start_worker(self: &Arc<Self>, st: &mut State, job: Job) {
        st.running += 1;
        let worker_id = st.next_worker;
        st.next_worker += 1;
        let task = self.runtime.spawn(worker(Arc::clone(self), job, worker_id));
        st.workers.insert(worker_id, task.abort_handle());
    }

    /// Starts queued jobs while slots are free; returns the number of queue permits to release.
    fn fill(self: &Arc<Self>, st: &mut State) -> usize {
        let mut started = 0;
        while st.running < st.limit && !st.aborting {
            let Some(job) = st.queue.pop_front() else {
                break;
            };
            self.start_worker(st, job);
            started += 1;
        }
        started
    }

    /// Called by a worker whose job has ended: the next job to run, or `None` after the worker
    /// has been deregistered.
    fn finish_and_next(&self, worker_id: u64) -> Option<Job> {
        let mut st = lock(&self.state);
        st.outstanding -= 1;
        let next = if !st.aborting && st.running <= st.limit {
            st.queue.pop_front()
        } else {
            None
        };
        if next.is_none() {
            st.running -= 1;
            st.workers.remove(&worker_id);
        }
        let mut returned = 0;
        if next.is_some() {
            st.unreturned += 1;
            // Hold freed slots back only while the queue is busy: a short queue returns them
            // at once, so the bound is never more than `return_batch - 1` slots too tight.
            if st.unreturned >= self.return_batch || st.queue.len() < self.return_batch {
                returned = std::mem::take(&mut st.unreturned);
            }
        }
        let drained = st.closed && st.outstanding == 0;
        drop(st);
        if returned > 0 {
            self.permits.add_permits(returned);
        }
        if drained {
            self.drained.cancel();
        }
        next
    }

    fn close(&self) {
        let drained = {
            let mut st = lock(&self.state);
            if st.closed {
                return;
            }
            st.closed = true;
            tracing::debug!(
                queued = st.queue.len(),
                running = st.running,
                "taskweave-pool: closed"
            );
            st.outstanding == 0
        };
        self.permits.close();
        if drained {
            self.drained.cancel();
        }
    }

    /// Closes the pool, cancels every queued job and aborts every running one.
    fn abort_all(&self, reason: &'static str) {
        let (queued, workers, drained) = {
            let mut st = lock(&self.state);
            st.closed = true;
            st.aborting = true;
            let queued = std::mem::take(&mut st.queue);
            st.outstanding -= queued.len();
            st.never_started.extend(queued.iter().map(|job| job.id));
            let workers: Vec<AbortHandle> = st.workers.values().cloned().collect();
            (queued, workers, st.outstanding == 0)
        };
        self.permits.close();
        tracing::warn!(
            reason,
            never_started = queued.len(),
            aborting = workers.len(),
            "taskweave-pool: cancelling unfinished jobs"
        );
        self.counters.add(Outcome::Cancelled, queued.len() as u64);
        // Dropping the jobs resolves their handles; keyed successors are cancelled through
        // their chains.
        drop(queued);
        for worker in workers {
            worker.abort();
        }
        if drained {
            self.drained.cancel();
        }
    }
}

/// Runs one job to its end (output, panic, abort or timeout); dropping the job afterwards
/// starts its keyed successor.
async fn run_job(shared: &Shared, mut job: Job) -> Outcome {
    let Some(task) = job.task.as_mut() else {
        return Outcome::Cancelled;
    };
    let run = poll_fn(|cx| task.as_mut().poll_run(cx));
    match shared.timeout {
        None => run.await,
        Some(after) => match tokio::time::timeout(after, run).await {
            Ok(outcome) => outcome,
            Err(_) => {
                task.as_mut().fail(JobError::TimedOut { after });
                // The handle has its answer; the slot is held until a blocking closure
                // returns (an async job lets go at once).
                poll_fn(|cx| task.as_mut().poll_run(cx)).await;
                Outcome::TimedOut
            }
        },
    }
}

/// Accounts for a worker that was aborted mid-job (shutdown, cancellation token, runtime
/// shutdown): the job is reported aborted and its slot freed.
struct WorkerGuard {
    shared: Arc<Shared>,
    worker_id: u64,
    current: Option<JobId>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let Some(id) = self.current.take() else {
            return;
        };
        let drained = {
            let mut st = lock(&self.shared.state);
            st.running -= 1;
            st.outstanding -= 1;
            st.workers.remove(&self.worker_id);
            st.aborted.push(id);
            st.closed && st.outstanding == 0
        };
        self.shared.counters.record(Outcome::Cancelled);
        if drained {
            self.shared.drained.cancel();
        }
    }
}

/// The worker loop. The guard is built before the future is first polled, so a worker aborted
/// before it ever ran still accounts for its job.
fn worker(shared: Arc<Shared>, first: Job, worker_id: u64) -> impl Future<Output = ()> + Send {
    let guard = WorkerGuard {
        shared: Arc::clone(&shared),
        worker_id,
        current: Some(first.id),
    };
    async move {
        // Bind the whole guard: capturing only the field it assigns would drop the guard
        // (and run its abort accounting) as soon as `worker` returns.
        let mut guard = guard;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            guard.current = Some(job.id);
            let outcome = run_job(&shared, job).await;
            shared.counters.record(outcome);
            next = shared.finish_and_next(worker_id);
            guard.current = next.as_ref().map(|job| job.id);
            if next.is_some() {
                // Jobs that are always ready would otherwise keep this task on its thread.
                tokio::task::coop::consume_budget().await;
            }
        }
    }
}

/// Spawns the task that cancels everything in `pool` (with `abort_all`) when the user's token
/// fires. It holds the pool weakly and ends quietly when `gone` (cancelled as the pool is
/// dropped) fires first. Shared by both kinds of pool.
pub(crate) fn watch_token<P: Send + Sync + 'static>(
    runtime: &Handle,
    token: CancellationToken,
    gone: CancellationToken,
    pool: Weak<P>,
    abort_all: fn(&P, &'static str),
) {
    runtime.spawn(async move {
        if gone.run_until_cancelled(token.cancelled()).await.is_some() {
            if let Some(pool) = pool.upgrade() {
                abort_all(&pool, "cancellation token cancelled");
            }
        }
    });
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
