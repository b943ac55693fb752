//! The state shared by a default pool's handles and workers: the queue, the counts, admission
//! and scheduling (closing and aborting are in `lifecycle`). One `std` mutex guards it; it is
//! never held across an `.await`, while a worker is spawned, or while a job (a user future) is
//! dropped.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::job::{JobId, Runnable, lock};
use crate::metrics::{Counters, Metrics};

use super::worker::worker;

/// Continues a chain of jobs (the next job of a key) once a job is done with.
pub(crate) trait Chain: Send {
    fn next(self: Box<Self>);
}

/// An accepted job: its id, the type-erased future, and what to start after it.
pub(crate) struct Job {
    pub(crate) id: JobId,
    pub(super) task: Option<Pin<Box<dyn Runnable>>>,
    pub(crate) chain: Option<Box<dyn Chain>>,
}

impl Job {
    pub(crate) fn new(id: JobId, task: Pin<Box<dyn Runnable>>) -> Self {
        Self {
            id,
            task: Some(task),
            chain: None,
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // The job's future goes first (publishing `Cancelled` if it never finished), so the
        // next job of its key cannot start while this one still exists.
        drop(self.task.take());
        if let Some(chain) = self.chain.take() {
            chain.next();
        }
    }
}

pub(crate) struct Shared {
    pub(super) state: Mutex<State>,
    /// One permit per free queue slot; a queued job holds one until it starts.
    pub(super) permits: Semaphore,
    pub(super) capacity: usize,
    /// How many jobs may wait behind one key.
    pub(crate) key_capacity: usize,
    /// How many freed queue slots a worker gathers before returning them.
    return_batch: usize,
    pub(super) timeout: Option<Duration>,
    runtime: Handle,
    pub(super) counters: Counters,
    /// Keyed jobs waiting behind their key (they hold no queue permit; they count as queued).
    pub(crate) backlog: AtomicUsize,
    next_id: AtomicU64,
    /// Cancelled once the pool is closed and every accepted job has resolved.
    pub(super) drained: CancellationToken,
    /// Cancelled when the pool closes, to hand back jobs waiting for room behind a key and to
    /// stop the cancellation-token watcher.
    pub(crate) closing: CancellationToken,
}

pub(super) struct State {
    pub(super) queue: VecDeque<Job>,
    pub(super) limit: usize,
    /// Jobs running, which is also the number of live workers.
    pub(super) running: usize,
    /// Queue slots freed by workers but not yet returned to `permits`: they are returned in
    /// batches (see `Shared::return_batch`) so a submitter blocked on a full queue is woken once
    /// per batch rather than once per job.
    pub(super) unreturned: usize,
    /// Queued keyed jobs that entered without a permit, taking the place of their key's
    /// previous job: the next slots freed in the queue pay them back instead of being returned,
    /// so the queue holds at most `capacity` jobs once they are paid.
    pub(super) owed: usize,
    /// Jobs accepted (queued, waiting behind a key or running) whose handle has not resolved.
    pub(super) outstanding: usize,
    pub(super) closed: bool,
    pub(super) aborting: bool,
    /// Live workers, by id; `None` while the worker is being spawned.
    pub(super) workers: HashMap<u64, Option<AbortHandle>>,
    pub(super) next_worker: u64,
    pub(super) aborted: Vec<JobId>,
    pub(super) never_started: Vec<JobId>,
}

/// A worker to spawn, with [`Shared::spawn`], once no lock is held: its concurrency slot was
/// reserved under the state lock.
#[must_use = "a reserved worker must be spawned"]
pub(crate) struct Start {
    worker_id: u64,
    job: Job,
}

/// Why a job was not admitted.
pub(crate) enum Refused {
    Full,
    Closed,
}

/// The outcome of [`Shared::admit`]. `release_permit`: the caller's queue permit was not needed
/// and must be returned (with no lock held: returning it may wake a submitter).
pub(crate) struct Admitted<H> {
    pub(crate) handle: H,
    pub(crate) start: Option<Start>,
    pub(crate) release_permit: bool,
}

impl Shared {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                limit: config.max_concurrency,
                running: 0,
                unreturned: 0,
                owed: 0,
                outstanding: 0,
                closed: false,
                aborting: false,
                workers: HashMap::new(),
                next_worker: 0,
                aborted: Vec::new(),
                never_started: Vec::new(),
            }),
            permits: Semaphore::new(config.queue_capacity),
            capacity: config.queue_capacity,
            key_capacity: config.key_queue_capacity,
            return_batch: (config.queue_capacity / 32).clamp(1, 32),
            timeout: config.job_timeout,
            runtime: config.runtime.clone(),
            counters: Counters::default(),
            backlog: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            drained: CancellationToken::new(),
            closing: CancellationToken::new(),
        }
    }

    pub(crate) fn next_id(&self) -> JobId {
        JobId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Admits the job that `build` makes from `payload` if the pool is open and a slot or a
    /// queue permit is free (`has_permit`: the caller holds one). A job that may start at once
    /// comes back as a [`Start`]; on refusal the payload comes back, and a held permit has
    /// been returned.
    pub(crate) fn admit<P, H>(
        &self,
        has_permit: bool,
        payload: P,
        build: impl FnOnce(JobId, P) -> (Job, H),
    ) -> Result<Admitted<H>, (Refused, P)> {
        let mut st = lock(&self.state);
        if st.closed {
            drop(st);
            if has_permit {
                self.permits.add_permits(1);
            }
            return Err((Refused::Closed, payload));
        }
        let start_now = st.queue.is_empty() && st.running < st.limit;
        if !start_now && !has_permit {
            match self.permits.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => return Err((Refused::Full, payload)),
            }
        }
        let id = self.next_id();
        let (job, handle) = build(id, payload);
        st.outstanding += 1;
        let start = if start_now {
            Some(reserve_worker(&mut st, job))
        } else {
            st.queue.push_back(job);
            None
        };
        Ok(Admitted {
            handle,
            start,
            release_permit: start_now && has_permit,
        })
    }

    /// Spawns a reserved worker. Call it with no lock held: on a runtime that is shutting
    /// down, `spawn` drops the worker at once, and a dropped worker takes the state lock (and
    /// drops its job, which may run a key's chain).
    pub(crate) fn spawn(self: &Arc<Self>, start: Start) {
        let Start { worker_id, job } = start;
        let task = self.runtime.spawn(worker(Arc::clone(self), job, worker_id));
        let abort = task.abort_handle();
        let mut st = lock(&self.state);
        let aborting = st.aborting;
        match st.workers.get_mut(&worker_id) {
            // Already finished, or dropped by a runtime that is shutting down.
            None => return,
            Some(slot) if !aborting => {
                *slot = Some(abort);
                return;
            }
            // The pool was aborted before this worker was listed: stop it too.
            Some(_) => {}
        }
        drop(st);
        abort.abort();
    }

    /// Counts a job accepted behind its key; false if the pool is closed.
    pub(crate) fn register_outstanding(&self) -> bool {
        let mut st = lock(&self.state);
        if st.closed {
            return false;
        }
        st.outstanding += 1;
        true
    }

    /// Waits for a queue permit and keeps it; false if the pool is closed.
    pub(crate) async fn wait_permit(&self) -> bool {
        match self.permits.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn release_permit(&self) {
        self.permits.add_permits(1);
    }

    /// Queues (or starts) the next job of a key once the previous one is done with, even if
    /// the pool is closed — closing stops new work, not work already accepted. The job takes
    /// the place of its predecessor, so it needs no queue permit (see `State::owed`). Hands the
    /// job back if the pool is aborting.
    pub(crate) fn dispatch_next(&self, job: Job) -> Result<Option<Start>, Job> {
        let mut st = lock(&self.state);
        if st.aborting {
            return Err(job);
        }
        if st.queue.is_empty() && st.running < st.limit {
            return Ok(Some(reserve_worker(&mut st, job)));
        }
        st.owed += 1;
        st.queue.push_back(job);
        Ok(None)
    }

    /// Changes the limit and starts queued jobs while slots are free.
    pub(super) fn set_limit(self: &Arc<Self>, limit: usize) {
        let mut starts = Vec::new();
        let released = {
            let mut st = lock(&self.state);
            let old = std::mem::replace(&mut st.limit, limit);
            tracing::debug!(
                old,
                new = limit,
                "taskweave-pool: concurrency limit changed"
            );
            let mut released = 0;
            while st.running < st.limit && !st.aborting {
                let Some(job) = st.queue.pop_front() else {
                    break;
                };
                starts.push(reserve_worker(&mut st, job));
                released += self.left_queue(&mut st);
            }
            released
        };
        if released > 0 {
            self.permits.add_permits(released);
        }
        for start in starts {
            self.spawn(start);
        }
    }

    /// A job left the queue to run: it pays back an owed place, or its queue slot is to be
    /// returned — at once while the queue is short, in batches while it is busy (so the bound
    /// is never more than `return_batch - 1` slots too tight). Returns the permits to release.
    fn left_queue(&self, st: &mut State) -> usize {
        if st.owed > 0 {
            st.owed -= 1;
            return 0;
        }
        st.unreturned += 1;
        if st.unreturned >= self.return_batch || st.queue.len() < self.return_batch {
            std::mem::take(&mut st.unreturned)
        } else {
            0
        }
    }

    /// Called by a worker whose job has ended and been dropped: the next job to run, or `None`
    /// after the worker has been deregistered.
    pub(super) fn finish_and_next(&self, worker_id: u64) -> Option<Job> {
        let mut st = lock(&self.state);
        st.outstanding -= 1;
        let next = if !st.aborting && st.running <= st.limit {
            st.queue.pop_front()
        } else {
            None
        };
        let returned = if next.is_some() {
            self.left_queue(&mut st)
        } else {
            st.running -= 1;
            st.workers.remove(&worker_id);
            0
        };
        let drained = st.closed && st.outstanding == 0;
        drop(st);
        if returned > 0 {
            self.permits.add_permits(returned);
        }
        if drained {
            self.drained.cancel();
        }
        next
    }

    pub(super) fn limit(&self) -> usize {
        lock(&self.state).limit
    }

    pub(super) fn metrics(&self) -> Metrics {
        let mut m = Metrics::default();
        {
            let st = lock(&self.state);
            m.in_flight = st.running;
            m.queued = st.queue.len();
            m.max_concurrency = st.limit;
        }
        m.queued += self.backlog.load(Ordering::Relaxed);
        self.counters.fill(&mut m);
        m
    }
}

/// Reserves a concurrency slot and a worker id for `job`.
fn reserve_worker(st: &mut State, job: Job) -> Start {
    st.running += 1;
    let worker_id = st.next_worker;
    st.next_worker += 1;
    st.workers.insert(worker_id, None);
    Start { worker_id, job }
}
