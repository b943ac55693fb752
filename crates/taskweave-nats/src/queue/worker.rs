//! The worker of one replica: pulls jobs within its in-flight bound, runs the handler,
//! acknowledges, naks with a delay, or dead-letters.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Shared;
use crate::codec::Codec;
use crate::connection::reconnect_delay;
use crate::error::BoxError;
use crate::pull::{Pull, Puller};

/// A job handler, as [`WorkQueue::run`](crate::WorkQueue::run) accepts it: the bounds of
/// `Fn(T) -> impl Future<Output = Result<(), E>>` spelled once.
pub(crate) trait Handler<T>: Send + Sync + 'static {
    type Fut: Future<Output = Result<(), Self::Err>> + Send + 'static;
    type Err: Into<BoxError> + 'static;
    fn call(&self, job: T) -> Self::Fut;
}

impl<T, F, Fut, E> Handler<T> for F
where
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Fut = Fut;
    type Err = E;
    fn call(&self, job: T) -> Fut {
        self(job)
    }
}

/// A snapshot of a worker's counters, from [`Worker::metrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Jobs running now.
    pub in_flight: u64,
    /// Jobs the handler finished with `Ok`, acknowledged.
    pub succeeded: u64,
    /// Handler failures answered with a delayed redelivery.
    pub failed: u64,
    /// Jobs received that had been delivered before.
    pub redeliveries: u64,
    /// Jobs sent to the dead-letter subject (failed `max_deliver` times or undecodable).
    pub dead_lettered: u64,
    /// Jobs abandoned by an abort, unacknowledged: JetStream redelivers them after
    /// `ack_wait`.
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct Counters {
    in_flight: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    redeliveries: AtomicU64,
    dead_lettered: AtomicU64,
    abandoned: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What [`Worker::shutdown`] had to give up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Whether every job in flight finished within the grace period.
    pub drained: bool,
    /// Jobs abandoned unacknowledged (JetStream redelivers them).
    pub abandoned: u64,
}

impl WorkerReport {
    /// Whether nothing had to be abandoned.
    pub fn is_clean(&self) -> bool {
        self.drained && self.abandoned == 0
    }
}

/// One replica's worker on a [`WorkQueue`](crate::WorkQueue), from
/// [`WorkQueue::run`](crate::WorkQueue::run). Dropping it closes it (in-flight jobs
/// finish in the background).
pub struct Worker {
    counters: Arc<Counters>,
    intake: CancellationToken,
    hard: CancellationToken,
    tracker: TaskTracker,
    conn: crate::Connection,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("closed", &self.is_closed())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.intake.cancel();
    }
}

impl Worker {
    pub(super) fn start<T: Send + 'static, C: Codec<T>, H: Handler<T>>(
        queue: Arc<Shared<C>>,
        handler: H,
    ) -> Self {
        let intake = queue.token.child_token();
        let worker = Self {
            counters: Arc::default(),
            intake: intake.clone(),
            hard: CancellationToken::new(),
            tracker: TaskTracker::new(),
            conn: queue.conn.clone(),
        };
        let pulling = Pulling {
            queue,
            handler: Arc::new(handler),
            counters: Arc::clone(&worker.counters),
            intake,
            hard: worker.hard.clone(),
            tracker: worker.tracker.clone(),
        };
        worker.tracker.spawn(pulling.run());
        worker
    }

    /// Stops pulling; jobs in flight finish and are acknowledged. Idempotent, returns at
    /// once.
    pub fn close(&self) {
        self.intake.cancel();
    }

    /// Whether [`close`](Self::close) was called (or the token cancelled).
    pub fn is_closed(&self) -> bool {
        self.intake.is_cancelled()
    }

    /// Closes the worker, waits for every job in flight to finish and be acknowledged (or
    /// nak'd), and waits until the server has the acknowledgements.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the waiting, not the draining.
    pub async fn drain(&self) {
        self.close();
        self.tracker.wait().await;
        // A round trip, not just a flush: the server has the acknowledgements when it ends.
        if let Err(error) = self.conn.round_trip().await {
            tracing::warn!(%error, "acknowledgements not confirmed; JetStream may redeliver");
        }
    }

    /// Drains for at most `grace`, then aborts what still runs.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`drain`](Self::drain).
    pub async fn shutdown(&self, grace: Duration) -> WorkerReport {
        let before = self.counters.abandoned.load(Ordering::Relaxed);
        let drained = tokio::time::timeout(grace, self.drain()).await.is_ok();
        if !drained {
            self.abort();
            self.tracker.wait().await;
        }
        WorkerReport {
            drained,
            abandoned: self.counters.abandoned.load(Ordering::Relaxed) - before,
        }
    }

    /// The hard stop: stops pulling and cancels the jobs in flight; they stay
    /// unacknowledged, so JetStream redelivers them after `ack_wait` (counted in
    /// [`WorkerMetrics::abandoned`]).
    pub fn abort(&self) {
        self.intake.cancel();
        self.hard.cancel();
    }

    /// A snapshot of the worker's counters.
    pub fn metrics(&self) -> WorkerMetrics {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let c = &self.counters;
        WorkerMetrics {
            in_flight: load(&c.in_flight),
            succeeded: load(&c.succeeded),
            failed: load(&c.failed),
            redeliveries: load(&c.redeliveries),
            dead_lettered: load(&c.dead_lettered),
            abandoned: load(&c.abandoned),
        }
    }
}

