//! Items a stage failed on, routed out of the pipeline with their error and the stage's name.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::error::StageError;

/// An item a stage with [`ErrorPolicy::DeadLetter`](crate::ErrorPolicy::DeadLetter) failed
/// on. The item is the stage's input, type-erased because stages differ in input type; get it
/// back with [`DeadLetter::into_item`].
pub struct DeadLetter {
    pub(crate) stage: Arc<str>,
    pub(crate) error: StageError,
    pub(crate) item: Box<dyn Any + Send>,
}

impl DeadLetter {
    /// The name of the stage that failed on the item.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// Why it failed.
    pub fn error(&self) -> &StageError {
        &self.error
    }

    /// A reference to the item, if it is a `T`.
    pub fn item<T: 'static>(&self) -> Option<&T> {
        self.item.downcast_ref()
    }

    /// The item and the error, if the item is a `T`.
    ///
    /// # Errors
    ///
    /// The dead letter itself, unchanged, if the item is not a `T`.
    pub fn into_item<T: 'static>(self) -> Result<(T, StageError), Self> {
        match self.item.downcast::<T>() {
            Ok(item) => Ok((*item, self.error)),
            Err(item) => Err(Self { item, ..self }),
        }
    }
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("stage", &self.stage)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// The dead-letter output of a pipeline: a bounded stream of [`DeadLetter`]s that ends when
/// every stage has finished. Read it while the pipeline runs — a full buffer holds back the
/// stages that dead-letter — or drop it: later dead letters are then counted in
/// [`Metrics::dead_letters_discarded`](crate::Metrics::dead_letters_discarded) and logged.
#[derive(Debug)]
pub struct DeadLetters {
    pub(crate) rx: mpsc::Receiver<DeadLetter>,
}

impl DeadLetters {
    /// The next dead letter, or `None` once every stage has finished.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dead letter is never lost by dropping this future.
    pub async fn recv(&mut self) -> Option<DeadLetter> {
        self.rx.recv().await
    }
}

impl Stream for DeadLetters {
    type Item = DeadLetter;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<DeadLetter>> {
        self.rx.poll_recv(cx)
    }
}
