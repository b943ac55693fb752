//! The stream returned by `FixedPool::process`: feeds inputs in batches, reorders results.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::TryAcquireError;
use tokio_util::sync::PollSemaphore;

use crate::error::JobError;
use crate::job::{Outcome, lock};

use super::Owner;
use super::shared::Entry;
use super::sink::{Reply, Sink};

/// The most queue permits a `process` stream takes at once.
const MAX_PERMIT_BATCH: usize = 64;

pin_project_lite::pin_project! {
    #[project = ResultsProj]
    /// The results of [`FixedPool::process`](crate::FixedPool::process) (input order) or
    /// [`FixedPool::process_unordered`](crate::FixedPool::process_unordered) (completion order): one item per input.
    pub struct Results<S, O>
    where
        S: Stream,
    {
        #[pin]
        inputs: S,
        owner: Arc<Owner<S::Item, O>>,
        sink: Arc<Sink<O>>,
        stream_id: u64,
        semaphore: PollSemaphore,
        // Whether an acquire is pending in `semaphore` (it must be polled again before any
        // other way of taking a permit, or a permit granted to it would sit there unused).
        acquiring: bool,
        // An input taken from `inputs` and waiting for room in the queue, with its sequence
        // number. A permit is only ever taken for an input in hand.
        held: Option<(u64, S::Item)>,
        // Permits taken in bulk and not yet used; always returned before `poll_next` returns.
        spare_permits: usize,
        closed: bool,
        inputs_done: bool,
        ordered: bool,
        window: usize,
        outstanding: usize,
        next_seq: u64,
        next_out: u64,
        batch: Vec<Entry<S::Item, O>>,
        incoming: Vec<(u64, Result<O, JobError>)>,
        // Results in completion order, with their sequence numbers (unused: kept so that the
        // sink's buffer can become this queue as it is).
        unordered: VecDeque<(u64, Result<O, JobError>)>,
        reorder: VecDeque<Option<Result<O, JobError>>>,
    }

    impl<S, O> PinnedDrop for Results<S, O>
    where
        S: Stream,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.sink.closed.store(true, Ordering::Release);
            let sink = lock(&this.owner.shared.sinks).remove(this.stream_id);
            drop(sink);
            if *this.spare_permits > 0 {
                this.owner.shared.permits.add_permits(*this.spare_permits);
            }
            if this.held.take().is_some() {
                // Taken from the input but never queued: nothing is dropped unaccounted.
                this.owner.shared.counters.record(Outcome::Cancelled);
                tracing::debug!("taskweave-pool: a dropped stream cancelled the input it held");
            }
        }
    }
}

impl<S, O> Results<S, O>
where
    S: Stream,
{
    pub(super) fn new(owner: Arc<Owner<S::Item, O>>, inputs: S, ordered: bool) -> Self {
        let shared = &owner.shared;
        let window = shared
            .limit
            .load(Ordering::Acquire)
            .saturating_add(shared.capacity);
        let semaphore = PollSemaphore::new(Arc::clone(&shared.permits));
        let sink = Arc::new(Sink::new());
        let stream_id = shared.next_stream.fetch_add(1, Ordering::Relaxed);
        lock(&shared.sinks).insert(stream_id, Arc::clone(&sink));
        Self {
            inputs,
            sink,
            stream_id,
            owner,
            semaphore,
            acquiring: false,
            held: None,
            spare_permits: 0,
            closed: false,
            inputs_done: false,
            ordered,
            window,
            outstanding: 0,
            next_seq: 0,
            next_out: 0,
            batch: Vec::new(),
            incoming: Vec::new(),
            unordered: VecDeque::new(),
            reorder: VecDeque::new(),
        }
    }
}

/// Whether a permit is in hand for the held input.
enum Room {
    Got,
    Closed,
    Wait,
}

impl<S, O> Stream for Results<S, O>
where
    S: Stream,
{
    type Item = Result<O, JobError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            feed(&mut this, cx);

            // Collect results: first those already sorted locally, then the workers'
            // deliveries, taken by swapping buffers rather than copying results (the sink gets
            // back the buffer emptied last time).
            if !has_ready(*this.ordered, this.reorder, this.unordered) {
                let mut inner = lock(&this.sink.inner);
                if !this.incoming.is_empty() {
                    this.incoming.append(&mut inner.ready);
                } else if *this.ordered {
                    std::mem::swap(this.incoming, &mut inner.ready);
                } else {
                    // In completion order the delivered buffer is the queue itself (a `Vec`
                    // becomes a `VecDeque` and, once empty, a `Vec` again, without copying).
                    let emptied = Vec::from(std::mem::take(this.unordered));
                    *this.unordered = VecDeque::from(std::mem::replace(&mut inner.ready, emptied));
                }
            }
            for (seq, result) in this.incoming.drain(..) {
                if *this.ordered {
                    // Results are never more than `window` ahead of the next one to yield.
                    let offset = (seq - *this.next_out) as usize;
                    if this.reorder.len() <= offset {
                        this.reorder.resize_with(offset + 1, || None);
                    }
                    this.reorder[offset] = Some(result);
                } else {
                    this.unordered.push_back((seq, result));
                }
            }

            let next = if *this.ordered {
                match this.reorder.front() {
                    Some(Some(_)) => {
                        *this.next_out += 1;
                        this.reorder.pop_front().flatten()
                    }
                    _ => None,
                }
            } else {
                this.unordered.pop_front().map(|(_, result)| result)
            };
            if let Some(item) = next {
                *this.outstanding -= 1;
                return Poll::Ready(Some(item));
            }
            if *this.inputs_done && *this.outstanding == 0 {
                return Poll::Ready(None);
            }
            // Nothing to yield: leave a waker for the workers, unless results arrived
            // meanwhile (then go round again rather than waking this task).
            let mut inner = lock(&this.sink.inner);
            if inner.ready.is_empty() {
                inner.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
    }
}