struct Pulling<C, H> {
    queue: Arc<Shared<C>>,
    handler: Arc<H>,
    counters: Arc<Counters>,
    intake: CancellationToken,
    hard: CancellationToken,
    tracker: TaskTracker,
}

impl<C, H> Pulling<C, H> {
    async fn run<T: Send + 'static>(self)
    where
        C: Codec<T>,
        H: Handler<T>,
    {
        let slots = Arc::new(Semaphore::new(self.queue.max_in_flight));
        let mut puller = Puller::new(self.queue.consumer.clone());
        loop {
            let first = tokio::select! {
                biased;
                () = self.intake.cancelled() => break,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let mut permits = vec![first];
            while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                permits.push(permit);
            }
            let mut batch = match puller.pull(permits.len(), &self.intake).await {
                Pull::Batch(batch) => batch,
                Pull::Failed => continue,
                Pull::Stopped => break,
            };
            // Jobs already pulled are ours until acknowledged: run them even after `close`.
            while let Some(next) = tokio::select! {
                biased;
                () = self.hard.cancelled() => None,
                next = batch.next() => next,
            } {
                let msg = match next {
                    Ok(msg) => msg,
                    Err(error) => {
                        tracing::debug!(%error, "pull interrupted");
                        break;
                    }
                };
                let Some(permit) = permits.pop() else {
                    // The server sent more than asked for: leave it for redelivery.
                    break;
                };
                let job = Job {
                    queue: Arc::clone(&self.queue),
                    handler: Arc::clone(&self.handler),
                    counters: Arc::clone(&self.counters),
                    hard: self.hard.clone(),
                };
                self.tracker.spawn(async move {
                    job.run(msg).await;
                    drop(permit);
                });
            }
        }
        self.tracker.close();
        tracing::debug!("worker stopped pulling");
    }
}

struct Job<C, H> {
    queue: Arc<Shared<C>>,
    handler: Arc<H>,
    counters: Arc<Counters>,
    hard: CancellationToken,
}

impl<C, H> Job<C, H> {
    async fn run<T: Send + 'static>(self, msg: Message)
    where
        C: Codec<T>,
        H: Handler<T>,
    {
        let delivered = msg
            .info()
            .map_or(1, |info| usize::try_from(info.delivered).unwrap_or(1));
        if delivered > 1 {
            bump(&self.counters.redeliveries);
        }
        let job = match self.queue.codec.decode(&msg.payload) {
            Ok(job) => job,
            Err(error) => {
                self.dead_letter(&msg, delivered, &format!("undecodable: {error}"))
                    .await;
                return;
            }
        };
        self.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let outcome = tokio::select! {
            outcome = self.handler.call(job) => Some(outcome.map_err(Into::into)),
            () = self.hard.cancelled() => None,
        };
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            None => {
                bump(&self.counters.abandoned);
                tracing::warn!(
                    delivered,
                    "job abandoned by abort: JetStream will redeliver it"
                );
            }
            Some(Ok(())) => {
                if let Err(error) = msg.ack().await {
                    tracing::warn!(%error, "acknowledgement not sent: the job may run again");
                }
                // Counted once the acknowledgement is sent, as the metric says.
                bump(&self.counters.succeeded);
            }
            Some(Err(error)) if delivered >= self.queue.max_deliver => {
                self.dead_letter(&msg, delivered, &error.to_string()).await;
            }
            Some(Err(error)) => {
                bump(&self.counters.failed);
                let delay = reconnect_delay(&self.queue.retry, delivered);
                tracing::debug!(%error, delivered, ?delay, "job failed; redelivery requested");
                if let Err(error) = msg.ack_with(AckKind::Nak(Some(delay))).await {
                    tracing::warn!(%error, "nak not sent: redelivery after ack_wait");
                }
            }
        }
    }

    async fn dead_letter(&self, msg: &Message, delivered: usize, reason: &str) {
        let mut headers = HeaderMap::new();
        headers.insert("Taskweave-Subject", msg.subject.as_str());
        headers.insert("Taskweave-Deliveries", delivered.to_string().as_str());
        headers.insert(
            "Taskweave-Error",
            reason.replace(['\r', '\n'], " ").as_str(),
        );
        let client = self.queue.conn.client();
        let sent = client
            .publish_with_headers(self.queue.dead_letter.clone(), headers, msg.payload.clone())
            .await;
        match sent {
            Ok(()) => {
                bump(&self.counters.dead_lettered);
                tracing::warn!(subject = %self.queue.dead_letter, delivered, reason, "job dead-lettered");
                if let Err(error) = msg.ack_with(AckKind::Term).await {
                    tracing::warn!(%error, "termination not sent: the job may be redelivered");
                }
            }
            Err(error) => {
                // Not terminated: JetStream redelivers it and we try again.
                tracing::warn!(%error, "dead letter not published; the job stays queued");
            }
        }
    }
}
