//! Keyed jobs: one at a time per key, in submission order; keys in parallel.
//!
//! The job at the head of a key is queued (or started) like any job and holds a place in the
//! pool's queue while it waits. The jobs behind it wait in the key's own bounded queue
//! (`key_queue_capacity`) and hold no place in the pool's queue, so a busy key never takes
//! room that another key could use. When the head ends, the next job of its key takes its
//! place, at the back of the pool's queue.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::error::SubmitError;
use crate::job::{JobHandle, lock, new_task};
use crate::pool::{Chain, Job, Owner, Refused, Shared};

/// Submits jobs that carry a key (an account, a partition, a file): jobs with equal keys run
/// one at a time, in the order they were submitted; jobs with different keys run in parallel,
/// within the pool's concurrency limit. Made by [`Pool::keyed`](crate::Pool::keyed).
///
/// The first job of an idle key is queued like any job. The jobs behind it wait in the key's
/// own queue, at most [`key_queue_capacity`](crate::PoolBuilder::key_queue_capacity) of them:
/// they take no room in the pool's queue, so one busy key does not crowd out the others. They
/// show in [`Metrics::queued`](crate::Metrics::queued). When a job ends — with an output, a
/// panic, a timeout or a cancellation — the next job of its key is queued behind the jobs
/// already waiting, so a busy key cannot starve the others.
///
/// # Lifecycle
///
/// A `KeyedPool` has no lifecycle of its own: it submits into its [`Pool`](crate::Pool), and
/// that pool's [`close`](crate::Pool::close), [`drain`](crate::Pool::drain),
/// [`shutdown`](crate::Pool::shutdown), [`abort`](crate::Pool::abort) and cancellation token
/// cover its jobs too (a submitter waiting behind its key gets its job back in
/// [`SubmitError::Closed`] when the pool closes). It counts as a handle of the pool: the pool
/// closes when the last `Pool` clone *and* the last `KeyedPool` are dropped, and keyed jobs
/// already accepted still run, in order.
pub struct KeyedPool<K> {
    inner: Arc<KeyedInner<K>>,
    /// Keeps the pool open while this handle lives (the keyed chains hold only `Shared`).
    owner: Arc<Owner>,
}

impl<K> Clone for KeyedPool<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            owner: Arc::clone(&self.owner),
        }
    }
}

struct KeyedInner<K> {
    shared: Arc<Shared>,
    /// A key is present while one of its jobs is queued or running.
    keys: Mutex<HashMap<K, KeyQueue>>,
}

/// The jobs waiting behind a key's queued or running job.
struct KeyQueue {
    waiting: VecDeque<Job>,
    /// One permit per free place in `waiting`; submitters wait on it when the key is full.
    room: Arc<Semaphore>,
}

/// Why a keyed job could not be placed yet; the job comes back.
enum Blocked<F> {
    Closed(F),
    /// The key is idle and the pool's queue is full.
    QueueFull(F),
    /// The key's own queue is full: wait for a permit of this semaphore.
    KeyFull(F, Arc<Semaphore>),
}

