//! The wrapper every task runs in: it catches panics, records how the task ended, applies the
//! failure policy, and leaves the phase's gate when the task is dropped.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use crate::group::GroupInner;
use crate::phase::Phase;
use crate::report::{Cause, Outcome, TaskReport};
use crate::table::Slot;

/// What a task's failure (an `Err` or a panic) does to the rest of the service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnFailure {
    /// Start shutting everything down (the default): a service missing a part is usually
    /// better restarted whole than left limping.
    #[default]
    ShutDown,
    /// Log the failure with `tracing::warn!`, record it in the report, and keep running.
    Continue,
}

/// The task's side of the bookkeeping. Dropping it leaves the phase's gate, so the live count
/// is right however the task ends: returned, panicked, or aborted.
pub(crate) struct Guard {
    pub(crate) group: Arc<GroupInner>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) on_failure: OnFailure,
    /// Whether the task's end has been recorded (set by `finish`).
    pub(crate) settled: bool,
    /// Whether the task future exists yet; a guard dropped before (the task's function
    /// panicked in `spawn`) only leaves the gate.
    pub(crate) started: bool,
    /// The task's place in its phase's table, set just before it is spawned and given back
    /// when the task's end is filed.
    pub(crate) slot: Option<Slot>,
}

impl Guard {
    fn phase(&self) -> &Phase {
        &self.group.shared.phases[self.group.phase]
    }

    pub(crate) fn path(&self) -> String {
        self.group.task_path(&self.name)
    }

    /// The task's line in the report.
    fn make_record(&mut self, outcome: Outcome) -> TaskReport {
        // The clock is read only for tasks that end after their phase began: the others
        // have no shutdown duration.
        let shutdown_duration = self
            .phase()
            .began()
            .map(|began| Instant::now().saturating_duration_since(began));
        TaskReport {
            group: Arc::clone(&self.group.path),
            name: std::mem::take(&mut self.name),
            outcome,
            on_failure: self.on_failure,
            shutdown_duration,
        }
    }

    /// Files the task's line in the report, giving back its slot in the same breath.
    fn file(&mut self, record: TaskReport) {
        match self.slot.take() {
            Some(slot) => self.phase().table.release(slot, Some(record)),
            None => self.phase().table.file(record),
        }
    }

    /// Records `outcome` and, for a failure under `OnFailure::ShutDown`, starts the shutdown.
    fn finish(&mut self, outcome: Outcome) {
        self.settled = true;
        let failure = match &outcome {
            Outcome::Failed(e) => Some((false, e)),
            Outcome::Panicked(p) => Some((true, p)),
            Outcome::Completed | Outcome::Aborted(_) => None,
        };
        let trigger = match failure {
            None if !self.phase().gate.is_closed() => {
                // The common case while running: no line in the report, just a count.
                self.group.shared.count_completed_early();
                return;
            }
            None => None,
            Some((panicked, message)) => {
                let task = self.path();
                match self.on_failure {
                    OnFailure::ShutDown if self.group.shared.is_shutting_down() => {
                        tracing::error!(task = %task, panicked, error = %message, "task failed during shutdown");
                        None
                    }
                    OnFailure::ShutDown => {
                        tracing::error!(task = %task, panicked, error = %message, "task failed; shutting the service down");
                        Some(if panicked {
                            Cause::TaskPanicked { task }
                        } else {
                            Cause::TaskFailed { task }
                        })
                    }
                    OnFailure::Continue => {
                        tracing::warn!(task = %task, panicked, error = %message, "task failed; continuing");
                        None
                    }
                }
            }
        };
        let record = self.make_record(outcome);
        self.file(record);
        if let Some(cause) = trigger {
            self.group.shared.trigger(cause);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.started && !self.settled {
            // Dropped before it finished: aborted by the coordinator, or by the runtime.
            let reason = self.phase().abort_reason();
            let record = self.make_record(Outcome::Aborted(reason));
            self.file(record);
        } else if let Some(slot) = self.slot.take() {
            // Completed while running: nothing to report, only the slot to give back.
            self.phase().table.release(slot, None);
        }
        // Only now leave the gate: once the phase's count is zero, the coordinator collects
        // the records, so every record must be filed by then.
        if self.phase().gate.leave() {
            self.group.shared.notify_idle();
        }
    }
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("task", &self.path())
            .field("on_failure", &self.on_failure)
            .field("settled", &self.settled)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A user's task future with its guard.
    pub(crate) struct TaskFuture<F> {
        #[pin]
        future: F,
        guard: Guard,
    }
}

impl<F> TaskFuture<F> {
    pub(crate) fn new(future: F, mut guard: Guard) -> Self {
        guard.started = true;
        Self { future, guard }
    }
}

impl<F, E> Future for TaskFuture<F>
where
    F: Future<Output = Result<(), E>>,
    E: fmt::Display,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.guard.settled {
            // Only reachable if polled again after a panic; the future is not touched again.
            return Poll::Ready(());
        }
        let future = this.future;
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => Outcome::Completed,
            Ok(Poll::Ready(Err(e))) => Outcome::Failed(e.to_string()),
            Err(payload) => Outcome::Panicked(panic_message(payload.as_ref())),
        };
        this.guard.finish(outcome);
        Poll::Ready(())
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
