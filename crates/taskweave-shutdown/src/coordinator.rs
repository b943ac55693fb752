//! The coordinator: waits for a trigger, then stops the phases in order.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Builder;
use crate::error::SpawnError;
use crate::group::{Group, TaskBuilder};
use crate::phase::Phase;
use crate::report::{AbortReason, Cause, Outcome, Report};
use crate::signal::{self, Signal};

/// State shared by the coordinator, its groups and every task's guard.
pub(crate) struct Shared {
    /// The default phase first, then the declared phases in stop order.
    pub(crate) phases: Box<[Phase]>,
    signals: bool,
    /// Set once, by the first trigger.
    began: OnceLock<(Cause, Instant)>,
    /// Cancelled when `began` is set, to wake `run()`.
    triggered: CancellationToken,
    /// Cancelled by a signal during shutdown.
    forced: CancellationToken,
    /// Woken whenever a phase's live count drops to zero.
    idle: Notify,
    /// Bumped by every admitted spawn; lets `all_idle` tell "no task left" from "a task
    /// spawned another and left between two looks" (see there).
    spawned: AtomicU64,
    completed_early: AtomicU64,
}

impl Shared {
    pub(crate) fn new(phases: Box<[Phase]>, signals: bool) -> Self {
        Self {
            phases,
            signals,
            began: OnceLock::new(),
            triggered: CancellationToken::new(),
            forced: CancellationToken::new(),
            idle: Notify::new(),
            spawned: AtomicU64::new(0),
            completed_early: AtomicU64::new(0),
        }
    }

    pub(crate) fn phase_of(&self, group: &str) -> usize {
        self.phases
            .iter()
            .position(|p| p.name.as_deref() == Some(group))
            .unwrap_or(0)
    }

    /// Starts the shutdown unless it has begun; returns the cause and instant that won, and
    /// whether this call was the one.
    fn begin(&self, cause: Cause) -> (&(Cause, Instant), bool) {
        let mut won = false;
        let began = self.began.get_or_init(|| {
            // Closed inside the initialiser: every caller that returns from `begin`, winner or
            // not, can count on new spawns being refused.
            for phase in &*self.phases {
                phase.gate.close();
            }
            won = true;
            (cause, Instant::now())
        });
        if won {
            tracing::debug!(cause = %began.0, "shutdown triggered");
            self.triggered.cancel();
        }
        (began, won)
    }

    pub(crate) fn trigger(&self, cause: Cause) {
        self.begin(cause);
    }

    pub(crate) fn deliver_signal(&self, signal: Signal) {
        let (_, first) = self.begin(Cause::Signal(signal));
        if !first {
            self.force(signal);
        }
    }

    fn force(&self, signal: Signal) {
        if self.forced.is_cancelled() {
            return;
        }
        tracing::warn!(%signal, "signal during shutdown: aborting every task now");
        self.forced.cancel();
        self.abort_all(AbortReason::SecondSignal);
    }

    fn abort_all(&self, reason: AbortReason) {
        for phase in &*self.phases {
            phase.token.cancel();
            phase.abort(reason);
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.began.get().is_some()
    }

    /// Counts a spawn; returns how many came before it.
    pub(crate) fn count_spawn(&self) -> u64 {
        self.spawned.fetch_add(1, Ordering::Release)
    }

    pub(crate) fn count_completed_early(&self) {
        self.completed_early.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn notify_idle(&self) {
        self.idle.notify_waiters();
    }

    /// Resolves once `phase` has no live task.
    async fn phase_idle(&self, phase: &Phase) {
        loop {
            let mut notified = pin!(self.idle.notified());
            // Registered before the check, so a task leaving right after it still wakes us.
            notified.as_mut().enable();
            if phase.gate.live() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once no phase has a live task.
    async fn all_idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            notified.as_mut().enable();
            // Looking at the phases one after another is not atomic: a task of a later phase
            // may spawn into an earlier one (already seen empty) and then end. Every spawn bumps
            // `spawned` before its parent can end, so an unchanged count proves no such spawn
            // slipped between the looks.
            let before = self.spawned.load(Ordering::Acquire);
            let busy = self.phases.iter().any(|p| p.gate.live() != 0);
            let after = self.spawned.load(Ordering::Acquire);
            if !busy && before == after {
                return;
            }
            if busy {
                notified.await;
            }
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("phases", &self.phases)
            .field("began", &self.began.get())
            .field("forced", &self.forced.is_cancelled())
            .finish_non_exhaustive()
    }
}

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
    /// A coordinator with the default configuration (one phase, 30 s grace, signals handled).
    pub fn new() -> Self {
        Self::from_shared(Arc::new(Shared::new(
            Box::new([Phase::new(None, Builder::DEFAULT_GRACE)]),
            true,
        )))
    }

    /// Configures phases, grace periods and signal handling.
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
    /// [`SpawnError`] when shutdown has begun or when called outside a Tokio runtime.
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
    /// report. A signal during shutdown aborts every remaining task at once.
    ///
    /// # Panics
    ///
    /// Panics if the runtime has no time driver (the grace periods need it): build it with
    /// `enable_all()` or `enable_time()`, as `#[tokio::main]` does.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future before it completes aborts every task that is
    /// still running and loses the report, like dropping a `JoinSet`.
    pub async fn run(self) -> Report {
        let shared = Arc::clone(&self.root.inner.shared);
        drop(self);
        let mut guard = RunGuard {
            shared: &shared,
            listener: None,
            done: false,
        };
        if shared.signals {
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
            let began = Instant::now();
            tracing::debug!(
                phase = phase.display_name(),
                live = phase.gate.live(),
                grace = ?phase.grace,
                "shutdown phase begins"
            );
            phase.begin(began);
            if !shared.forced.is_cancelled() {
                tokio::select! {
                    biased;
                    () = shared.phase_idle(phase) => {}
                    () = shared.forced.cancelled() => {}
                    () = tokio::time::sleep(phase.grace) => {
                        tracing::debug!(
                            phase = phase.display_name(),
                            still_running = phase.gate.live(),
                            "grace period over; aborting"
                        );
                        phase.abort(AbortReason::GraceExpired { grace: phase.grace });
                    }
                }
            }
            // Aborted tasks are dropped at their next poll, which records them.
            shared.phase_idle(phase).await;
            let mut ended = phase.table.take_records();
            for task in &ended {
                if let Outcome::Aborted(reason) = &task.outcome {
                    tracing::warn!(task = %task, %reason, "{reason}: {task}");
                }
            }
            tasks.append(&mut ended);
            tracing::debug!(
                phase = phase.display_name(),
                elapsed = ?began.elapsed(),
                "shutdown phase ended"
            );
        }
        guard.done = true;

        let report = Report {
            cause: cause.clone(),
            tasks,
            completed_before_shutdown: shared.completed_early.load(Ordering::Relaxed),
            duration: triggered_at.elapsed(),
            forced: shared.forced.is_cancelled(),
        };
        tracing::debug!(clean = report.is_clean(), duration = ?report.duration, "shutdown complete");
        report
    }
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
            self.shared.abort_all(AbortReason::Dropped);
        }
    }
}
