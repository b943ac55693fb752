//! Closing and aborting a default pool: the close, the hard stop (also taken when a runtime
//! drops a worker mid-job), and the report of what was cut short.

use std::collections::VecDeque;

use tokio::task::AbortHandle;

use crate::job::{Outcome, lock};
use crate::shutdown::ShutdownReport;

use super::shared::{Job, Shared, State};

/// What `begin_abort` took out of the state, for `finish_abort` to cancel with no lock held.
struct Abort {
    queued: VecDeque<Job>,
    workers: Vec<AbortHandle>,
    drained: bool,
}

impl Shared {
    /// Cancels an accepted keyed job that never started (its chain must already be detached).
    pub(crate) fn reject_accepted(&self, job: Job) {
        let drained = {
            let mut st = lock(&self.state);
            st.outstanding -= 1;
            st.never_started.push(job.id);
            st.closed && st.outstanding == 0
        };
        self.counters.record(Outcome::Cancelled);
        drop(job);
        if drained {
            self.drained.cancel();
        }
    }

    /// A worker was dropped while it held `job` (running, or about to run). If the pool was
    /// not aborting, the worker's runtime is shutting down (nothing else drops a worker): no
    /// worker will run what is queued, so everything is cancelled, and the pool closes.
    pub(super) fn worker_lost(&self, worker_id: u64, job: Job) {
        let (abort, drained) = {
            let mut st = lock(&self.state);
            st.running -= 1;
            st.outstanding -= 1;
            st.workers.remove(&worker_id);
            st.aborted.push(job.id);
            // Before the job is dropped, so that its key's chain finds the pool aborting and
            // does not dispatch onto the dying runtime.
            let abort = self.begin_abort(&mut st);
            (abort, st.closed && st.outstanding == 0)
        };
        // Counted before the handle hears of it.
        self.counters.record(Outcome::Cancelled);
        drop(job);
        if let Some(abort) = abort {
            self.finish_abort(
                abort,
                "a worker was dropped mid-job (its runtime is shutting down)",
            );
        }
        if drained {
            self.drained.cancel();
        }
    }

    /// Stops intake (once): submitters waiting for room get their job back, and queued,
    /// keyed and running jobs carry on.
    pub(super) fn close(&self, reason: &'static str) {
        let drained = {
            let mut st = lock(&self.state);
            if st.closed {
                return;
            }
            st.closed = true;
            tracing::debug!(
                reason,
                queued = st.queue.len(),
                running = st.running,
                "taskweave-pool: closed"
            );
            st.outstanding == 0
        };
        self.permits.close();
        self.closing.cancel();
        if drained {
            self.drained.cancel();
        }
    }

    /// Closes the pool, cancels every queued job and aborts every running one (once).
    pub(super) fn abort_all(&self, reason: &'static str) {
        let abort = self.begin_abort(&mut lock(&self.state));
        if let Some(abort) = abort {
            self.finish_abort(abort, reason);
        }
    }

    fn begin_abort(&self, st: &mut State) -> Option<Abort> {
        if st.aborting {
            return None;
        }
        st.closed = true;
        st.aborting = true;
        st.owed = 0;
        let queued = std::mem::take(&mut st.queue);
        st.outstanding -= queued.len();
        st.never_started.extend(queued.iter().map(|job| job.id));
        let workers = st.workers.values().flatten().cloned().collect();
        Some(Abort {
            queued,
            workers,
            drained: st.outstanding == 0,
        })
    }

    fn finish_abort(&self, abort: Abort, reason: &'static str) {
        let Abort {
            queued,
            workers,
            drained,
        } = abort;
        self.permits.close();
        self.closing.cancel();
        tracing::warn!(
            reason,
            never_started = queued.len(),
            aborting = workers.len(),
            "taskweave-pool: cancelling unfinished jobs"
        );
        // Counted before the handles hear of it.
        self.counters.add(Outcome::Cancelled, queued.len() as u64);
        // Dropping the jobs resolves their handles; keyed successors are cancelled through
        // their chains.
        drop(queued);
        for worker in workers {
            worker.abort();
        }
        if drained {
            self.drained.cancel();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// What was aborted or never started, taken once.
    pub(super) fn take_report(&self) -> ShutdownReport {
        let mut st = lock(&self.state);
        ShutdownReport {
            aborted: std::mem::take(&mut st.aborted),
            never_started: std::mem::take(&mut st.never_started),
        }
    }
}
