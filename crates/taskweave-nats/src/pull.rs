//! Pulling batches from a durable JetStream consumer, pausing after failures (the server is
//! restarting, the connection is down): shared by durable imports and work-queue workers.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::Batch;
use tokio_util::sync::CancellationToken;

/// How long one pull waits for messages; bounds how long `close` waits for a pull.
const PULL_EXPIRES: Duration = Duration::from_millis(500);

/// What one pull gave. A return value, moved once: boxing the batch would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pull {
    /// Up to the asked number of messages, arriving within [`PULL_EXPIRES`].
    Batch(Batch),
    /// The pull failed; the pause after it is over: pull again.
    Failed,
    /// `stop` was cancelled during the pause.
    Stopped,
}

/// A durable consumer and its run of failed pulls.
pub(crate) struct Puller {
    consumer: PullConsumer,
    failures: u32,
}

impl Puller {
    pub(crate) fn new(consumer: PullConsumer) -> Self {
        Self {
            consumer,
            failures: 0,
        }
    }

    /// Pulls up to `max` messages; after a failure, pauses 100 ms doubling to 1.6 s.
    pub(crate) async fn pull(&mut self, max: usize, stop: &CancellationToken) -> Pull {
        let pulled = self
            .consumer
            .batch()
            .max_messages(max)
            .expires(PULL_EXPIRES)
            .messages()
            .await;
        match pulled {
            Ok(batch) => {
                self.failures = 0;
                Pull::Batch(batch)
            }
            Err(error) => {
                self.failures += 1;
                let pause = Duration::from_millis(50 << self.failures.min(5));
                tracing::debug!(%error, ?pause, "pull failed; retrying");
                tokio::select! {
                    () = stop.cancelled() => Pull::Stopped,
                    () = tokio::time::sleep(pause) => Pull::Failed,
                }
            }
        }
    }
}
