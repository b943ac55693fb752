//! What `run()` hands back: how shutdown started and how every task ended.

use std::borrow::Cow;
use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::signal::Signal;
use crate::task::OnFailure;

/// What started the shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The process received a signal (or one was delivered with `deliver_signal`).
    Signal(Signal),
    /// [`close`](crate::Coordinator::close) or [`abort`](crate::Coordinator::abort) was
    /// called, or the coordinator (or `run()`'s future) was dropped, which closes it.
    Requested,
    /// The token given to [`Builder::cancellation_token`](crate::Builder::cancellation_token)
    /// was cancelled.
    Cancelled,
    /// A task with [`OnFailure::ShutDown`] returned an error.
    TaskFailed {
        /// The task's path (`group/name`).
        task: String,
    },
    /// A task with [`OnFailure::ShutDown`] panicked.
    TaskPanicked {
        /// The task's path (`group/name`).
        task: String,
    },
    /// Every task had finished on its own; there was nothing left to run.
    AllTasksFinished,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signal(s) => write!(f, "{s}"),
            Self::Requested => f.write_str("close()"),
            Self::Cancelled => f.write_str("the cancellation token"),
            Self::TaskFailed { task } => write!(f, "task `{task}` failed"),
            Self::TaskPanicked { task } => write!(f, "task `{task}` panicked"),
            Self::AllTasksFinished => f.write_str("all tasks finished"),
        }
    }
}

/// How one task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It returned `Ok(())`.
    Completed,
    /// It returned `Err(e)`; this is `e.to_string()`.
    Failed(String),
    /// It panicked; this is the panic message (or a placeholder for a non-string payload).
    Panicked(String),
    /// It was still running when it had to stop, and was aborted.
    Aborted(AbortReason),
    /// It was aborted, but had not ended when the [abort wait](crate::Builder::abort_wait) was
    /// over — its thread is blocked (a blocking call, a loop without `.await`), so the abort
    /// cannot reach it. The coordinator stopped waiting for it; it may still be running.
    Abandoned(AbortReason),
}

impl Outcome {
    /// Whether the task failed or panicked.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::Panicked(_))
    }

    /// Whether the task was aborted ([`Aborted`](Self::Aborted), or
    /// [`Abandoned`](Self::Abandoned) when the abort could not reach it).
    pub fn is_aborted(&self) -> bool {
        matches!(self, Self::Aborted(_) | Self::Abandoned(_))
    }

    /// Whether the task was abandoned: aborted, yet still running after the abort wait.
    pub fn is_abandoned(&self) -> bool {
        matches!(self, Self::Abandoned(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Completed => f.write_str("completed"),
            Self::Failed(e) => write!(f, "failed: {e}"),
            Self::Panicked(p) => write!(f, "panicked: {p}"),
            Self::Aborted(r) => write!(f, "aborted: {r}"),
            Self::Abandoned(r) => write!(f, "abandoned: {r}, and did not end after the abort"),
        }
    }
}

/// Why a task was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// It ignored its token for its phase's whole grace period.
    GraceExpired {
        /// The grace period it was given.
        grace: Duration,
    },
    /// A signal forced the shutdown (by default the second signal; see
    /// [`ForceOn`](crate::ForceOn)).
    SecondSignal,
    /// `run()` or the Tokio runtime was dropped while the task ran.
    Dropped,
    /// [`abort`](crate::Coordinator::abort) was called.
    Requested,
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GraceExpired { grace } => write!(f, "still running after {grace:?}"),
            Self::SecondSignal => f.write_str("shutdown forced by a signal"),
            Self::Dropped => f.write_str("run() or the runtime was dropped"),
            Self::Requested => f.write_str("abort() was called"),
        }
    }
}

/// One task's line in the [`Report`].
#[derive(Debug, Clone)]
pub struct TaskReport {
    pub(crate) group: Arc<str>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) outcome: Outcome,
    pub(crate) on_failure: OnFailure,
    pub(crate) shutdown_duration: Option<Duration>,
}

impl TaskReport {
    /// The task's own name, as given to `spawn`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path of the task's group (`""` for tasks spawned on the coordinator itself).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// `group/name`, or just `name` for tasks of the coordinator itself.
    pub fn path(&self) -> String {
        self.to_string()
    }

    /// How the task ended.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// The failure policy the task was spawned with.
    pub fn on_failure(&self) -> OnFailure {
        self.on_failure
    }

    /// How long the task took to end after its phase began (its token was cancelled);
    /// `None` if it ended before its phase began. For an [abandoned](Outcome::Abandoned) task,
    /// how long after its phase began it was abandoned. Measured on the CPU's time-stamp
    /// counter, or on Tokio's clock (paused time included) with the `test-util` feature.
    pub fn shutdown_duration(&self) -> Option<Duration> {
        self.shutdown_duration
    }

