//! A work queue shared by replicas: a JetStream work-queue stream and one durable consumer.

mod worker;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use taskweave_backoff::Backoff;
use tokio_util::sync::CancellationToken;

pub use worker::{Worker, WorkerMetrics, WorkerReport};

use crate::codec::Codec;
use crate::connection::Connection;
use crate::error::{BoxError, ConfigError, Error, jetstream as js_error};
use crate::subject;

/// The default bound on jobs in flight per replica: 64.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// The largest bound accepted: 65,536.
pub const MAX_IN_FLIGHT: usize = 1 << 16;
/// The default number of deliveries before a job goes to the dead-letter subject: 5.
pub const DEFAULT_MAX_DELIVER: usize = 5;
/// The largest `max_deliver` accepted: 1,000.
pub const MAX_DELIVER: usize = 1000;

/// Configures a [`WorkQueue`]; from [`WorkQueue::builder`].
pub struct WorkQueueBuilder<T, C> {
    conn: Connection,
    codec: C,
    stream: String,
    subject: String,
    consumer: String,
    dead_letter: Option<String>,
    max_in_flight: usize,
    max_deliver: usize,
    ack_wait: Duration,
    retry: Backoff,
    token: Option<CancellationToken>,
    _jobs: PhantomData<fn(T) -> T>,
}

impl<T, C> fmt::Debug for WorkQueueBuilder<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueueBuilder")
            .field("stream", &self.stream)
            .field("subject", &self.subject)
            .field("consumer", &self.consumer)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_deliver", &self.max_deliver)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, C: Codec<T>> WorkQueueBuilder<T, C> {
    /// The durable consumer every replica shares. Default: `workers`.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// Where a job goes, with headers saying why, once it failed `max_deliver` times (or
    /// cannot be decoded). Capture it with a stream to keep dead letters durably. Default:
    /// `dead.<subject>`.
    pub fn dead_letter(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter = Some(subject.into());
        self
    }

    /// How many jobs one replica runs at once. Default: [`DEFAULT_MAX_IN_FLIGHT`].
    pub fn max_in_flight(mut self, jobs: usize) -> Self {
        self.max_in_flight = jobs;
        self
    }

    /// How many deliveries a job gets before it is dead-lettered. Default:
    /// [`DEFAULT_MAX_DELIVER`].
    pub fn max_deliver(mut self, deliveries: usize) -> Self {
        self.max_deliver = deliveries;
        self
    }

    /// How long JetStream waits for a job's acknowledgement before redelivering it (to any
    /// replica). Longer than your slowest job. Default: 30 s.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// The delay before a failed job is redelivered: the `n`-th delay of `backoff` after
    /// the `n`-th failure. Default: exponential from 100 ms, capped at 10 s.
    pub fn retry_backoff(mut self, backoff: Backoff) -> Self {
        self.retry = backoff;
        self
    }

    /// Closes every [`Worker`] of this queue, as [`Worker::close`] does, when `token` is
    /// cancelled.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        subject::name("stream", &self.stream)?;
        subject::name("consumer", &self.consumer)?;
        let subject_error = |e: Error| match e {
            Error::InvalidSubject { subject, source } => {
                ConfigError::InvalidSubject { subject, source }
            }
            _ => ConfigError::Empty,
        };
        subject::subject(&self.subject).map_err(subject_error)?;
        if let Some(dead) = &self.dead_letter {
            subject::subject(dead).map_err(subject_error)?;
        }
        for (setting, value, max) in [
            ("max_in_flight", self.max_in_flight, MAX_IN_FLIGHT),
            ("max_deliver", self.max_deliver, MAX_DELIVER),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero { setting });
            }
            if value > max {
                return Err(ConfigError::TooLarge {
                    setting,
                    value,
                    max,
                });
            }
        }
        if self.ack_wait.is_zero() {
            return Err(ConfigError::Zero {
                setting: "ack_wait",
            });
        }
        Ok(())
    }

    /// Validates the configuration and creates the stream (work-queue retention, file
    /// storage) and the shared durable consumer if they do not exist.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid setting, [`Error::JetStream`] if the stream or the
    /// consumer cannot be created.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the stream may be left created without the consumer.
    pub async fn build(self) -> Result<WorkQueue<T, C>, Error> {
        self.validate()?;
        let mut context = jetstream::new(self.conn.client().clone());
        context.set_timeout(Duration::from_secs(2));
        let stream = context
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![self.subject.clone()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(js_error)?;
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &self.consumer,
                consumer::pull::Config {
                    durable_name: Some(self.consumer.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(js_error)?;
        let dead_letter = self
            .dead_letter
            .unwrap_or_else(|| format!("dead.{}", self.subject));
        Ok(WorkQueue {
            inner: Arc::new(Shared {
                conn: self.conn,
                context,
                consumer,
                codec: self.codec,
                subject: self.subject,
                dead_letter,
                max_in_flight: self.max_in_flight,
                max_deliver: self.max_deliver,
                retry: self.retry,
                token: self.token.unwrap_or_default(),
            }),
            _jobs: PhantomData,
        })
    }
}

pub(crate) struct Shared<C> {
    pub(crate) conn: Connection,
    context: jetstream::Context,
    pub(crate) consumer: consumer::PullConsumer,
    pub(crate) codec: C,
    subject: String,
    pub(crate) dead_letter: String,
    pub(crate) max_in_flight: usize,
    pub(crate) max_deliver: usize,
    pub(crate) retry: Backoff,
    pub(crate) token: CancellationToken,
}

/// A queue of jobs of type `T` in a JetStream work-queue stream: any replica can
/// [`submit`](Self::submit), and each job is handed to one [`Worker`] of one replica.
pub struct WorkQueue<T, C> {
    inner: Arc<Shared<C>>,
    _jobs: PhantomData<fn(T) -> T>,
}

impl<T, C> Clone for WorkQueue<T, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _jobs: PhantomData,
        }
    }
}

