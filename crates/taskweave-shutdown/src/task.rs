//! The wrapper every task runs in: it catches panics, records how the task ended, applies the
//! failure policy, and leaves the phase's gate when the task is dropped.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::group::GroupInner;
use crate::phase::Phase;
use crate::report::{Cause, Outcome};
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
/// is right however the task ends: returned, panicked, or aborted. The task's name lives in its
/// phase's table (see `TaskId`), next to its handle.
pub(crate) struct Guard {
    pub(crate) group: Arc<GroupInner>,
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

    /// How long after its phase began the task is ending; `None` before the phase began (the
    /// clock is read only for tasks that end after it).
    fn shutdown_duration(&self) -> Option<Duration> {
        self.phase().since_began()
    }

    /// Gives back the task's slot, filing its line with `outcome` if `keep`; returns the task's
    /// path for a failure (to log it), computed while its name is at hand.
    fn release(&mut self, outcome: Outcome, keep: bool) -> Option<String> {
        let slot = self.slot.take()?;
        let failure = outcome.is_failure();
        let shutdown_duration = if keep { self.shutdown_duration() } else { None };
        let (path, leftover) = self.phase().table.release(slot, |id| {
            let path = failure.then(|| id.path());
            if keep {
                (
                    Some(id.into_record(outcome, shutdown_duration)),
                    (path, None),
                )
            } else {
                // Dropped outside the shard's lock.
                (None, (path, Some(id)))
            }
        })?;
        drop(leftover);
        path
    }

    /// Records `outcome` and, for a failure under `OnFailure::ShutDown`, starts the shutdown.
    fn finish(&mut self, outcome: Outcome) {
        self.settled = true;
        // Read from the coordinator's once-set flag rather than from the gate, whose cache line
        // every ending task writes (the gates close inside the flag's initialiser; a task ending
        // during that call counts as ended before the shutdown).
        let running = !self.group.shared.is_closed();
        let Some(panicked) = (match &outcome {
            Outcome::Failed(_) => Some(false),
            Outcome::Panicked(_) => Some(true),
            _ => None,
        }) else {
            if running {
                // The common case while running: no line in the report, just a count.
                self.group.shared.count_completed_early();
                self.release(outcome, false);
            } else {
                self.release(outcome, true);
            }
            return;
        };
        self.group.shared.count_failed();
        let message = match &outcome {
            Outcome::Failed(m) | Outcome::Panicked(m) => m.clone(),
            _ => String::new(),
        };
        let policy = self.on_failure;
        // A tolerated failure while running keeps a line only while there is room for one.
        let keep =
            !(running && policy == OnFailure::Continue) || self.group.shared.claim_failure_line();
        let Some(task) = self.release(outcome, keep) else {
            return;
        };
        match policy {
            OnFailure::ShutDown if !running => {
                tracing::error!(task = %task, panicked, error = %message, "task failed during shutdown");
            }
            OnFailure::ShutDown => {
                tracing::error!(task = %task, panicked, error = %message, "task failed; shutting the service down");
                self.group.shared.close(if panicked {
                    Cause::TaskPanicked { task }
                } else {
                    Cause::TaskFailed { task }
                });
            }
            OnFailure::Continue => {
                tracing::warn!(task = %task, panicked, error = %message, kept = keep, "task failed; continuing");
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.started && !self.settled {
            // Dropped before it finished: aborted by the coordinator, or by the runtime.
            self.group.shared.count_aborted();
            let reason = self.phase().abort_reason();
            self.release(Outcome::Aborted(reason), true);
        } else if self.slot.is_some() {
            // Unreachable today (`finish` gives the slot back), kept so a slot is never lost.
            self.release(Outcome::Completed, false);
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
            .field("group", &&*self.group.path)
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
