//! A fixed worker: its job slots, its ready set and its loop.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Sleep;

use crate::error::JobError;
use crate::job::{JobId, Outcome, lock, panic_message};
use crate::loom;
use crate::ready::ReadyChunk;

use super::shared::{Entry, Shared, Slot};
use super::sink::{Reply, SinkCache};

pin_project_lite::pin_project! {
    /// One job inside a worker: the handler's future, its deadline, and where the result goes.
    /// Dropped before it finishes, it delivers `Cancelled`.
    struct FixedJob<Fut: Future> {
        #[pin]
        fut: Fut,
        // Boxed so that jobs without a timeout stay small (a `Sleep` is larger than most jobs).
        deadline: Option<Pin<Box<Sleep>>>,
        timeout: Option<Duration>,
        reply: Option<Reply<Fut::Output>>,
        id: JobId,
    }

    // Stream replies of unfinished jobs are cancelled by `Running::drop`, which can reach
    // the streams.
    impl<Fut: Future> PinnedDrop for FixedJob<Fut> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(Reply::Handle(cell)) = this.project().reply.take() {
                cell.complete(Err(JobError::Cancelled));
            }
        }
    }
}

type Done<O> = (Reply<O>, Result<O, JobError>, Outcome);

impl<Fut: Future> Future for FixedJob<Fut> {
    type Output = Option<Done<Fut::Output>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let aborted = match this.reply.as_ref() {
            Some(Reply::Handle(cell)) => cell.poll_aborted(cx),
            Some(Reply::Sink { .. }) => false,
            None => return Poll::Ready(None),
        };
        let done = if aborted {
            (Err(JobError::Cancelled), Outcome::Cancelled)
        } else {
            let fut = this.fut;
            match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(Poll::Ready(output)) => (Ok(output), Outcome::Completed),
                Err(payload) => {
                    let message = panic_message(&*payload);
                    (Err(JobError::Panicked { message }), Outcome::Panicked)
                }
                Ok(Poll::Pending) => {
                    let deadline = this.deadline;
                    if deadline.is_none() {
                        match *this.timeout {
                            Some(after) => *deadline = Some(Box::pin(tokio::time::sleep(after))),
                            None => return Poll::Pending,
                        }
                    }
                    match deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                        Some(Poll::Ready(())) => {
                            let after = this.timeout.unwrap_or_default();
                            (Err(JobError::TimedOut { after }), Outcome::TimedOut)
                        }
                        _ => return Poll::Pending,
                    }
                }
            }
        };
        let (result, outcome) = done;
        Poll::Ready(this.reply.take().map(|reply| (reply, result, outcome)))
    }
}

/// The waker of one job slot: marks the slot ready and wakes the worker. Built once per slot
/// and reused by every job that runs in it.
struct SlotWaker {
    chunk: loom::Arc<ReadyChunk>,
    mask: u64,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.chunk.wake(self.mask);
    }
}

/// The jobs a worker is running, in reusable pinned slots: after warm-up, starting a job
/// allocates nothing (the handler's future is written into a free slot) and a wake-up costs one
/// atomic `or`. Dropped with jobs still inside (the worker was aborted), it reports them as
/// aborted and delivers `Cancelled` for each; dropped before its loop ended (the runtime is
/// shutting down), it also cancels everything still queued, since no worker will run it.
struct Running<I, O, Fut: Future> {
    slots: Vec<Pin<Box<Option<FixedJob<Fut>>>>>,
    wakers: Vec<Waker>,
    chunks: Vec<loom::Arc<ReadyChunk>>,
    /// The worker's waker slot, shared with the queue's hand-off.
    worker: loom::Arc<loom::AtomicWaker>,
    free: Vec<usize>,
    len: usize,
    shared: Arc<Shared<I, O>>,
    idx: usize,
    /// Set when the loop ends normally (the queue is closed and drained).
    exited: bool,
}