impl<T, C> fmt::Debug for WorkQueue<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("subject", &self.inner.subject)
            .field("dead_letter", &self.inner.dead_letter)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, C: Codec<T>> WorkQueue<T, C> {
    /// Starts configuring a queue of jobs published to `subject`, kept in the stream
    /// `stream`, encoded with `codec`.
    pub fn builder(
        conn: &Connection,
        codec: C,
        stream: impl Into<String>,
        subject: impl Into<String>,
    ) -> WorkQueueBuilder<T, C> {
        WorkQueueBuilder {
            conn: conn.clone(),
            codec,
            stream: stream.into(),
            subject: subject.into(),
            consumer: "workers".to_owned(),
            dead_letter: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_deliver: DEFAULT_MAX_DELIVER,
            ack_wait: Duration::from_secs(30),
            retry: Backoff::exponential(Duration::from_millis(100))
                .max_delay(Duration::from_secs(10))
                .max_attempts(16)
                .build()
                .unwrap_or_default(),
            token: None,
            _jobs: PhantomData,
        }
    }

    /// Adds a job to the queue and waits for JetStream to store it. Returns its sequence
    /// number in the stream.
    ///
    /// # Errors
    ///
    /// [`Error::Codec`] if the job cannot be encoded, [`Error::PayloadTooLarge`] above the
    /// server's `max_payload`, [`Error::JetStream`] if the server did not acknowledge it
    /// (it may or may not be stored: submit again to be sure).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the job may be stored without the sequence being returned.
    pub async fn submit(&self, job: &T) -> Result<u64, Error> {
        let payload = self.inner.codec.encode(job).map_err(Error::Codec)?;
        self.inner
            .conn
            .check_size(payload.len() + self.inner.subject.len())?;
        let ack = self
            .inner
            .context
            .publish(self.inner.subject.clone(), payload)
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)?;
        Ok(ack.sequence)
    }

    /// Starts a worker on this replica: it pulls jobs, at most `max_in_flight` at once, and
    /// runs `handler` on each. `Ok` acknowledges the job; `Err` asks for a redelivery after
    /// the retry backoff, until `max_deliver` deliveries, then sends the job to the
    /// dead-letter subject.
    pub fn run<F, Fut, E>(&self, handler: F) -> Worker
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        Worker::start(Arc::clone(&self.inner), handler)
    }
}
