//! The coordinator: waits for a trigger, then stops the phases in order.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Builder, Settings};
use crate::error::SpawnError;
use crate::group::{Group, TaskBuilder};
use crate::phase::Phase;
use crate::report::{AbortReason, Cause, Outcome, Report, TaskReport};
use crate::shared::Shared;
use crate::signal::{self, Signal};

/// Owns a service's tasks from start to a clean exit.
///
/// Spawn tasks (directly or in [groups](Self::group)), then await [`run`](Self::run): it waits
/// for a trigger — a signal, [`trigger`](Self::trigger), a failing task, or every task having
/// finished — then stops the phases in order and returns a [`Report`]. See the
/// [crate docs](crate) for the whole lifecycle.
pub struct Coordinator {
    root: Group,
}

impl Coordinator {
    /// A coordinator with the default configuration (one phase, 30 s grace, signals handled);
    /// see [`Builder::new`].
    pub fn new() -> Self {
        Self::from_shared(Arc::new(Shared::new(
            Box::new([Phase::new(None, Builder::DEFAULT_GRACE)]),
            Settings::default(),
        )))
    }

    /// Configures phases, grace periods, signal handling and the bounds on waiting and on the
    /// report.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self {
            root: Group::root(shared),
        }
    }

    /// The coordinator's root group: a cloneable handle to spawn, trigger or deliver signals
    /// from anywhere, including from inside tasks.
    pub fn handle(&self) -> Group {
        self.root.clone()
    }

    /// A top-level group named `name`; it stops in the phase of the same name, or in the default
    /// phase if no phase has that name. The name must be non-empty and free of `/`, or the
    /// group refuses to spawn; see [`Group::group`].
    pub fn group(&self, name: &str) -> Group {
        self.root.group(name)
    }

    /// Spawns the task `name` in the root group (the default phase). See [`Group::spawn`].
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when shutdown has begun, when called outside a Tokio runtime, or when
    /// `name` is empty or contains `/`.
    pub fn spawn<F, Fut, E>(
        &self,
        name: impl Into<Cow<'static, str>>,
        task: F,
    ) -> Result<(), SpawnError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.root.spawn(name, task)
    }

    /// Starts describing a task of the root group, to set its options. See [`Group::task`].
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'_> {
        self.root.task(name)
    }

    /// The token of the default phase (the root group's tasks receive it).
    pub fn token(&self) -> CancellationToken {
        self.root.token()
    }

    /// Starts the shutdown ([`Cause::Requested`]) unless it has begun. See [`Group::trigger`].
    pub fn trigger(&self) {
        self.root.trigger();
    }

    /// Acts as if the process had received `signal`. See [`Group::deliver_signal`].
    pub fn deliver_signal(&self, signal: Signal) {
        self.root.deliver_signal(signal);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.root.is_shutting_down()
    }

    /// Runs until shutdown is triggered, stops the phases in order, and reports.
    ///
    /// With signal handling on (the default), the handlers are registered when this future is
    /// first polled and dropped when it returns.
    ///
    /// Shutdown starts at the first of: a signal, [`trigger`](Self::trigger), a task failing or
    /// panicking under [`OnFailure::ShutDown`](crate::OnFailure::ShutDown), or no task being
    /// left (so call it after spawning). Then each phase in turn — the default phase first,
    /// then the declared ones in order — has its token cancelled and its grace period to
    /// finish; tasks still running after it are aborted, named in a `tracing::warn!` and in the
    /// report. By default the second signal received forces the shutdown: every remaining task
    /// is aborted at once (see [`ForceOn`](crate::ForceOn)).
    ///
    /// Every wait after the trigger is bounded: a phase lasts at most its grace period plus
    /// the [abort wait](Builder::abort_wait); a task that does not end even after being aborted
    /// is reported as [`Outcome::Abandoned`] and left behind.
    ///
    /// # Panics
    ///
    /// Panics if the runtime has no time driver (the grace periods need it): build it with
    /// `enable_all()` or `enable_time()`, as `#[tokio::main]` does.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future before it completes aborts every task that is
    /// still running, refuses later spawns (as after a trigger), and loses the report, like
    /// dropping a `JoinSet`.
    pub async fn run(self) -> Report {
        let shared = Arc::clone(&self.root.inner.shared);
        drop(self);
        let mut guard = RunGuard {
            shared: &shared,
            listener: None,
            done: false,
        };
        if shared.settings.signals {
            guard.listener = signal::spawn_listener(&shared);
        }

        tokio::select! {
            biased;
            () = shared.triggered.cancelled() => {}
            () = shared.all_idle() => {}
        }
        let (&(ref cause, triggered_at), _) = shared.begin(Cause::AllTasksFinished);

        let mut tasks = Vec::new();
        for phase in &*shared.phases {
            tasks.append(&mut stop_phase(&shared, phase).await);
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
}

/// Stops one phase: cancels its token, waits for its tasks at most its grace period, aborts
/// the stragglers and waits at most the abort wait for them; returns the phase's lines.
async fn stop_phase(shared: &Shared, phase: &Phase) -> Vec<TaskReport> {
    let began = Instant::now();
    tracing::debug!(
        phase = phase.display_name(),
        live = phase.gate.live(),
        grace = ?phase.grace,
        "shutdown phase begins"
    );
    phase.begin(began);
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
    let ended = phase.table.take_records();
    for task in &ended {
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
    ended
}

/// `at + wait`, or as far as the clock goes (tokio's `Instant` panics on overflow).
fn deadline(at: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);
    at.checked_add(wait)
        .or_else(|| at.checked_add(FAR))
        .unwrap_or(at)
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("shared", &self.root.inner.shared)
            .finish()
    }
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
            tracing::warn!("run() dropped before it ended: aborting every task");
            // Nothing supervises tasks any more: refuse new ones, as after a trigger.
            self.shared.begin(Cause::Requested);
            self.shared.abort_all(AbortReason::Dropped);
        }
    }
}
