//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// A batch and the (paused) time it was handed to the handler.
pub type Timed<T> = (Instant, Vec<T>);

/// Every batch a handler saw, with the time it was handed over.
#[derive(Clone, Default)]
pub struct Log<T> {
    batches: Arc<Mutex<Vec<Timed<T>>>>,
}

impl<T: Clone + Send + 'static> Log<T> {
    pub fn new() -> Self {
        Self {
            batches: Arc::default(),
        }
    }

    /// A flush handler that records each batch and succeeds.
    pub fn handler(
        &self,
    ) -> impl Fn(Vec<T>) -> std::future::Ready<Result<(), std::convert::Infallible>>
    + Send
    + Sync
    + 'static {
        let log = self.clone();
        move |batch| {
            log.record(&batch);
            std::future::ready(Ok(()))
        }
    }

    pub fn record(&self, batch: &[T]) {
        self.batches
            .lock()
            .unwrap()
            .push((Instant::now(), batch.to_vec()));
    }

    pub fn batches(&self) -> Vec<Vec<T>> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn timed(&self) -> Vec<Timed<T>> {
        self.batches.lock().unwrap().clone()
    }
}

/// Lets spawned tasks (the flush task and flushes) run without moving the paused clock.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Polls `fut` once: `Some(output)` if it completed without waiting.
pub fn now_or_never<F: Future>(fut: F) -> Option<F::Output> {
    futures_util::FutureExt::now_or_never(fut)
}