    fn matches(&self, path: &str) -> bool {
        if self.group.is_empty() {
            return path == self.name;
        }
        path.strip_prefix(&*self.group)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| name == self.name)
    }

    /// Whether this line makes the report unclean: an unhandled failure or an abort.
    fn is_unclean(&self) -> bool {
        match self.outcome {
            Outcome::Completed => false,
            Outcome::Failed(_) | Outcome::Panicked(_) => self.on_failure == OnFailure::ShutDown,
            Outcome::Aborted(_) | Outcome::Abandoned(_) => true,
        }
    }
}

impl fmt::Display for TaskReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.group, self.name)
        }
    }
}

/// How the service stopped: the cause, and one [`TaskReport`] per task that was still running
/// when shutdown began or that failed.
///
/// Tasks that completed successfully before shutdown began are only counted
/// ([`completed_before_shutdown`](Self::completed_before_shutdown)), so that a long-running
/// service spawning a task per request does not keep a line per request; so are tolerated
/// failures beyond [`Builder::max_failure_records`](crate::Builder::max_failure_records)
/// ([`failures_not_kept`](Self::failures_not_kept)).
#[derive(Debug, Clone)]
pub struct Report {
    pub(crate) cause: Cause,
    pub(crate) tasks: Vec<TaskReport>,
    pub(crate) completed_before_shutdown: u64,
    pub(crate) failures_not_kept: u64,
    pub(crate) duration: Duration,
    pub(crate) forced: bool,
}

impl Report {
    /// What started the shutdown.
    pub fn cause(&self) -> &Cause {
        &self.cause
    }

    /// One line per task that was running when shutdown began or that failed or panicked
    /// (tolerated failures while running: up to
    /// [`max_failure_records`](crate::Builder::max_failure_records) of them), phase by phase
    /// in stop order (within a phase, in no particular order).
    pub fn tasks(&self) -> &[TaskReport] {
        &self.tasks
    }

    /// The line of the task at `path` (`group/name`, or `name` for the coordinator's own
    /// tasks); the first one if several tasks share the path.
    pub fn task(&self, path: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| t.matches(path))
    }

    /// Tasks that returned `Ok(())` before shutdown began (they have no line of their own).
    pub fn completed_before_shutdown(&self) -> u64 {
        self.completed_before_shutdown
    }

    /// Failures (errors or panics) of tasks spawned with
    /// [`OnFailure::Continue`] while the service ran that have no line of their own, because
    /// [`max_failure_records`](crate::Builder::max_failure_records) lines were already kept.
    pub fn failures_not_kept(&self) -> u64 {
        self.failures_not_kept
    }

    /// From the trigger to the last task's end (or to the moment the coordinator stopped
    /// waiting for [abandoned](Outcome::Abandoned) tasks).
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Whether the shutdown was forced, cutting the grace periods short: by a signal (see
    /// [`ForceOn`](crate::ForceOn)) or by [`abort`](crate::Coordinator::abort).
    pub fn was_forced(&self) -> bool {
        self.forced
    }

    /// True when the shutdown was not forced, no task was aborted, and every failure or panic
    /// was under [`OnFailure::Continue`].
    pub fn is_clean(&self) -> bool {
        !self.forced && !self.tasks.iter().any(TaskReport::is_unclean)
    }

    /// What `main` should return: success when [`is_clean`](Self::is_clean), failure (1)
    /// otherwise.
    pub fn exit_code(&self) -> ExitCode {
        if self.is_clean() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count =
            |pred: fn(&Outcome) -> bool| self.tasks.iter().filter(|t| pred(&t.outcome)).count();
        let not_kept = if self.failures_not_kept > 0 {
            format!(
                " ({} tolerated, counted, not listed)",
                self.failures_not_kept
            )
        } else {
            String::new()
        };
        let abandoned = match count(Outcome::is_abandoned) {
            0 => String::new(),
            n => format!(" ({n} abandoned, maybe still running)"),
        };
        write!(
            f,
            "shutdown after {} took {:?}: {} completed, {} failed{not_kept}, {} aborted{abandoned}",
            self.cause,
            self.duration,
            count(|o| *o == Outcome::Completed) as u64 + self.completed_before_shutdown,
            count(Outcome::is_failure) as u64 + self.failures_not_kept,
            count(Outcome::is_aborted),
        )?;
        for t in self
            .tasks
            .iter()
            .filter(|t| t.outcome != Outcome::Completed)
        {
            write!(f, "\n  {t}: {}", t.outcome)?;
        }
        Ok(())
    }
}
