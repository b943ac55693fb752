//! One shutdown phase at run time: its grace period, token, gate and task table.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use taskweave_clock::{Clock, DefaultClock};
use tokio_util::sync::CancellationToken;

use crate::gate::Gate;
use crate::report::AbortReason;
use crate::table::TaskTable;

const NOT_ABORTED: u8 = 0;
const GRACE_EXPIRED: u8 = 1;
const SECOND_SIGNAL: u8 = 2;
const DROPPED: u8 = 3;
const REQUESTED: u8 = 4;

const NOT_BEGUN: u64 = u64::MAX;

#[derive(Debug)]
pub(crate) struct Phase {
    /// `None` for the default phase.
    pub(crate) name: Option<String>,
    pub(crate) grace: Duration,
    pub(crate) gate: CachePadded<Gate>,
    /// Cancelled when the phase begins; the tokens of the phase's groups are its children.
    pub(crate) token: CancellationToken,
    aborted: AtomicU8,
    /// What each task's time to stop is measured on: the time-stamp counter (read once per
    /// ending task, so its cost counts), or Tokio's clock with the `test-util` feature.
    clock: DefaultClock,
    /// When the phase began on `clock`, or `NOT_BEGUN`; set by `run()` just before cancelling
    /// `token`.
    began: AtomicU64,
    pub(crate) table: TaskTable,
}

impl Phase {
    pub(crate) fn new(name: Option<String>, grace: Duration) -> Self {
        Self {
            name,
            grace,
            gate: CachePadded::new(Gate::new()),
            token: CancellationToken::new(),
            aborted: AtomicU8::new(NOT_ABORTED),
            clock: DefaultClock::new(),
            began: AtomicU64::new(NOT_BEGUN),
            table: TaskTable::new(),
        }
    }

    /// Marks the phase as begun and cancels its token.
    pub(crate) fn begin(&self) {
        let now = self.clock.now_nanos();
        // Before the tokens are cancelled, so that every task woken by them sees it.
        let _ = self
            .began
            .compare_exchange(NOT_BEGUN, now, Ordering::Release, Ordering::Relaxed);
        self.token.cancel();
    }

    /// How long ago the phase began; `None` before it began.
    pub(crate) fn since_began(&self) -> Option<Duration> {
        let began = self.began.load(Ordering::Acquire);
        (began != NOT_BEGUN)
            .then(|| Duration::from_nanos(self.clock.now_nanos().saturating_sub(began)))
    }

    pub(crate) fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }

    /// Aborts every task of the phase (the first reason given wins) and any spawned later.
    pub(crate) fn abort(&self, reason: AbortReason) {
        let code = match reason {
            AbortReason::GraceExpired { .. } => GRACE_EXPIRED,
            AbortReason::SecondSignal => SECOND_SIGNAL,
            AbortReason::Dropped => DROPPED,
            AbortReason::Requested => REQUESTED,
        };
        // Set before the tasks are aborted, so that each task's guard reads it when dropped.
        let _ =
            self.aborted
                .compare_exchange(NOT_ABORTED, code, Ordering::AcqRel, Ordering::Acquire);
        self.table.abort_all();
    }

    /// Why a task of this phase that is dropped unfinished was aborted.
    pub(crate) fn abort_reason(&self) -> AbortReason {
        match self.aborted.load(Ordering::Acquire) {
            GRACE_EXPIRED => AbortReason::GraceExpired { grace: self.grace },
            SECOND_SIGNAL => AbortReason::SecondSignal,
            REQUESTED => AbortReason::Requested,
            _ => AbortReason::Dropped,
        }
    }
}