/// Takes inputs while the window has room and queues them, one queue permit per input in
/// hand. Permits are taken in bulk while inputs keep coming; what is left over is returned
/// before this returns, so a stream whose input is idle holds no room in the queue.
fn feed<S, O>(this: &mut ResultsProj<'_, S, O>, cx: &mut Context<'_>)
where
    S: Stream,
{
    // Take inputs when the window has room for a batch (or the pipeline is empty): one queue
    // lock and one wake-up per batch instead of per input.
    let refill = (*this.window / 16).max(1);
    let mut feeding =
        this.held.is_some() || *this.window - *this.outstanding >= refill || *this.outstanding == 0;
    while feeding {
        if this.held.is_none() {
            if *this.inputs_done || *this.outstanding >= *this.window {
                break;
            }
            match this.inputs.as_mut().poll_next(cx) {
                Poll::Ready(Some(input)) => {
                    let seq = *this.next_seq;
                    *this.next_seq += 1;
                    *this.outstanding += 1;
                    *this.held = Some((seq, input));
                }
                Poll::Ready(None) => {
                    *this.inputs_done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        match take_room(this, cx) {
            Room::Got => {
                if let Some((seq, input)) = this.held.take() {
                    this.batch.push(Entry {
                        id: this.owner.shared.next_id(),
                        input,
                        reply: Reply::Sink {
                            stream: *this.stream_id,
                            seq,
                        },
                    });
                }
            }
            Room::Closed => {
                if let Some((seq, _)) = this.held.take() {
                    this.incoming.push((seq, Err(JobError::Closed)));
                }
            }
            // Waiting for room: the input is held until the queue frees a slot.
            Room::Wait => feeding = false,
        }
    }
    let shared = &this.owner.shared;
    if shared.push_batch(this.batch).is_err() {
        fail_batch(this.batch, this.incoming);
    }
    if *this.spare_permits > 0 {
        shared
            .permits
            .add_permits(std::mem::take(this.spare_permits));
    }
}

/// Takes one queue permit for the held input: from the bulk-taken spares, in bulk, or by
/// waiting (after queueing the batch in hand: the workers free permits only for queued work).
fn take_room<S, O>(this: &mut ResultsProj<'_, S, O>, cx: &mut Context<'_>) -> Room
where
    S: Stream,
{
    let shared = &this.owner.shared;
    if *this.closed {
        return Room::Closed;
    }
    if *this.spare_permits > 0 {
        *this.spare_permits -= 1;
        return Room::Got;
    }
    if !*this.acquiring {
        // As many as the inputs may need (the held one and the rest of the window).
        let want = (*this.window - *this.outstanding + 1).min(MAX_PERMIT_BATCH);
        // `want` is at most MAX_PERMIT_BATCH, so the cast cannot truncate.
        match shared.permits.try_acquire_many(want as u32) {
            Ok(permits) => {
                permits.forget();
                *this.spare_permits = want - 1;
                return Room::Got;
            }
            Err(TryAcquireError::Closed) => {
                *this.closed = true;
                return Room::Closed;
            }
            Err(TryAcquireError::NoPermits) => {}
        }
        match shared.permits.try_acquire() {
            Ok(permit) => {
                permit.forget();
                return Room::Got;
            }
            Err(TryAcquireError::Closed) => {
                *this.closed = true;
                return Room::Closed;
            }
            Err(TryAcquireError::NoPermits) => {}
        }
        if shared.push_batch(this.batch).is_err() {
            fail_batch(this.batch, this.incoming);
        }
    }
    match this.semaphore.poll_acquire(cx) {
        Poll::Ready(Some(permit)) => {
            *this.acquiring = false;
            permit.forget();
            Room::Got
        }
        Poll::Ready(None) => {
            *this.acquiring = false;
            *this.closed = true;
            Room::Closed
        }
        Poll::Pending => {
            *this.acquiring = true;
            Room::Wait
        }
    }
}

fn has_ready<T>(
    ordered: bool,
    reorder: &VecDeque<Option<T>>,
    unordered: &VecDeque<(u64, T)>,
) -> bool {
    if ordered {
        matches!(reorder.front(), Some(Some(_)))
    } else {
        !unordered.is_empty()
    }
}

/// The pool closed under a batch: every input in it yields `Closed`.
fn fail_batch<I, O>(batch: &mut Vec<Entry<I, O>>, results: &mut Vec<(u64, Result<O, JobError>)>) {
    for entry in batch.drain(..) {
        if let Reply::Sink { seq, .. } = entry.reply {
            results.push((seq, Err(JobError::Closed)));
        }
    }
}

impl<S, O> fmt::Debug for Results<S, O>
where
    S: Stream,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Results")
            .field("ordered", &self.ordered)
            .field("outstanding", &self.outstanding)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}
