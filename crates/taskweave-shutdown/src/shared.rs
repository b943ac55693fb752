//! The state shared by the coordinator, its groups and every task's guard: whether and why
//! shutdown began, whether it was forced, and the counters the report is made of.

use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::phase::Phase;
use crate::report::{AbortReason, Cause};
use crate::signal::{ForceOn, Signal};

pub(crate) struct Shared {
    /// The default phase first, then the declared phases in stop order.
    pub(crate) phases: Box<[Phase]>,
    pub(crate) settings: Settings,
    /// Set once, by the first trigger.
    began: OnceLock<(Cause, Instant)>,
    /// Cancelled when `began` is set, to wake `run()`.
    pub(crate) triggered: CancellationToken,
    /// The token from `Builder::cancellation_token`: its cancellation closes the coordinator.
    pub(crate) external: Option<CancellationToken>,
    /// Cancelled when this state is dropped, to end the watcher of `external`.
    gone: CancellationToken,
    /// When the shutdown was forced; set just before `forced` is cancelled.
    forced_at: OnceLock<Instant>,
    /// Cancelled when a signal or `abort()` forces the shutdown.
    pub(crate) forced: CancellationToken,
    /// Signals received so far, to tell the second one (see [`ForceOn::SecondSignal`]).
    signals_received: AtomicU64,
    /// Woken whenever a phase's live count drops to zero.
    idle: Notify,
    /// Bumped by every admitted spawn; lets `all_idle` tell "no task left" from "a task
    /// spawned another and left between two looks" (see there).
    spawned: AtomicU64,
    completed_early: AtomicU64,
    /// Lines claimed by failures under `OnFailure::Continue` while running (may overshoot the
    /// limit: only the claims below it keep a line).
    failure_lines: AtomicUsize,
    failures_not_kept: AtomicU64,
    // Only failures, aborts and refusals count themselves: a task that completes costs no
    // counter beyond the gate (finished = spawned - running).
    failed: AtomicU64,
    aborted: AtomicU64,
    refused: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        phases: Box<[Phase]>,
        settings: Settings,
        external: Option<CancellationToken>,
    ) -> Self {
        Self {
            phases,
            settings,
            began: OnceLock::new(),
            triggered: CancellationToken::new(),
            external,
            gone: CancellationToken::new(),
            forced_at: OnceLock::new(),
            forced: CancellationToken::new(),
            signals_received: AtomicU64::new(0),
            idle: Notify::new(),
            spawned: AtomicU64::new(0),
            completed_early: AtomicU64::new(0),
            failure_lines: AtomicUsize::new(0),
            failures_not_kept: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Spawns, on the current runtime, the task that closes the coordinator when the external
    /// token is cancelled (if there is such a token and a runtime); it ends when either the
    /// token is cancelled or this state is dropped. Returns whether it was spawned.
    pub(crate) fn watch_external(self: &Arc<Self>) -> bool {
        let Some(external) = self.external.clone() else {
            return false;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let (shared, gone) = (Arc::downgrade(self), self.gone.clone());
        runtime.spawn(async move {
            tokio::select! {
                () = external.cancelled() => {
                    if let Some(shared) = shared.upgrade() {
                        shared.close(Cause::Cancelled);
                    }
                }
                () = gone.cancelled() => {}
            }
        });
        true
    }

    pub(crate) fn phase_of(&self, group: &str) -> usize {
        self.phases
            .iter()
            .position(|p| p.name.as_deref() == Some(group))
            .unwrap_or(0)
    }

    /// Starts the shutdown unless it has begun; returns the cause and instant that won, and
    /// whether this call was the one.
    pub(crate) fn begin(&self, cause: Cause) -> (&(Cause, Instant), bool) {
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
            tracing::debug!(cause = %began.0, "coordinator closed: shutdown begins");
            self.triggered.cancel();
        }
        (began, won)
    }

    /// Stops admission and starts the graceful shutdown, unless it has begun.
    pub(crate) fn close(&self, cause: Cause) {
        self.begin(cause);
    }

    /// The hard stop: closes (if not yet closed), then aborts every task now.
    pub(crate) fn abort(&self) {
        self.begin(Cause::Requested);
        self.force(AbortReason::Requested);
    }

    pub(crate) fn deliver_signal(&self, signal: Signal) {
        let received = self.signals_received.fetch_add(1, Ordering::AcqRel) + 1;
        let ((cause, _), first) = self.begin(Cause::Signal(signal));
        if first {
            return;
        }
        let force = match self.settings.force_on {
            ForceOn::SecondSignal => received >= 2,
            ForceOn::AnySignalDuringShutdown => true,
            ForceOn::Never => false,
        };
        if force {
            self.force(AbortReason::SecondSignal);
        } else {
            tracing::warn!(
                %signal,
                %cause,
                policy = ?self.settings.force_on,
                "signal during shutdown: the drain goes on"
            );
        }
    }

    /// Aborts every task now, once: the first reason wins.
    fn force(&self, reason: AbortReason) {
        if self.forced_at.set(Instant::now()).is_err() {
            return;
        }
        tracing::warn!(%reason, "shutdown forced: aborting every task now");
        self.forced.cancel();
        self.abort_all(reason);
    }

    /// When the shutdown was forced, if it was.
    pub(crate) fn forced_at(&self) -> Option<Instant> {
        self.forced_at.get().copied()
    }

    pub(crate) fn abort_all(&self, reason: AbortReason) {
        for phase in &*self.phases {
            phase.token.cancel();
            phase.abort(reason);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.began.get().is_some()
    }

    /// Counts a spawn; returns how many came before it.
    pub(crate) fn count_spawn(&self) -> u64 {
        self.spawned.fetch_add(1, Ordering::Release)
    }

    pub(crate) fn count_failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_aborted(&self) {
        self.aborted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot of the counters; see [`Metrics`].
    pub(crate) fn metrics(&self) -> Metrics {
        // `spawned` first: a task admitted between the two reads shows as running, not as
        // finished, so `finished` never counts a task that has not ended.
        let spawned = self.spawned.load(Ordering::Acquire);
        let running = self.phases.iter().map(|p| p.gate.live()).sum::<usize>();
        Metrics {
            running,
            spawned,
            finished: spawned.saturating_sub(running as u64),
            failed: self.failed.load(Ordering::Relaxed),
            aborted: self.aborted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            closed: self.is_closed(),
            forced: self.forced.is_cancelled(),
        }
    }

    pub(crate) fn count_completed_early(&self) {
        self.completed_early.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn completed_early(&self) -> u64 {
        self.completed_early.load(Ordering::Relaxed)
    }

    /// Whether a tolerated failure while running may keep a line; if not, it is counted.
    pub(crate) fn claim_failure_line(&self) -> bool {
        let max = self.settings.max_failure_records;
        // A load first, so that once the limit is reached the counter stops moving.
        if self.failure_lines.load(Ordering::Relaxed) < max
            && self.failure_lines.fetch_add(1, Ordering::Relaxed) < max
        {
            return true;
        }
        if self.failures_not_kept.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                max_failure_records = max,
                "failure lines limit reached: further tolerated failures are only counted"
            );
        }
        false
    }

    pub(crate) fn failures_not_kept(&self) -> u64 {
        self.failures_not_kept.load(Ordering::Relaxed)
    }

    pub(crate) fn notify_idle(&self) {
        self.idle.notify_waiters();
    }

    /// Resolves once `phase` has no live task.
    pub(crate) async fn phase_idle(&self, phase: &Phase) {
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
    pub(crate) async fn all_idle(&self) {
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

impl Drop for Shared {
    fn drop(&mut self) {
        self.gone.cancel();
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("phases", &self.phases)
            .field("settings", &self.settings)
            .field("began", &self.began.get())
            .field("forced", &self.forced.is_cancelled())
            .finish_non_exhaustive()
    }
}
