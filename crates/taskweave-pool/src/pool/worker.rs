//! A default-pool worker: runs its job, then takes the next queued one itself, and exits when
//! the queue is empty (or the limit has dropped below the number of running jobs).

use std::future::{Future, poll_fn};
use std::sync::Arc;

use crate::error::JobError;
use crate::job::Outcome;

use super::shared::{Job, Shared};

/// Runs one job to its end (output, panic, abort or timeout); its outcome is counted and its
/// handle resolved by the time this returns.
async fn run_job(shared: &Shared, job: &mut Job) {
    let Some(task) = job.task.as_mut() else {
        return;
    };
    let counters = &shared.counters;
    let run = poll_fn(|cx| task.as_mut().poll_run(cx, counters));
    match shared.timeout {
        None => run.await,
        Some(after) => {
            if tokio::time::timeout(after, run).await.is_err() {
                task.as_mut()
                    .fail(JobError::TimedOut { after }, Outcome::TimedOut, counters);
                // The handle has its answer; the slot is held until a blocking closure
                // returns (an async job lets go at once).
                poll_fn(|cx| task.as_mut().poll_run(cx, counters)).await;
            }
        }
    }
}

/// Holds the worker's current job, so that a worker dropped mid-job (by `abort`, or by a
/// runtime that is shutting down) accounts for it before the job is dropped.
struct WorkerGuard {
    shared: Arc<Shared>,
    worker_id: u64,
    current: Option<Job>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if let Some(job) = self.current.take() {
            self.shared.worker_lost(self.worker_id, job);
        }
    }
}

/// The worker loop. The guard is built before the future is first polled, so a worker dropped
/// before it ever ran (a runtime shutting down drops it inside `spawn`) still accounts for its
/// job.
pub(super) fn worker(
    shared: Arc<Shared>,
    first: Job,
    worker_id: u64,
) -> impl Future<Output = ()> + Send {
    let guard = WorkerGuard {
        shared: Arc::clone(&shared),
        worker_id,
        current: Some(first),
    };
    async move {
        // Bind the whole guard: capturing only the field it uses would drop the guard (and run
        // its accounting) as soon as `worker` returns.
        let mut guard = guard;
        while let Some(job) = guard.current.as_mut() {
            run_job(&shared, job).await;
            // Dropping the finished job queues its key's next job (no lock is held here), so
            // that this worker may take it at once.
            drop(guard.current.take());
            guard.current = shared.finish_and_next(worker_id);
            if guard.current.is_some() {
                // Jobs that are always ready would otherwise keep this task on its thread.
                tokio::task::coop::consume_budget().await;
            }
        }
    }
}
