//! [`PipelineHandle`]: the lifecycle of a running pipeline (close, drain, shutdown, abort,
//! metrics), shared by clones.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ctx::Ctx;
use crate::error::PipelineError;
use crate::metrics::{Fed, Metrics};
use crate::report::ShutdownReport;

/// Closes the pipeline when the last handle (and the [`Pipeline`](crate::Pipeline)) is gone.
#[derive(Debug)]
struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A cheap, cloneable handle on a running pipeline. Dropping the last handle (the
/// [`Pipeline`](crate::Pipeline) holds one) closes the pipeline, as
/// [`close`](Self::close) does.
#[derive(Debug, Clone)]
pub struct PipelineHandle {
    ctx: Arc<Ctx>,
    _close_on_drop: Arc<CloseOnDrop>,
}

impl PipelineHandle {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        let guard = Arc::new(CloseOnDrop(ctx.close.clone()));
        Self {
            ctx,
            _close_on_drop: guard,
        }
    }

    pub(crate) fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// Graceful stop: the source stops taking items; every stage finishes what it holds and
    /// flushes it downstream. Idempotent, returns at once. The source task sees it between
    /// batches of items that were ready at once (at most 64), so a few more may be taken; they
    /// go through like the rest.
    pub fn close(&self) {
        if !self.ctx.close.is_cancelled() {
            tracing::debug!("pipeline closing");
        }
        self.ctx.close.cancel();
    }

    /// Whether [`close`](Self::close) (or the cancellation token, or an abort) has been called.
    pub fn is_closed(&self) -> bool {
        self.ctx.close.is_cancelled()
    }

    /// The hard stop: every stage stops now; what is in flight or buffered is counted as
    /// dropped (see [`metrics`](Self::metrics)) and logged. Does nothing if the pipeline has
    /// already finished.
    pub fn abort(&self) {
        if !self.is_finished() {
            self.ctx.fail(PipelineError::Aborted);
        }
    }

    /// Whether every task of the pipeline has ended.
    pub fn is_finished(&self) -> bool {
        self.ctx.tracker.is_empty()
    }

    /// [`close`](Self::close), then waits until every stage has flushed what it held. Never
    /// aborts. The output must be read meanwhile, or the last stage waits for room forever.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the waiting, not the pipeline (which is closed).
    pub async fn drain(&self) {
        self.close();
        self.ctx.tracker.wait().await;
    }

    /// [`close`](Self::close), waits up to `grace` as [`drain`](Self::drain) does, then
    /// aborts what still runs, and reports per stage what had to be dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancelling it after the grace period has started leaves the pipeline closed but not
    /// aborted; call [`abort`](Self::abort) to finish the job.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.close();
        let aborted = tokio::time::timeout(grace, self.ctx.tracker.wait())
            .await
            .is_err();
        if aborted {
            tracing::warn!(
                ?grace,
                "pipeline did not drain within its grace period: aborting"
            );
            self.ctx.fail(PipelineError::Aborted);
            self.ctx.tracker.wait().await;
        }
        ShutdownReport::new(self.metrics(), aborted)
    }

    /// Waits until the pipeline has ended on its own (the source ran dry and every stage
    /// flushed) or was stopped, and says which.
    ///
    /// # Errors
    ///
    /// [`PipelineError`] if a stage under [`ErrorPolicy::Stop`](crate::ErrorPolicy::Stop)
    /// failed, the deadline passed, or the pipeline was aborted.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn finished(&self) -> Result<(), PipelineError> {
        self.ctx.tracker.wait().await;
        match self.ctx.failure() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// A snapshot of every stage's counters.
    pub fn metrics(&self) -> Metrics {
        let stages = self
            .ctx
            .stages
            .iter()
            .map(|(stats, fed_by)| stats.snapshot(fed_by.as_ref().map(Fed::sent)))
            .collect();
        Metrics {
            stages,
            delivered: self.ctx.delivered.load(Relaxed),
            discarded: self.ctx.discarded.load(Relaxed),
            dead_letters_discarded: self.ctx.dead_letters_discarded.load(Relaxed),
        }
    }
}