impl<I, O, Fut: Future<Output = O>> Running<I, O, Fut> {
    fn new(shared: Arc<Shared<I, O>>, idx: usize) -> Self {
        let worker = loom::Arc::clone(shared.queue.waker(idx));
        Self {
            slots: Vec::new(),
            wakers: Vec::new(),
            chunks: Vec::new(),
            worker,
            free: Vec::new(),
            len: 0,
            shared,
            idx,
            exited: false,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, job: FixedJob<Fut>) {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = self.slots.len();
                if i % 64 == 0 {
                    self.chunks
                        .push(loom::Arc::new(ReadyChunk::new(loom::Arc::clone(
                            &self.worker,
                        ))));
                }
                let waker = Arc::new(SlotWaker {
                    chunk: loom::Arc::clone(&self.chunks[i / 64]),
                    mask: 1 << (i % 64),
                });
                self.wakers.push(Waker::from(waker));
                self.slots.push(Box::pin(None));
                i
            }
        };
        self.slots[i].as_mut().set(Some(job));
        self.len += 1;
        // A new job has never been polled: mark it ready.
        self.chunks[i / 64].mark(1 << (i % 64));
    }

    /// Polls every job woken since the last call; finished jobs go to `done`. The worker's
    /// waker must be registered first (see `poll_worker`), so a wake after a chunk's bits
    /// are taken reaches this task.
    fn poll_ready(&mut self, done: &mut Vec<Done<O>>) {
        for c in 0..self.chunks.len() {
            let mut bits = self.chunks[c].take();
            while bits != 0 {
                let i = c * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let slot = self.slots[i].as_mut();
                let Some(job) = slot.as_pin_mut() else {
                    continue;
                };
                let mut job_cx = Context::from_waker(&self.wakers[i]);
                if let Poll::Ready(finished) = job.poll(&mut job_cx) {
                    done.extend(finished);
                    self.slots[i].as_mut().set(None);
                    self.free.push(i);
                    self.len -= 1;
                }
            }
        }
    }
}

impl<I, O, Fut: Future> Drop for Running<I, O, Fut> {
    fn drop(&mut self) {
        if !self.exited {
            // Dropped mid-loop: aborted by the pool (then this is a no-op), or by a runtime
            // that is shutting down, which will never run what is still queued.
            self.shared
                .abort_all("a fixed worker was dropped (its runtime is shutting down)");
        }
        let mut ids = Vec::new();
        let mut cancelled: Vec<(u64, u64)> = Vec::new();
        for slot in &self.slots {
            if let Some(job) = slot.as_ref().get_ref() {
                ids.push(job.id);
                if let Some(Reply::Sink { stream, seq }) = job.reply {
                    cancelled.push((stream, seq));
                }
            }
        }
        let slot = &self.shared.slots[self.idx];
        slot.in_flight.store(0, Ordering::Relaxed);
        if !ids.is_empty() {
            // Counted before any handle or stream hears of it.
            slot.counters.add(Outcome::Cancelled, ids.len() as u64);
            lock(&self.shared.aborted).extend(ids);
        }
        let mut cache = SinkCache::new();
        for (stream, seq) in cancelled {
            if let Some(sink) = cache.get(&self.shared, stream) {
                sink.push([(seq, Err(JobError::Cancelled))]);
            }
        }
        // Dropping the jobs resolves their handles.
        self.slots.clear();
        if self.shared.live_workers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.drained.cancel();
        }
    }
}

/// The worker loop. `Running` is built before the future is first polled, so a worker
/// aborted before it ever ran is still counted out.
pub(super) fn worker<I, O, H, Fut>(
    shared: Arc<Shared<I, O>>,
    idx: usize,
    handler: Arc<H>,
) -> impl Future<Output = ()>
where
    H: Fn(I) -> Fut,
    Fut: Future<Output = O>,
{
    let running = Running::new(Arc::clone(&shared), idx);
    async move {
        let mut running = running;
        let mut scratch = Scratch {
            batch: Vec::new(),
            done: Vec::new(),
            cache: SinkCache::new(),
        };
        poll_fn(|cx| poll_worker(&shared, idx, &*handler, &mut running, &mut scratch, cx)).await;
    }
}

/// A worker's reusable buffers.
struct Scratch<I, O> {
    batch: Vec<Entry<I, O>>,
    done: Vec<Done<O>>,
    cache: SinkCache<O>,
}

