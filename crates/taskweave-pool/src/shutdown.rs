//! What a shutdown had to cut short.

use crate::job::JobId;

/// The result of [`Pool::shutdown`](crate::Pool::shutdown) and
/// [`FixedPool::shutdown`](crate::FixedPool::shutdown): the jobs the grace period could not
/// save. Every one of them was cancelled and its handle resolved to
/// [`JobError::Cancelled`](crate::JobError::Cancelled); no job is dropped without a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that were running when the grace period ended and were aborted.
    pub aborted: Vec<JobId>,
    /// Jobs that were still queued when the grace period ended and never started.
    pub never_started: Vec<JobId>,
}

impl ShutdownReport {
    /// Whether every accepted job finished within the grace period.
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty() && self.never_started.is_empty()
    }
}
