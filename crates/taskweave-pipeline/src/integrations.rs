//! Sibling crates as stages or stage wrappers, behind features: a `taskweave-limit` rate
//! limiter (`limit`) and a `taskweave-batch` batcher (`batch`) as stages; a
//! `taskweave-breaker` breaker (`breaker`) and a `taskweave-backoff` retry (`backoff`) around a
//! stage's own work. No sibling crate is a dependency unless its feature is on.

#[cfg(any(
    feature = "limit",
    feature = "batch",
    feature = "breaker",
    feature = "backoff"
))]
use {crate::config::StageConfig, crate::flow::Flow, std::sync::Arc};

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

#[cfg(feature = "breaker")]
impl<T: Clone + Send + 'static> Flow<T> {
    /// Adds a stage like [`map`](Flow::map) whose work on each item goes through `breaker`:
    /// while the breaker is open, items fail at once with its `CallError::Rejected` (under the
    /// stage's error policy) instead of calling a dependency that is down.
    #[cfg_attr(docsrs, doc(cfg(feature = "breaker")))]
    pub fn map_with_breaker<U, E, F, Fut>(
        self,
        stage: impl Into<StageConfig>,
        breaker: taskweave_breaker::Breaker,
        f: F,
    ) -> Flow<U>
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<U, E>> + Send,
        U: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.map(stage, move |item: T| {
            let (breaker, f) = (breaker.clone(), Arc::clone(&f));
            async move { breaker.call(|| f(item)).await }
        })
    }
}

#[cfg(feature = "backoff")]
impl<T: Clone + Send + Sync + 'static> Flow<T> {
    /// Adds a stage like [`map`](Flow::map) whose work on each item is retried by `policy`
    /// (each attempt gets a clone of the item); when the policy gives up, the item fails with
    /// the `RetryError` under the stage's error policy. Give the stage a
    /// [`timeout`](StageConfig::timeout) longer than the policy's total if you set both.
    #[cfg_attr(docsrs, doc(cfg(feature = "backoff")))]
    pub fn map_with_retry<U, E, F, Fut>(
        self,
        stage: impl Into<StageConfig>,
        policy: taskweave_backoff::Backoff,
        f: F,
    ) -> Flow<U>
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<U, E>> + Send,
        U: Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.map(stage, move |item: T| {
            let f = Arc::clone(&f);
            async move { taskweave_backoff::retry(policy, || f(item.clone())).await }
        })
    }
}
