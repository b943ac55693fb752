//! A job's identity, the cell its result travels through, and the handle that awaits it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use crate::error::JobError;
use crate::metrics::Counters;

/// Identifies one job within its pool; ids grow in submission order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub(crate) u64);

impl JobId {
    /// The id as a number (unique within one pool).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{}", self.0)
    }
}

/// Locks `m`, ignoring poison: every critical section in this crate leaves its data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// How a job ended, for the pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Panicked,
    TimedOut,
    Cancelled,
}

/// Where a job's result is stored until its handle takes it (one allocation per job, shared by
/// the job and its handle).
pub(crate) struct JobCell<T> {
    result: Mutex<Option<Result<T, JobError>>>,
    done: AtomicBool,
    waiter: AtomicWaker,
    abort: AtomicBool,
    runner: AtomicWaker,
}

impl<T> JobCell<T> {
    pub(crate) fn new() -> Self {
        Self {
            result: Mutex::new(None),
            done: AtomicBool::new(false),
            waiter: AtomicWaker::new(),
            abort: AtomicBool::new(false),
            runner: AtomicWaker::new(),
        }
    }

    /// Stores the result (the first one wins) and wakes the handle.
    pub(crate) fn complete(&self, result: Result<T, JobError>) {
        {
            let mut slot = lock(&self.result);
            if self.done.load(Ordering::Relaxed) {
                return;
            }
            *slot = Some(result);
            self.done.store(true, Ordering::Release);
        }
        self.waiter.wake();
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    pub(crate) fn request_abort(&self) {
        self.abort.store(true, Ordering::Release);
        self.runner.wake();
    }

    /// Whether the handle asked for an abort; registers `cx` to hear about a later request.
    pub(crate) fn poll_aborted(&self, cx: &mut Context<'_>) -> bool {
        if self.abort.load(Ordering::Acquire) {
            return true;
        }
        self.runner.register(cx.waker());
        self.abort.load(Ordering::Acquire)
    }

    pub(crate) fn is_abort_requested(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }
}

/// Awaits the result of one job: its output, or a [`JobError`] saying why there is none.
///
/// Dropping the handle detaches the job: it still runs, and its result is discarded.
/// [`abort`](JobHandle::abort) cancels it instead.
pub struct JobHandle<T> {
    id: JobId,
    cell: Arc<JobCell<T>>,
    taken: bool,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(id: JobId, cell: Arc<JobCell<T>>) -> Self {
        Self {
            id,
            cell,
            taken: false,
        }
    }

    /// The job's id, as listed in a [`ShutdownReport`](crate::ShutdownReport).
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Asks the pool to cancel the job. A queued job is skipped when its turn comes; a running
    /// job is dropped at its next `.await`. The handle then resolves to
    /// [`JobError::Cancelled`], unless the job had already finished. Blocking jobs cannot be
    /// interrupted once their closure runs: the handle resolves to `Cancelled` at once, the
    /// closure's return value is discarded, and the job keeps its concurrency slot until the
    /// closure returns.
    pub fn abort(&self) {
        self.cell.request_abort();
    }

    /// Whether the job has finished (with an output or an error).
    pub fn is_finished(&self) -> bool {
        self.cell.is_done()
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    /// # Panics
    ///
    /// Panics if polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.taken, "JobHandle polled after it completed");
        if !this.cell.is_done() {
            this.cell.waiter.register(cx.waker());
            if !this.cell.is_done() {
                return Poll::Pending;
            }
        }
        this.taken = true;
        let result = lock(&this.cell.result).take();
        Poll::Ready(result.unwrap_or(Err(JobError::Cancelled)))
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A type-erased job as the pool queues it: a future that publishes its own result.
///
/// A job counts its outcome in the pool's counters *before* it publishes its result, so that
/// whoever awaits the handle finds the job counted.
pub(crate) trait Runnable: Send {
    /// Polls the job; on `Ready` its result has been counted and published, and the job holds
    /// on to nothing that counts against the pool's limit.
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>, counters: &Counters) -> Poll<()>;
    /// Counts `outcome` and publishes `error` as the job's result (if none was yet). Polling
    /// afterwards only waits until the job has let go of what it runs on (a blocking closure
    /// that cannot be interrupted).
    fn fail(self: Pin<&mut Self>, error: JobError, outcome: Outcome, counters: &Counters);
}

pin_project_lite::pin_project! {
    /// Runs `fut`, catching panics and honouring aborts, and publishes the result in `cell`.
    /// Dropped before it finishes, it publishes `Cancelled`: no handle is left waiting.
    pub(crate) struct Task<F: Future> {
        #[pin]
        fut: F,
        cell: Arc<JobCell<F::Output>>,
        finished: bool,
    }

    impl<F: Future> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.finished {
                this.cell.complete(Err(JobError::Cancelled));
            }
        }
    }
}

impl<F: Future> Task<F> {
    pub(crate) fn new(fut: F, cell: Arc<JobCell<F::Output>>) -> Self {
        Self {
            fut,
            cell,
            finished: false,
        }
    }
}

