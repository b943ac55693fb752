//! Stopping a pool: the report of what a shutdown cut short, and the watcher that closes a
//! pool when its cancellation token fires.

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::job::JobId;

/// The result of [`Pool::shutdown`](crate::Pool::shutdown) and
/// [`FixedPool::shutdown`](crate::FixedPool::shutdown): the jobs the grace period could not
/// save (and those an earlier [`abort`](crate::Pool::abort) cut short). Every one of them was
/// cancelled and its handle resolved to [`JobError::Cancelled`](crate::JobError::Cancelled); no
/// job is dropped without a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Jobs that were running when the grace period ended and were aborted.
    pub aborted: Vec<JobId>,
    /// Jobs that were still queued when the grace period ended and never started.
    pub never_started: Vec<JobId>,
}

impl ShutdownReport {
    /// Whether nothing had to be aborted or cancelled: every accepted job finished within the
    /// grace period.
    pub fn is_clean(&self) -> bool {
        self.aborted.is_empty() && self.never_started.is_empty()
    }
}

/// Closes `pool` (gracefully, with `close`) when the user's `token` is cancelled: at once if it
/// already is, otherwise from a task that holds the pool weakly and ends quietly when `closing`
/// (cancelled as the pool closes for any reason) fires first. Shared by both kinds of pool.
pub(crate) fn watch_token<P: Send + Sync + 'static>(
    runtime: &Handle,
    token: CancellationToken,
    pool: &Arc<P>,
    closing: CancellationToken,
    close: fn(&P),
) {
    if token.is_cancelled() {
        close(pool);
        return;
    }
    let pool = Arc::downgrade(pool);
    runtime.spawn(async move {
        if closing
            .run_until_cancelled(token.cancelled())
            .await
            .is_some()
        {
            if let Some(pool) = pool.upgrade() {
                close(&pool);
            }
        }
    });
}
