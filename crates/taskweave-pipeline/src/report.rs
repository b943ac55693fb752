//! [`ShutdownReport`]: what `shutdown(grace)` had to drop, per stage.

use crate::metrics::Metrics;

/// What [`PipelineHandle::shutdown`](crate::PipelineHandle::shutdown) found: whether it had to
/// abort, and the final counters, in which every dropped item is counted at the stage that
/// held it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The counters once every task had ended.
    pub metrics: Metrics,
    /// Whether the grace period ran out and the pipeline was aborted.
    pub aborted: bool,
}

impl ShutdownReport {
    pub(crate) fn new(metrics: Metrics, aborted: bool) -> Self {
        Self { metrics, aborted }
    }

    /// Whether nothing had to be dropped: the pipeline drained within its grace period.
    pub fn is_clean(&self) -> bool {
        !self.aborted && self.metrics.dropped() == 0
    }

    /// Items dropped, per stage (the source first), for the stages that dropped any.
    pub fn dropped(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.metrics
            .stages
            .iter()
            .filter(|s| s.dropped > 0)
            .map(|s| (&*s.name, s.dropped))
    }
}
