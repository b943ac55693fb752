//! What every task of one pipeline shares: its tokens, task tracker, failure slot and counters.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::PipelineError;
use crate::metrics::{Fed, StageStats};

/// Shared by the tasks and the handles of one pipeline.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Cancelled by `close()` (or the user's token): the source stops taking items.
    pub(crate) close: CancellationToken,
    /// Cancelled by `abort()`, a `Stop` failure or the deadline: every task stops now.
    pub(crate) abort: CancellationToken,
    /// Set with `abort`, for the hot loops to check with a load instead of the token's lock.
    pub(crate) aborted: std::sync::atomic::AtomicBool,
    pub(crate) tracker: TaskTracker,
    pub(crate) failure: Mutex<Option<PipelineError>>,
    pub(crate) dead_letters_discarded: std::sync::atomic::AtomicU64,
    pub(crate) delivered: std::sync::atomic::AtomicU64,
    pub(crate) discarded: std::sync::atomic::AtomicU64,
    /// Every stage's counters and what feeds its buffer, in flow order.
    pub(crate) stages: Vec<(Arc<StageStats>, Option<Fed>)>,
}

impl Ctx {
    /// Records why the pipeline ended early (the first reason wins) and aborts it.
    pub(crate) fn fail(&self, error: PipelineError) {
        {
            let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                tracing::warn!(%error, "pipeline aborted");
                *slot = Some(error);
            }
        }
        self.aborted
            .store(true, std::sync::atomic::Ordering::Release);
        self.close.cancel();
        self.abort.cancel();
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn failure(&self) -> Option<PipelineError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
