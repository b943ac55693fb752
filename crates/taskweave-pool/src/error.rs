//! Errors: invalid configuration, refused submissions and failed jobs.

use std::fmt;
use std::time::Duration;

/// The pool builder was given a configuration it cannot run with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `max_concurrency(0)`: a pool that may run nothing would hang every caller.
    ZeroConcurrency,
    /// `max_concurrency` above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    ConcurrencyTooLarge {
        /// The limit asked for.
        requested: usize,
        /// The largest limit supported.
        max: usize,
    },
    /// `queue_capacity(0)`: every job waits in the queue before it runs, so it needs room for one.
    ZeroQueueCapacity,
    /// The queue capacity is larger than a Tokio semaphore can count.
    QueueTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity supported.
        max: usize,
    },
    /// `key_queue_capacity(0)`: a key could never take a second job while one runs.
    ZeroKeyQueueCapacity,
    /// `key_queue_capacity` above [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    KeyQueueTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity supported.
        max: usize,
    },
    /// `job_timeout(Duration::ZERO)`: every job would time out before it starts.
    ZeroTimeout,
    /// `fixed_workers(0)`: the fixed-worker pool needs at least one worker.
    ZeroWorkers,
    /// More fixed workers than the pool supports (each is a task with its own state, made up
    /// front; a few per CPU is the useful range).
    TooManyWorkers {
        /// The number of workers asked for.
        requested: usize,
        /// The largest number supported.
        max: usize,
    },
    /// More fixed workers than the concurrency limit: some workers could never run a job.
    WorkersExceedConcurrency {
        /// The number of workers asked for.
        workers: usize,
        /// The concurrency limit.
        max_concurrency: usize,
    },
    /// `build` was called outside a Tokio runtime and no runtime handle was given.
    NoRuntime,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroConcurrency => {
                f.write_str("max_concurrency must be at least 1; pass the number of jobs that may run at once")
            }
            Self::ConcurrencyTooLarge { requested, max } => write!(
                f,
                "max_concurrency {requested} is larger than the supported maximum {max}; pick a smaller limit"
            ),
            Self::ZeroKeyQueueCapacity => f.write_str(
                "key_queue_capacity must be at least 1: room for the jobs that wait behind a busy key",
            ),
            Self::KeyQueueTooLarge { requested, max } => write!(
                f,
                "key_queue_capacity {requested} is larger than the supported maximum {max}; pick a smaller bound"
            ),
            Self::ZeroQueueCapacity => f.write_str(
                "queue_capacity must be at least 1; use try_submit to reject work instead of queueing it",
            ),
            Self::QueueTooLarge { requested, max } => write!(
                f,
                "queue_capacity {requested} is larger than the supported maximum {max}; pick a smaller bound"
            ),
            Self::ZeroTimeout => f.write_str(
                "job_timeout must be longer than zero; leave it unset to let jobs run without a deadline",
            ),
            Self::ZeroWorkers => f.write_str("fixed_workers must be at least 1"),
            Self::TooManyWorkers { requested, max } => write!(
                f,
                "fixed_workers ({requested}) is more than the supported maximum {max}; one to a few workers per CPU is enough, raise max_concurrency instead"
            ),
            Self::WorkersExceedConcurrency {
                workers,
                max_concurrency,
            } => write!(
                f,
                "fixed_workers ({workers}) exceeds max_concurrency ({max_concurrency}); use at most one worker per concurrency slot"
            ),
            Self::NoRuntime => f.write_str(
                "no Tokio runtime: build the pool inside a runtime or pass one with `PoolBuilder::runtime`",
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A job the pool did not accept, handed back to the caller ([`into_inner`](Self::into_inner)).
///
/// `Clone`, `PartialEq` and `Eq` when the job is; `Debug` never shows the job (futures and
/// closures rarely implement it).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError<T> {
    /// The queue is full (only from `try_submit`); retry later or use `submit` to wait for room.
    Full(T),
    /// The pool is closed (by `close`, its cancellation token, a drain, a shutdown, an abort,
    /// or the drop of its last handle) and accepts no more jobs.
    Closed(T),
}

impl<T> SubmitError<T> {
    /// Returns the job that was not accepted.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(job) | Self::Closed(job) => job,
        }
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> SubmitError<U> {
        match self {
            Self::Full(job) => SubmitError::Full(f(job)),
            Self::Closed(job) => SubmitError::Closed(f(job)),
        }
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

// Manual impls: jobs are futures and closures, which are rarely `Debug`.
impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str(
                "the pool's queue is full; retry later, or use `submit` to wait for room",
            ),
            Self::Closed(_) => f.write_str(
                "the pool is closed and accepts no more jobs; submit to a pool that is still open (a closed pool never reopens)",
            ),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {}

/// Why a job produced no output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked; the panic was contained and the pool kept running.
    Panicked {
        /// The panic message, or a placeholder if the payload was not a string.
        message: String,
    },
    /// The job ran longer than the pool's per-job timeout and was dropped.
    TimedOut {
        /// The timeout that expired.
        after: Duration,
    },
    /// The job was cancelled before it finished: aborted through its handle, by the pool's
    /// `abort`, by a shutdown whose grace period ran out, or because the pool's runtime was
    /// shut down.
    Cancelled,
    /// The pool was closed before this job could be queued (stream helpers only); it never ran.
    Closed,
}

impl JobError {
    /// The panic message, if the job panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Self::Panicked { message } => Some(message),
            _ => None,
        }
    }

    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked { .. })
    }

    /// Whether the job timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimedOut { .. })
    }

    /// Whether the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked { message } => write!(f, "the job panicked: {message}"),
            Self::TimedOut { after } => write!(
                f,
                "the job did not finish within {after:?}; raise the pool's job_timeout if it needs longer"
            ),
            Self::Cancelled => f.write_str(
                "the job was cancelled before it finished (aborted, or cut short by a shutdown); give the shutdown a longer grace period if it should have finished",
            ),
            Self::Closed => f.write_str(
                "the pool was closed before the job could be queued; keep the pool open until the stream has read its input",
            ),
        }
    }
}

impl std::error::Error for JobError {}
