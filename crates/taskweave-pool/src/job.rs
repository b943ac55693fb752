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
    /// interrupted once their closure runs: the handle resolves to `Cancelled` and the closure's
    /// return value is discarded.
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
pub(crate) trait Runnable: Send {
    /// Polls the job; on `Ready` its result has been published.
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome>;
    /// Publishes `error` as the job's result; the job must not be polled afterwards.
    fn fail(self: Pin<&mut Self>, error: JobError);
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
    fn poll_run(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.project();
        if *this.finished {
            return Poll::Ready(Outcome::Cancelled);
        }
        if this.cell.poll_aborted(cx) {
            *this.finished = true;
            this.cell.complete(Err(JobError::Cancelled));
            return Poll::Ready(Outcome::Cancelled);
        }
        let fut = this.fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => {
                *this.finished = true;
                this.cell.complete(Ok(output));
                Poll::Ready(Outcome::Completed)
            }
            Err(payload) => {
                *this.finished = true;
                let message = panic_message(&*payload);
                this.cell.complete(Err(JobError::Panicked { message }));
                Poll::Ready(Outcome::Panicked)
            }
        }
    }

    fn fail(self: Pin<&mut Self>, error: JobError) {
        let this = self.project();
        if !*this.finished {
            *this.finished = true;
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

/// Runs a blocking closure on Tokio's blocking threads, re-raising its panic in the job so the
/// pool reports it like any other.
pub(crate) async fn run_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down; the job is dropped with it and reported as cancelled.
        Err(_) => std::future::pending().await,
    }
}
