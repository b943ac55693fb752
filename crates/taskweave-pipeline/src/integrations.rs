//! Sibling crates as stages, behind features: a `taskweave-limit` rate limiter (`limit`) and a
//! `taskweave-batch` batcher (`batch`). A breaker or a retry loop wraps a stage's own work:
//! call it inside the stage's closure.

#[cfg(any(feature = "limit", feature = "batch"))]
use std::sync::Arc;

#[cfg(any(feature = "limit", feature = "batch"))]
use crate::config::StageConfig;
#[cfg(any(feature = "limit", feature = "batch"))]
use crate::flow::Flow;

#[cfg(feature = "limit")]
impl<T: Clone + Send + 'static> Flow<T> {
    /// Adds a stage that lets items through at `limiter`'s rate: each item waits for a permit,
    /// then goes on unchanged. With the default concurrency of 1, items keep their order and
    /// wait one at a time. If the limiter is closed, waiting items fail with its `Closed`, which
    /// goes to the stage's error policy.
    #[cfg_attr(docsrs, doc(cfg(feature = "limit")))]
    pub fn rate_limit(
        self,
        stage: impl Into<StageConfig>,
        limiter: taskweave_limit::RateLimiter,
    ) -> Flow<T> {
        let limiter = Arc::new(limiter);
        self.map(stage, move |item: T| {
            let limiter = Arc::clone(&limiter);
            async move {
                limiter.acquire().await?;
                Ok::<_, taskweave_limit::Closed>(item)
            }
        })
    }
}

#[cfg(feature = "batch")]
impl<T: Clone + Send + 'static> Flow<T> {
    /// Adds a stage that submits each item to `batcher` and emits the item's own result once
    /// its batch has been flushed. A batch only fills if enough items wait at once: give the
    /// stage a concurrency of at least the batcher's `max_items` (or rely on its `max_delay`).
    /// A closed batcher or a failed batch fails the item, under the stage's error policy.
    #[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
    pub fn batched<R, E>(
        self,
        stage: impl Into<StageConfig>,
        batcher: taskweave_batch::Batcher<T, R, E>,
    ) -> Flow<R>
    where
        R: Send + 'static,
        E: std::fmt::Display + Send + Sync + 'static,
    {
        let batcher = Arc::new(batcher);
        self.map(stage, move |item: T| {
            let batcher = Arc::clone(&batcher);
            async move {
                let ticket = batcher
                    .submit(item)
                    .await
                    .map_err(|_| "the batcher is closed".to_owned())?;
                ticket.await.map_err(|e| e.to_string())
            }
        })
    }
}
