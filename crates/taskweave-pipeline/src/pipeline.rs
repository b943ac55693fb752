//! [`Pipeline`]: a running pipeline's output stream, with its handle and dead letters.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::dead_letter::DeadLetters;
use crate::error::PipelineError;
use crate::handle::PipelineHandle;

/// A running pipeline: a `Stream` of what its last stage emits, ending when every stage has
/// finished. [`handle`](Self::handle) gives the lifecycle (close, drain, shutdown, abort,
/// metrics); it also derefs to it.
///
/// Dropping it closes the pipeline's output: items still in the output buffer are counted as
/// [`discarded`](crate::Metrics::discarded), and the last stage, with nobody left to take its
/// output, stops and counts what it holds as dropped.
#[derive(Debug)]
#[must_use = "a pipeline's output must be read (or use `run`)"]
pub struct Pipeline<T> {
    rx: mpsc::Receiver<T>,
    handle: PipelineHandle,
    dead_letters: Option<DeadLetters>,
}

impl<T> Pipeline<T> {
    pub(crate) fn new(
        rx: mpsc::Receiver<T>,
        handle: PipelineHandle,
        dead_letters: Option<DeadLetters>,
    ) -> Self {
        Self {
            rx,
            handle,
            dead_letters,
        }
    }

    /// A handle on the pipeline's lifecycle, for another task.
    pub fn handle(&self) -> PipelineHandle {
        self.handle.clone()
    }

    /// Takes the dead-letter output (once; `None` afterwards, or without
    /// [`Flow::dead_letters`](crate::Flow::dead_letters)).
    pub fn dead_letters(&mut self) -> Option<DeadLetters> {
        self.dead_letters.take()
    }

    /// The next output, or `None` once every stage has finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no output is lost by dropping this future.
    pub async fn recv(&mut self) -> Option<T> {
        let item = self.rx.recv().await;
        if item.is_some() {
            self.handle.ctx().delivered.fetch_add(1, Relaxed);
        }
        item
    }

    /// Runs the pipeline to its end, passing each output to `f` (for pipelines whose last
    /// stage is the sink), and returns how it ended.
    ///
    /// # Errors
    ///
    /// As [`PipelineHandle::finished`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping it drops the pipeline, which closes its output (see above).
    pub async fn run(mut self, mut f: impl FnMut(T)) -> Result<(), PipelineError> {
        while let Some(item) = self.recv().await {
            f(item);
        }
        self.handle.finished().await
    }
}

impl<T> std::ops::Deref for Pipeline<T> {
    type Target = PipelineHandle;

    fn deref(&self) -> &PipelineHandle {
        &self.handle
    }
}

impl<T> Stream for Pipeline<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let polled = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            self.handle.ctx().delivered.fetch_add(1, Relaxed);
        }
        polled
    }
}

impl<T> Drop for Pipeline<T> {
    fn drop(&mut self) {
        self.rx.close();
        let mut left = 0u64;
        while self.rx.try_recv().is_ok() {
            left += 1;
        }
        if left > 0 {
            self.handle.ctx().discarded.fetch_add(left, Relaxed);
            tracing::warn!(
                items = left,
                "pipeline output dropped unread: items discarded"
            );
        }
    }
}