impl<K> KeyedPool<K>
where
    K: Hash + Eq + Clone + Send + 'static,
{
    pub(crate) fn new(owner: Arc<Owner>) -> Self {
        Self {
            inner: Arc::new(KeyedInner {
                shared: Arc::clone(&owner.shared),
                keys: Mutex::new(HashMap::new()),
            }),
            owner,
        }
    }

    /// Accepts `job` for `key`, waiting for room if needed — in the pool's queue if the key is
    /// idle, behind the key if it is busy — and returns its handle.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] with the job if the pool is closed (also while waiting).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the job was not accepted.
    pub async fn submit<F>(&self, key: K, job: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.inner.shared;
        let mut job = job;
        let mut queue_permit = false;
        let mut key_permit = None;
        loop {
            // No `.await` separates taking a permit from handing it to `place`, so dropping
            // this future never leaks one.
            match self.place(&key, job, queue_permit, key_permit.take()) {
                Ok(handle) => return Ok(handle),
                Err(Blocked::Closed(back)) => return Err(SubmitError::Closed(back)),
                Err(Blocked::QueueFull(back)) => {
                    job = back;
                    if !shared.wait_permit().await {
                        return Err(SubmitError::Closed(job));
                    }
                    queue_permit = true;
                }
                Err(Blocked::KeyFull(back, room)) => {
                    job = back;
                    queue_permit = false;
                    let acquired = match shared.closing.run_until_cancelled(room.acquire()).await {
                        Some(Ok(permit)) => {
                            permit.forget();
                            true
                        }
                        _ => false,
                    };
                    if !acquired {
                        return Err(SubmitError::Closed(job));
                    }
                    key_permit = Some(room);
                }
            }
        }
    }

    /// Accepts `job` for `key` if there is room right now: in the pool's queue (or a free
    /// slot) if the key is idle, behind the key if it is busy.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Full`] or [`SubmitError::Closed`], carrying the job.
    pub fn try_submit<F>(&self, key: K, job: F) -> Result<JobHandle<F::Output>, SubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.place(&key, job, false, None) {
            Ok(handle) => Ok(handle),
            Err(Blocked::Closed(job)) => Err(SubmitError::Closed(job)),
            Err(Blocked::QueueFull(job) | Blocked::KeyFull(job, _)) => Err(SubmitError::Full(job)),
        }
    }

    /// Places a job behind its busy key, or admits it to the pool for an idle key.
    /// `queue_permit`: the caller holds a permit of the pool's queue; `key_permit`: it holds a
    /// place behind the key in that semaphore. On return every permit passed in has been used
    /// or given back.
    fn place<F>(
        &self,
        key: &K,
        fut: F,
        queue_permit: bool,
        key_permit: Option<Arc<Semaphore>>,
    ) -> Result<JobHandle<F::Output>, Blocked<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.inner.shared;
        let mut release_queue_permit = false;
        let mut give_back: Option<Arc<Semaphore>> = None;
        let mut start = None;
        let mut keys = lock(&self.inner.keys);
        let placed = if let Some(queue) = keys.get_mut(key) {
            // Behind a busy key: no room in the pool's queue is needed.
            release_queue_permit = queue_permit;
            let has_place = match key_permit {
                Some(room) if Arc::ptr_eq(&room, &queue.room) => true,
                stale => {
                    // A place behind an earlier activity of this key: give it back.
                    give_back = stale;
                    queue.room.try_acquire().map(|p| p.forget()).is_ok()
                }
            };
            if !has_place {
                Err(Blocked::KeyFull(fut, Arc::clone(&queue.room)))
            } else if !shared.register_outstanding() {
                give_back = Some(Arc::clone(&queue.room));
                Err(Blocked::Closed(fut))
            } else {
                let id = shared.next_id();
                let (task, handle) = new_task(id, fut);
                queue.waiting.push_back(Job::new(id, task));
                shared.backlog.fetch_add(1, Ordering::Relaxed);
                Ok(handle)
            }
        } else {
            give_back = key_permit;
            let admitted = shared.admit(queue_permit, fut, |id, fut| {
                let (task, handle) = new_task(id, fut);
                let mut job = Job::new(id, task);
                job.chain = Some(Box::new(KeyLink {
                    inner: Arc::clone(&self.inner),
                    key: key.clone(),
                }));
                (job, handle)
            });
            match admitted {
                Ok(admitted) => {
                    keys.insert(
                        key.clone(),
                        KeyQueue {
                            waiting: VecDeque::new(),
                            room: Arc::new(Semaphore::new(shared.key_capacity)),
                        },
                    );
                    release_queue_permit = admitted.release_permit;
                    start = admitted.start;
                    Ok(admitted.handle)
                }
                Err((Refused::Full, fut)) => Err(Blocked::QueueFull(fut)),
                Err((Refused::Closed, fut)) => Err(Blocked::Closed(fut)),
            }
        };
        drop(keys);
        // With no lock held: returning permits may wake submitters, and a spawn may drop the
        // worker at once (on a runtime that is shutting down).
        if release_queue_permit {
            shared.release_permit();
        }
        if let Some(room) = give_back {
            room.add_permits(1);
        }
        if let Some(start) = start {
            shared.spawn(start);
        }
        placed
    }

    /// The number of keys with a job queued or running.
    pub fn active_keys(&self) -> usize {
        lock(&self.inner.keys).len()
    }

    /// Whether the pool is closed (see [`Pool::is_closed`](crate::Pool::is_closed)): keyed
    /// submissions are refused from then on.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }
}

impl<K> fmt::Debug for KeyedPool<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPool")
            .field("active_keys", &lock(&self.inner.keys).len())
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
            let (next, room) = {
                let mut keys = lock(&inner.keys);
                match keys.get_mut(&key) {
                    Some(queue) => match queue.waiting.pop_front() {
                        Some(job) => (Some(job), Some(Arc::clone(&queue.room))),
                        None => {
                            keys.remove(&key);
                            (None, None)
                        }
                    },
                    None => (None, None),
                }
            };
            // With no lock held: a submitter waiting for room behind the key may wake.
            if let Some(room) = room {
                room.add_permits(1);
            }
            let Some(mut job) = next else {
                return;
            };
            shared.backlog.fetch_sub(1, Ordering::Relaxed);
            job.chain = Some(Box::new(KeyLink {
                inner: Arc::clone(&inner),
                key: key.clone(),
            }));
            match shared.dispatch_next(job) {
                Ok(start) => {
                    if let Some(start) = start {
                        shared.spawn(start);
                    }
                    return;
                }
                Err(mut job) => {
                    // Aborting: this job never starts; go on with the one behind it.
                    job.chain = None;
                    shared.reject_accepted(job);
                }
            }
        }
    }
}
