//! What `run()` does, and what a coordinator dropped without `run()` does in the background:
//! wait for the coordinator to close, then stop the phases in order and build the report.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::phase::Phase;
use crate::report::{AbortReason, Cause, Outcome, Report, TaskReport};
use crate::shared::Shared;
use crate::signal;

/// Waits until the coordinator closes (a trigger, its cancellation token, or no task being
/// left), then stops the phases in order. `listen`: whether to handle signals (if the
/// settings allow it).
pub(crate) async fn drive(shared: Arc<Shared>, listen: bool) -> Report {
    let mut guard = RunGuard {
        shared: &shared,
        listener: None,
        done: false,
    };
    if listen && shared.settings.signals {
        guard.listener = signal::spawn_listener(&shared);
    }

    tokio::select! {
        biased;
        () = shared.triggered.cancelled() => {}
        // Also watched by a task spawned in `build()` when it ran inside a runtime; this
        // covers a coordinator built outside one.
        () = cancelled(shared.external.as_ref()) => shared.close(Cause::Cancelled),
        () = shared.all_idle() => {}
    }
    let (&(ref cause, triggered_at), _) = shared.begin(Cause::AllTasksFinished);

    let mut tasks = Vec::new();
    for phase in &*shared.phases {
        stop_phase(&shared, phase, &mut tasks).await;
    }
    guard.done = true;

    let report = Report {
        cause: cause.clone(),
        tasks,
        completed_before_shutdown: shared.completed_early(),
        failures_not_kept: shared.failures_not_kept(),
        duration: triggered_at.elapsed(),
        forced: shared.forced.is_cancelled(),
    };
    tracing::debug!(clean = report.is_clean(), duration = ?report.duration, "shutdown complete");
    report
}

async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Stops one phase: cancels its token, waits for its tasks at most its grace period, aborts
/// the stragglers and waits at most the abort wait for them; appends the phase's lines to
/// `tasks`.
async fn stop_phase(shared: &Shared, phase: &Phase, tasks: &mut Vec<TaskReport>) {
    let began = Instant::now();
    tracing::debug!(
        phase = phase.display_name(),
        live = phase.gate.live(),
        grace = ?phase.grace,
        "shutdown phase begins"
    );
    phase.begin();
    // When the phase's tasks were aborted, if they were: from then on the wait is bounded.
    let aborted_at = match shared.forced_at() {
        Some(at) => Some(at),
        None => tokio::select! {
            biased;
            () = shared.phase_idle(phase) => None,
            () = shared.forced.cancelled() => shared.forced_at(),
            () = tokio::time::sleep(phase.grace) => {
                tracing::debug!(
                    phase = phase.display_name(),
                    still_running = phase.gate.live(),
                    "grace period over; aborting"
                );
                phase.abort(AbortReason::GraceExpired { grace: phase.grace });
                Some(Instant::now())
            }
        },
    };
    if let Some(aborted_at) = aborted_at {
        // Aborted tasks are dropped at their next poll, which records them; a task blocking
        // its thread never gets there, so the wait for them is bounded.
        let wait = shared.settings.abort_wait;
        tokio::select! {
            biased;
            () = shared.phase_idle(phase) => {}
            () = tokio::time::sleep_until(deadline(aborted_at, wait)) => {
                let now = Instant::now();
                let abandoned = phase.table.abandon(
                    phase.abort_reason(),
                    now.saturating_duration_since(began),
                );
                tracing::debug!(
                    phase = phase.display_name(),
                    abandoned,
                    "tasks did not end after being aborted; no longer waiting for them"
                );
            }
        }
    }
    let first = tasks.len();
    phase.table.take_records(tasks);
    for task in &tasks[first..] {
        match &task.outcome {
            Outcome::Aborted(reason) => tracing::warn!(task = %task, %reason, "{reason}: {task}"),
            Outcome::Abandoned(reason) => tracing::warn!(
                task = %task,
                %reason,
                abort_wait = ?shared.settings.abort_wait,
                "{reason}, and still running {:?} after being aborted (blocked thread?); abandoned: {task}",
                shared.settings.abort_wait
            ),
            _ => {}
        }
    }
    tracing::debug!(
        phase = phase.display_name(),
        elapsed = ?began.elapsed(),
        "shutdown phase ended"
    );
}

/// `at + wait`, or as far as the clock goes (tokio's `Instant` panics on overflow).
fn deadline(at: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);
    at.checked_add(wait)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}

/// Stops the signal listener when `run()` ends, and aborts every task if `run()` is dropped
/// before it ends.
struct RunGuard<'a> {
    shared: &'a Shared,
    listener: Option<tokio::task::JoinHandle<()>>,
    done: bool,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
        if !self.done {
            tracing::warn!(
                "run() (or the background shutdown of a dropped coordinator) dropped before it ended: aborting every task"
            );
            // Nothing supervises tasks any more: refuse new ones, as after close().
            self.shared.begin(Cause::Requested);
            self.shared.abort_all(AbortReason::Dropped);
        }
    }
}