/// At most this many refill-and-poll rounds per wake-up. A worker that made progress in every
/// round (new inputs or finished jobs each time) then yields to the runtime, waking itself so
/// that it comes back after the other tasks of its thread: a cooperative yield for a busy
/// worker, never taken by an idle one (a round that finds nothing to do parks the worker).
const ROUNDS_PER_POLL: usize = 16;

fn poll_worker<I, O, H, Fut>(
    shared: &Shared<I, O>,
    idx: usize,
    handler: &H,
    running: &mut Running<I, O, Fut>,
    scratch: &mut Scratch<I, O>,
    cx: &mut Context<'_>,
) -> Poll<()>
where
    H: Fn(I) -> Fut,
    Fut: Future<Output = O>,
{
    let slot = &shared.slots[idx];
    let Scratch { batch, done, cache } = scratch;
    // Register before looking at the queue or the ready bits: a push or a job's wake that
    // comes after the look then wakes this task.
    shared.queue.register(idx, cx.waker());
    for _ in 0..ROUNDS_PER_POLL {
        let want = shared.share(idx).saturating_sub(running.len());
        let finished = shared.pop_batch(idx, want, batch);
        let pulled = batch.len();
        for entry in batch.drain(..) {
            if cache.is_cancelled(shared, &entry.reply) {
                slot.counters.record(Outcome::Cancelled);
                shared.deliver(cache, entry.reply, Err(JobError::Cancelled));
                continue;
            }
            let Entry { id, input, reply } = entry;
            match catch_unwind(AssertUnwindSafe(|| handler(input))) {
                Ok(fut) => running.push(FixedJob {
                    fut,
                    deadline: None,
                    timeout: shared.timeout,
                    reply: Some(reply),
                    id,
                }),
                Err(payload) => {
                    let message = panic_message(&*payload);
                    done.push((
                        reply,
                        Err(JobError::Panicked { message }),
                        Outcome::Panicked,
                    ));
                }
            }
        }
        let before = done.len();
        running.poll_ready(done);
        let completed = done.len();
        deliver(shared, slot, cache, done);
        slot.in_flight.store(running.len(), Ordering::Relaxed);
        if finished && running.len() == 0 {
            running.exited = true;
            return Poll::Ready(());
        }
        if pulled == 0 && completed == before {
            return Poll::Pending;
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// Hands results over, taking each stream's lock once per run of results for it, and counts
/// the outcomes with one atomic add per kind.
fn deliver<I, O>(
    shared: &Shared<I, O>,
    slot: &Slot,
    cache: &mut SinkCache<O>,
    done: &mut Vec<Done<O>>,
) {
    // Count first, so that a handle or stream that hears of a result finds it counted.
    let mut tally = [0u64; 4];
    for (_, _, outcome) in done.iter() {
        tally[*outcome as usize] += 1;
    }
    let kinds = [
        Outcome::Completed,
        Outcome::Panicked,
        Outcome::TimedOut,
        Outcome::Cancelled,
    ];
    for (kind, n) in kinds.into_iter().zip(tally) {
        if n > 0 {
            slot.counters.add(kind, n);
        }
    }
    let mut results = done.drain(..).peekable();
    while let Some((reply, result, _)) = results.next() {
        match reply {
            Reply::Handle(cell) => cell.complete(result),
            Reply::Sink { stream, seq } => {
                // The run of results for this stream goes straight into its sink, under one
                // lock, without being gathered first.
                let rest = std::iter::from_fn(|| {
                    let same = |(r, _, _): &Done<O>| matches!(r, Reply::Sink { stream: s, .. } if *s == stream);
                    match results.next_if(same)? {
                        (Reply::Sink { seq, .. }, result, _) => Some((seq, result)),
                        (Reply::Handle(_), ..) => None,
                    }
                });
                let run = std::iter::once((seq, result)).chain(rest);
                match cache.get(shared, stream) {
                    Some(sink) => sink.push(run),
                    // A stream that is gone no longer wants its results.
                    None => run.for_each(drop),
                }
            }
        }
    }
}
