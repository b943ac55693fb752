//! Keyed jobs: one at a time per key, in submission order; keys in parallel.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::TryAcquireError;

use crate::error::SubmitError;
use crate::job::{JobHandle, lock, new_task};
use crate::pool::{Chain, Job, Shared};

/// Submits jobs that carry a key (an account, a partition, a file): jobs with equal keys run
/// one at a time, in the order they were submitted; jobs with different keys run in parallel,
/// within the pool's concurrency limit. Made by [`Pool::keyed`](crate::Pool::keyed).
///
/// A job waiting for its key counts against the pool's queue capacity and shows in
/// [`Metrics::queued`](crate::Metrics::queued). When a job ends — with an output, a panic, a
/// timeout or a cancellation — the next job of its key is queued behind the jobs already
/// waiting, so a busy key cannot starve the others.
pub struct KeyedPool<K> {
    inner: Arc<KeyedInner<K>>,
}

impl<K> Clone for KeyedPool<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct KeyedInner<K> {
    shared: Arc<Shared>,
    /// A key is present while one of its jobs is queued or running; its deque holds the jobs
    /// waiting behind that one.
    waiting: Mutex<HashMap<K, VecDeque<Job>>>,
}

impl<K> KeyedPool<K>
where
    K: Hash + Eq + Clone + Send + 'static,
{
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            inner: Arc::new(KeyedInner {
                shared,
                waiting: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Accepts `job` for `key`, waiting for queue space if the queue is full, and returns its
    /// handle.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job if the pool is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the job was not accepted.
    pub async fn submit<F>(&self, key: K, job: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if !self.inner.shared.acquire_permit().await {
            return Err(SubmitError::Closed(job));
        }
        self.accept(key, job)
    }

    /// Accepts `job` for `key` if the queue has room right now.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], carrying the job.
    pub fn try_submit<F>(&self, key: K, job: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.inner.shared.try_acquire_permit() {
            Ok(()) => self.accept(key, job),
            Err(TryAcquireError::NoPermits) => Err(SubmitError::Full(job)),
            Err(TryAcquireError::Closed) => Err(SubmitError::Closed(job)),
        }
    }

    /// Accepts a job for which a queue permit is held.
    fn accept<F>(&self, key: K, fut: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.inner.shared;
        if !shared.register_outstanding() {
            shared.release_permit();
            return Err(SubmitError::Closed(fut));
        }
        let id = shared.next_id();
        let (task, handle) = new_task(id, fut);
        let mut job = Job::new(id, task);
        let mut waiting = lock(&self.inner.waiting);
        match waiting.entry(key) {
            Entry::Occupied(mut queue) => {
                queue.get_mut().push_back(job);
                shared.backlog.fetch_add(1, Ordering::Relaxed);
            }
            Entry::Vacant(slot) => {
                job.chain = Some(Box::new(KeyLink {
                    inner: Arc::clone(&self.inner),
                    key: slot.key().clone(),
                }));
                slot.insert(VecDeque::new());
                drop(waiting);
                if let Err(mut job) = shared.dispatch_accepted(job) {
                    // The pool is aborting: cancel this job, then let its chain cancel any
                    // job that queued behind it meanwhile.
                    let chain = job.chain.take();
                    shared.reject_accepted(job);
                    if let Some(chain) = chain {
                        chain.next();
                    }
                }
            }
        }
        Ok(handle)
    }

    /// The number of keys with a job queued or running.
    pub fn active_keys(&self) -> usize {
        lock(&self.inner.waiting).len()
    }
}

impl<K> fmt::Debug for KeyedPool<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPool")
            .field("active_keys", &lock(&self.inner.waiting).len())
            .finish_non_exhaustive()
    }
}

/// Attached to the job of `key` that is queued or running; when that job is dropped, queues
/// the key's next job (or forgets the key).
struct KeyLink<K> {
    inner: Arc<KeyedInner<K>>,
    key: K,
}

impl<K> Chain for KeyLink<K>
where
    K: Hash + Eq + Clone + Send + 'static,
{
    fn next(self: Box<Self>) {
        let KeyLink { inner, key } = *self;
        let shared = &inner.shared;
        loop {
            let next = {
                let mut waiting = lock(&inner.waiting);
                let next = waiting.get_mut(&key).and_then(VecDeque::pop_front);
                if next.is_none() {
                    waiting.remove(&key);
                }
                next
            };
            let Some(mut job) = next else {
                return;
            };
            shared.backlog.fetch_sub(1, Ordering::Relaxed);
            job.chain = Some(Box::new(KeyLink {
                inner: Arc::clone(&inner),
                key: key.clone(),
            }));
            match shared.dispatch_accepted(job) {
                Ok(()) => return,
                Err(mut job) => {
                    // Aborting: this job never starts; go on with the one behind it.
                    job.chain = None;
                    shared.reject_accepted(job);
                }
            }
        }
    }
}
