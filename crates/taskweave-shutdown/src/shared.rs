//! The state shared by the coordinator, its groups and every task's guard: whether and why
//! shutdown began, whether it was forced, and the counters the report is made of.

use std::fmt;
use std::pin::pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
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
    /// When a signal forced the shutdown; set just before `forced` is cancelled.
    forced_at: OnceLock<Instant>,
    /// Cancelled when a signal forces the shutdown.
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
}

impl Shared {
    pub(crate) fn new(phases: Box<[Phase]>, settings: Settings) -> Self {
        Self {
            phases,
            settings,
            began: OnceLock::new(),
            triggered: CancellationToken::new(),
            forced_at: OnceLock::new(),
            forced: CancellationToken::new(),
            signals_received: AtomicU64::new(0),
            idle: Notify::new(),
            spawned: AtomicU64::new(0),
            completed_early: AtomicU64::new(0),
            failure_lines: AtomicUsize::new(0),
            failures_not_kept: AtomicU64::new(0),
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
            tracing::debug!(cause = %began.0, "shutdown triggered");
            self.triggered.cancel();
        }
        (began, won)
    }

    pub(crate) fn trigger(&self, cause: Cause) {
        self.begin(cause);
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
            self.force(signal);
        } else {
            tracing::warn!(
                %signal,
                %cause,
                policy = ?self.settings.force_on,
                "signal during shutdown: the drain goes on"
            );
        }
    }

    fn force(&self, signal: Signal) {
        if self.forced.is_cancelled() {
            return;
        }
        tracing::warn!(%signal, "signal during shutdown: aborting every task now");
        let _ = self.forced_at.set(Instant::now());
        self.forced.cancel();
        self.abort_all(AbortReason::SecondSignal);
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
