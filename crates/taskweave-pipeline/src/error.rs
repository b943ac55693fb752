//! The crate's errors: configuration, a stage's failure on one item, and the pipeline's end.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A type-erased error, as stage closures and [`Stage`](crate::Stage) implementations return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A [`Flow`](crate::Flow) was configured with a value `build()` refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A stage's concurrency was 0 or above [`MAX_CONCURRENCY`](crate::MAX_CONCURRENCY).
    Concurrency {
        /// The stage's name.
        stage: Arc<str>,
        /// The value given.
        value: usize,
    },
    /// A buffer capacity was 0 or above [`MAX_BUFFER`](crate::MAX_BUFFER).
    Buffer {
        /// The stage's name (`"source"` or `"dead letters"` for those buffers).
        stage: Arc<str>,
        /// The value given.
        value: usize,
    },
    /// A stage's per-item timeout was zero.
    ZeroTimeout {
        /// The stage's name.
        stage: Arc<str>,
    },
    /// A stage routes errors to dead letters but the flow has no dead-letter output.
    NoDeadLetterOutput {
        /// The stage's name.
        stage: Arc<str>,
    },
    /// More stages than [`MAX_STAGES`](crate::MAX_STAGES).
    TooManyStages,
    /// A fan-out into 0 or more than [`MAX_BRANCHES`](crate::MAX_BRANCHES) branches.
    Branches {
        /// The value given.
        value: usize,
    },
    /// A flow holds only some of a fan-out's branches: merge them all back with
    /// [`Flow::merge`](crate::Flow::merge) before `build()`.
    UnmergedBranches {
        /// How many branches the fan-out has.
        branches: usize,
        /// How many of them this flow holds.
        found: usize,
    },
    /// `build()` was called outside a Tokio runtime, where no stage task can be spawned.
    NoRuntime,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Concurrency { stage, value } => write!(
                f,
                "stage `{stage}`: concurrency {value} is out of range; use 1..={}",
                crate::MAX_CONCURRENCY
            ),
            Self::Buffer { stage, value } => write!(
                f,
                "stage `{stage}`: buffer {value} is out of range; use 1..={}",
                crate::MAX_BUFFER
            ),
            Self::ZeroTimeout { stage } => write!(
                f,
                "stage `{stage}`: a zero timeout fails every item; use a positive duration or none"
            ),
            Self::NoDeadLetterOutput { stage } => write!(
                f,
                "stage `{stage}` dead-letters errors: call `Flow::dead_letters(capacity)` first"
            ),
            Self::TooManyStages => {
                write!(f, "a flow holds at most {} stages", crate::MAX_STAGES)
            }
            Self::Branches { value } => write!(
                f,
                "a fan-out into {value} branches is out of range; use 1..={}",
                crate::MAX_BRANCHES
            ),
            Self::UnmergedBranches { branches, found } => write!(
                f,
                "the flow holds {found} of a fan-out's {branches} branches: `Flow::merge` them all"
            ),
            Self::NoRuntime => write!(f, "build the pipeline inside a Tokio runtime"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A stage's per-item timeout elapsed before the item was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    /// The stage's timeout.
    pub after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the item was not processed within {:?}", self.after)
    }
}

impl std::error::Error for TimedOut {}

/// Why a stage failed on one item; what then happens is the stage's
/// [`ErrorPolicy`](crate::ErrorPolicy).
#[derive(Debug)]
#[non_exhaustive]
pub enum StageError {
    /// The stage returned an error.
    Failed(BoxError),
    /// The stage's per-item timeout elapsed.
    TimedOut(TimedOut),
    /// The stage panicked; the panic message, if it was a string.
    Panicked(String),
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "the stage failed: {e}"),
            Self::TimedOut(t) => t.fmt(f),
            Self::Panicked(msg) => write!(f, "the stage panicked: {msg}"),
        }
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Failed(e) => Some(&**e),
            Self::TimedOut(t) => Some(t),
            Self::Panicked(_) => None,
        }
    }
}

/// Why a pipeline did not run to its natural end.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PipelineError {
    /// A stage with [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop) failed on an item; the
    /// pipeline was aborted and what it still held was counted as dropped.
    Stopped {
        /// The stage's name.
        stage: Arc<str>,
        /// The error, as text (the item's [`StageError`] is logged with `tracing`).
        error: String,
    },
    /// The flow's overall deadline passed; the pipeline was aborted.
    DeadlineExceeded(Duration),
    /// [`abort`](crate::PipelineHandle::abort) or a `shutdown` whose grace ran out stopped it.
    Aborted,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stopped { stage, error } => {
                write!(f, "stage `{stage}` stopped the pipeline: {error}")
            }
            Self::DeadlineExceeded(d) => write!(f, "the pipeline's deadline of {d:?} passed"),
            Self::Aborted => write!(f, "the pipeline was aborted"),
        }
    }
}

impl std::error::Error for PipelineError {}