impl<F> Runnable for Task<F>
where
    F: Future + Send,
    F::Output: Send,
{
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>, counters: &Counters) -> Poll<()> {
        let this = self.project();
        if *this.finished {
            return Poll::Ready(());
        }
        let (result, outcome) = if this.cell.poll_aborted(cx) {
            (Err(JobError::Cancelled), Outcome::Cancelled)
        } else {
            let fut = this.fut;
            match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(output)) => (Ok(output), Outcome::Completed),
                Err(payload) => {
                    let message = panic_message(&*payload);
                    (Err(JobError::Panicked { message }), Outcome::Panicked)
                }
            }
        };
        *this.finished = true;
        counters.record(outcome);
        this.cell.complete(result);
        Poll::Ready(())
    }

    fn fail(self: Pin<&mut Self>, error: JobError, outcome: Outcome, counters: &Counters) {
        let this = self.project();
        if !*this.finished {
            *this.finished = true;
            counters.record(outcome);
            this.cell.complete(Err(error));
        }
    }
}

/// Wraps a future into a queued job and the handle that awaits it.
pub(crate) fn new_task<F>(id: JobId, fut: F) -> (Pin<Box<dyn Runnable>>, JobHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let cell = Arc::new(JobCell::new());
    let handle = JobHandle::new(id, Arc::clone(&cell));
    (Box::pin(Task::new(fut, cell)), handle)
}

/// A blocking job: its closure runs on Tokio's blocking threads, and the job keeps its
/// concurrency slot until the closure has returned — even when the handle has already resolved
/// to `Cancelled` (abort) or `TimedOut` — so the pool never has more closures running than its
/// limit. A panic in the closure is reported like any other.
pub(crate) struct BlockingTask<F, T> {
    /// The closure, until the job starts.
    f: Option<F>,
    /// The running closure, once the job has started.
    running: Option<tokio::task::JoinHandle<T>>,
    cell: Arc<JobCell<T>>,
    /// Whether the result has been published.
    finished: bool,
}

impl<F, T> BlockingTask<F, T> {
    pub(crate) fn new(f: F, cell: Arc<JobCell<T>>) -> Self {
        Self {
            f: Some(f),
            running: None,
            cell,
            finished: false,
        }
    }

    /// Publishes `result` if nothing was yet, counting `outcome` first (`None`: counted by the
    /// pool, which is dropping the job).
    fn publish(&mut self, result: Result<T, JobError>, outcome: Option<(Outcome, &Counters)>) {
        if !self.finished {
            self.finished = true;
            if let Some((outcome, counters)) = outcome {
                counters.record(outcome);
            }
            self.cell.complete(result);
        }
    }
}

impl<F, T> Drop for BlockingTask<F, T> {
    fn drop(&mut self) {
        // Dropped unfinished (the pool aborted it and counted it): a started closure runs on,
        // unobserved.
        self.publish(Err(JobError::Cancelled), None);
    }
}

// Nothing in it is structurally pinned: the closure is moved out, the `JoinHandle` is `Unpin`.
impl<F, T> Unpin for BlockingTask<F, T> {}

impl<F, T> Runnable for BlockingTask<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>, counters: &Counters) -> Poll<()> {
        let this = self.get_mut();
        if !this.finished && this.cell.poll_aborted(cx) {
            this.publish(
                Err(JobError::Cancelled),
                Some((Outcome::Cancelled, counters)),
            );
        }
        if this.running.is_none() {
            match this.f.take() {
                Some(f) if !this.finished => {
                    this.running = Some(tokio::task::spawn_blocking(f));
                }
                // Aborted (or failed) before it started: the closure never runs.
                _ => return Poll::Ready(()),
            }
        }
        let Some(running) = this.running.as_mut() else {
            return Poll::Ready(());
        };
        let joined = match Pin::new(running).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(joined) => joined,
        };
        this.running = None;
        // Cancelled or timed out while the closure ran: already counted and published, and the
        // return value is discarded.
        let (result, outcome) = match joined {
            Ok(value) => (Ok(value), Outcome::Completed),
            Err(error) if error.is_panic() => {
                let message = panic_message(&*error.into_panic());
                (Err(JobError::Panicked { message }), Outcome::Panicked)
            }
            // The runtime is shutting down and dropped the closure unrun.
            Err(_) => (Err(JobError::Cancelled), Outcome::Cancelled),
        };
        this.publish(result, Some((outcome, counters)));
        Poll::Ready(())
    }

    fn fail(self: Pin<&mut Self>, error: JobError, outcome: Outcome, counters: &Counters) {
        self.get_mut()
            .publish(Err(error), Some((outcome, counters)));
    }
}

/// Wraps a blocking closure into a queued job and the handle that awaits it.
pub(crate) fn new_blocking_task<F, T>(id: JobId, f: F) -> (Pin<Box<dyn Runnable>>, JobHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = Arc::new(JobCell::new());
    let handle = JobHandle::new(id, Arc::clone(&cell));
    (Box::pin(BlockingTask::new(f, cell)), handle)
}
