//! Stream helpers for the default pool: push a stream of inputs through the pool with bounded
//! read-ahead.

use std::future::Future;

use futures_core::Stream;
use futures_util::StreamExt as _;

use crate::error::JobError;
use crate::pool::Pool;

impl Pool {
    /// Runs `f(input)` as a pool job for every input of `inputs` and yields the results in
    /// **input order**.
    ///
    /// Backpressure: at most `max_concurrency + queue_capacity` inputs (the limits when this is
    /// called) are taken ahead of the output — submitted, running, or finished and waiting for
    /// an earlier result — so memory stays bounded however long the input is. The stream pulls
    /// inputs only as fast as the pool (and the reader) keeps up.
    ///
    /// Every input yields exactly one item: the job's output or its [`JobError`]. Once the pool
    /// is closed, inputs not yet submitted yield [`JobError::Closed`]. Dropping the stream
    /// detaches the jobs already submitted (they run; their results are discarded).
    ///
    /// The stream holds a handle of the pool (it does not borrow `self`): while it lives, the
    /// pool stays open even if every other handle is dropped.
    pub fn process<S, F, Fut>(
        &self,
        inputs: S,
        f: F,
    ) -> impl Stream<Item = Result<Fut::Output, JobError>> + Send + use<S, F, Fut>
    where
        S: Stream + Send,
        F: FnMut(S::Item) -> Fut + Send,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let window = self.window();
        self.submissions(inputs, f).buffered(window)
    }

    /// Like [`process`](Pool::process), but yields results in **completion order**, so a slow
    /// job does not hold back the results behind it.
    pub fn process_unordered<S, F, Fut>(
        &self,
        inputs: S,
        f: F,
    ) -> impl Stream<Item = Result<Fut::Output, JobError>> + Send + use<S, F, Fut>
    where
        S: Stream + Send,
        F: FnMut(S::Item) -> Fut + Send,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let window = self.window();
        self.submissions(inputs, f).buffer_unordered(window)
    }

    fn window(&self) -> usize {
        // Never zero: the limit and the capacity are both at least 1.
        self.max_concurrency()
            .saturating_add(self.queue_capacity())
            .max(1)
    }

    /// One future per input: submit (waiting for queue space), then await the result.
    fn submissions<S, F, Fut>(
        &self,
        inputs: S,
        mut f: F,
    ) -> impl Stream<
        Item = impl Future<Output = Result<Fut::Output, JobError>> + Send + use<S, F, Fut>,
    > + Send
    + use<S, F, Fut>
    where
        S: Stream + Send,
        F: FnMut(S::Item) -> Fut + Send,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let pool = self.clone();
        inputs.map(move |input| {
            let pool = pool.clone();
            let job = f(input);
            async move {
                match pool.submit(job).await {
                    Ok(handle) => handle.await,
                    Err(_) => Err(JobError::Closed),
                }
            }
        })
    }
}
