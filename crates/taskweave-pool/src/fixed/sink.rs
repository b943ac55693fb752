//! Where a fixed pool's results go: a job's handle, or the `process` stream that submitted it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use crate::error::JobError;
use crate::job::{JobCell, lock};

use super::shared::Shared;

/// Where a job's result goes.
pub(super) enum Reply<O> {
    Handle(Arc<JobCell<O>>),
    /// To the `process` stream registered under `stream`, as its `seq`-th result. Streams are
    /// looked up by id (once per run of results, not per job) rather than held by an `Arc` in
    /// every entry, so no reference count bounces between threads per job.
    Sink {
        stream: u64,
        seq: u64,
    },
}

/// Results on their way to one `process` stream.
pub(super) struct Sink<O> {
    pub(super) inner: Mutex<SinkInner<O>>,
    pub(super) closed: AtomicBool,
}

pub(super) struct SinkInner<O> {
    pub(super) ready: Vec<(u64, Result<O, JobError>)>,
    /// Left by the stream only when it has nothing to yield, so workers wake it only then.
    pub(super) waker: Option<Waker>,
}

impl<O> Sink<O> {
    pub(super) fn new() -> Self {
        Self {
            inner: Mutex::new(SinkInner {
                ready: Vec::new(),
                waker: None,
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// Appends results and wakes the stream if it is waiting.
    pub(super) fn push(&self, results: impl IntoIterator<Item = (u64, Result<O, JobError>)>) {
        let waker = {
            let mut inner = lock(&self.inner);
            inner.ready.extend(results);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A worker's handle on the stream it delivered to last.
pub(super) struct SinkCache<O> {
    cached: Option<(u64, Arc<Sink<O>>)>,
}

impl<O> SinkCache<O> {
    pub(super) fn new() -> Self {
        Self { cached: None }
    }

    pub(super) fn get<I>(&mut self, shared: &Shared<I, O>, stream: u64) -> Option<&Arc<Sink<O>>> {
        let hit = matches!(&self.cached, Some((id, _)) if *id == stream);
        if !hit {
            let found = lock(&shared.sinks).get(&stream).map(Arc::clone);
            // The previous sink (perhaps the last reference to a stream's unread results) is
            // dropped here, outside the lock.
            self.cached = found.map(|sink| (stream, sink));
        }
        self.cached.as_ref().map(|(_, sink)| sink)
    }

    /// Whether nobody wants the result any more (aborted handle, dropped stream).
    pub(super) fn is_cancelled<I>(&mut self, shared: &Shared<I, O>, reply: &Reply<O>) -> bool {
        match reply {
            Reply::Handle(cell) => cell.is_abort_requested(),
            Reply::Sink { stream, .. } => self
                .get(shared, *stream)
                .is_none_or(|sink| sink.closed.load(Ordering::Acquire)),
        }
    }
}
