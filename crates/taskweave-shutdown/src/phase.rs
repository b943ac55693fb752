//! One shutdown phase at run time: its grace period, token, gate and task table.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::gate::Gate;
use crate::report::AbortReason;
use crate::table::TaskTable;

const NOT_ABORTED: u8 = 0;
const GRACE_EXPIRED: u8 = 1;
const SECOND_SIGNAL: u8 = 2;
const DROPPED: u8 = 3;
const REQUESTED: u8 = 4;

#[derive(Debug)]
pub(crate) struct Phase {
    /// `None` for the default phase.
    pub(crate) name: Option<String>,
    pub(crate) grace: Duration,
    pub(crate) gate: CachePadded<Gate>,
    /// Cancelled when the phase begins; the tokens of the phase's groups are its children.
    pub(crate) token: CancellationToken,
    aborted: AtomicU8,
    /// When the phase began; set by `run()` just before cancelling `token`.
    began: OnceLock<Instant>,
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
            began: OnceLock::new(),
            table: TaskTable::new(),
        }
    }

    /// Marks the phase as begun and cancels its token.
    pub(crate) fn begin(&self, now: Instant) {
        // Every live task is about to end and file a record: make room once, now, rather
        // than by doubling while ending tasks wait for the lock.
        self.table.reserve_records(self.gate.live());
        let _ = self.began.set(now);
        self.token.cancel();
    }

    /// When the phase began, if it has.
    pub(crate) fn began(&self) -> Option<Instant> {
        self.began.get().copied()
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
