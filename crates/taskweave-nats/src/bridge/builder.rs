//! Configures a [`Bridge`]: what to export, what to import, and how.

use std::fmt;
use std::sync::Arc;

use async_nats::jetstream::{self, consumer, stream};
use taskweave_bus::{Bus, LagPolicy};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::export::Exporter;
use super::import::Importer;
use super::metrics::Counters;
use super::replay::{Replay, deliver_policy};
use super::{Bridge, Inner};
use crate::codec::Codec;
use crate::connection::Connection;
use crate::error::{ConfigError, Error, jetstream as js_error};
use crate::pull::Puller;
use crate::subject;

/// The default bound of each exporter's buffer, used while disconnected: 8,192 messages.
pub const DEFAULT_BUFFER: usize = 8192;
/// The largest buffer accepted: 1,048,576 messages.
pub const MAX_BUFFER: usize = 1 << 20;

struct DurableImport {
    pattern: String,
    consumer: String,
    replay: Replay,
}

/// Configures a [`Bridge`]; from [`Bridge::builder`].
pub struct BridgeBuilder<T, C> {
    conn: Connection,
    bus: Bus<T>,
    codec: C,
    name: Option<String>,
    exports: Vec<(String, bool)>,
    imports: Vec<String>,
    durable_imports: Vec<DurableImport>,
    stream: Option<String>,
    lag_policy: Option<LagPolicy>,
    capacity: usize,
    buffer: usize,
    token: Option<CancellationToken>,
}

impl<T, C> fmt::Debug for BridgeBuilder<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeBuilder")
            .field("name", &self.name)
            .field("exports", &self.exports)
            .field("imports", &self.imports)
            .field("stream", &self.stream)
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl<T, C> BridgeBuilder<T, C>
where
    T: Clone + Send + Sync + 'static,
    C: Codec<T>,
{
    pub(super) fn new(conn: &Connection, bus: &Bus<T>, codec: C) -> Self {
        Self {
            conn: conn.clone(),
            bus: bus.clone(),
            codec,
            name: None,
            exports: Vec::new(),
            imports: Vec::new(),
            durable_imports: Vec::new(),
            stream: None,
            lag_policy: None,
            capacity: taskweave_bus::DEFAULT_CAPACITY,
            buffer: DEFAULT_BUFFER,
            token: None,
        }
    }

    /// The bridge's name, sent with every exported message: importers skip messages of
    /// their own name (no echo) and report gaps per name. Give each replica its own.
    /// Default: `bridge-` and a random number.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Publishes local messages matching `pattern` to NATS with core NATS: at most once.
    pub fn export(mut self, pattern: impl Into<String>) -> Self {
        self.exports.push((pattern.into(), false));
        self
    }

    /// Publishes local messages matching `pattern` to the JetStream [`stream`](Self::stream)
    /// and waits for each acknowledgement: at least once, deduplicated by the server.
    pub fn export_durable(mut self, pattern: impl Into<String>) -> Self {
        self.exports.push((pattern.into(), true));
        self
    }

    /// Publishes NATS messages matching `pattern` to the local bus (core NATS).
    pub fn import(mut self, pattern: impl Into<String>) -> Self {
        self.imports.push(pattern.into());
        self
    }

    /// Publishes the [`stream`](Self::stream)'s messages matching `pattern` to the local bus
    /// through the durable consumer `consumer`, acknowledging each one after the local bus
    /// accepted it. A new consumer starts as `replay` says; an existing one resumes.
    pub fn import_durable(
        mut self,
        pattern: impl Into<String>,
        consumer: impl Into<String>,
        replay: Replay,
    ) -> Self {
        self.durable_imports.push(DurableImport {
            pattern: pattern.into(),
            consumer: consumer.into(),
            replay,
        });
        self
    }

    /// The JetStream stream of durable exports and imports, created (file storage, with
    /// their patterns as subjects) if it does not exist.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = Some(name.into());
        self
    }

    /// The lag policy of the exporters' local subscriptions: what happens once an exporter's
    /// buffer is full. Default: [`LagPolicy::Block`] for durable exports (lossless: local
    /// publishers wait), [`LagPolicy::DropOldest`] for core ones (counted in `lagged`).
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = Some(policy);
        self
    }

    /// The capacity of each exporter's local subscription. Default: the bus's default.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many messages each exporter holds while disconnected before it stops reading the
    /// local bus (whose lag policy then applies). Default: [`DEFAULT_BUFFER`].
    pub fn buffer(mut self, messages: usize) -> Self {
        self.buffer = messages;
        self
    }

    /// Closes the bridge, as [`Bridge::close`] does, when `token` is cancelled.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.exports.is_empty() && self.imports.is_empty() && self.durable_imports.is_empty() {
            return Err(ConfigError::Empty);
        }
        if self.buffer == 0 {
            return Err(ConfigError::Zero { setting: "buffer" });
        }
        if self.buffer > MAX_BUFFER {
            return Err(ConfigError::TooLarge {
                setting: "buffer",
                value: self.buffer,
                max: MAX_BUFFER,
            });
        }
        if self.capacity == 0 {
            return Err(ConfigError::Zero {
                setting: "capacity",
            });
        }
        if self.capacity > taskweave_bus::MAX_CAPACITY {
            return Err(ConfigError::TooLarge {
                setting: "capacity",
                value: self.capacity,
                max: taskweave_bus::MAX_CAPACITY,
            });
        }
        if let Some(name) = &self.name {
            subject::name("name", name)?;
        }
        for (pattern, _) in &self.exports {
            subject::pattern(pattern)?;
        }
        for pattern in &self.imports {
            subject::pattern(pattern)?;
        }
        for import in &self.durable_imports {
            subject::pattern(&import.pattern)?;
            subject::name("consumer", &import.consumer)?;
            if import.replay == Replay::LastN(0) {
                return Err(ConfigError::Zero {
                    setting: "Replay::LastN",
                });
            }
        }
        let durable = self.exports.iter().any(|(_, d)| *d) || !self.durable_imports.is_empty();
        match &self.stream {
            Some(name) => subject::name("stream", name)?,
            None if durable => return Err(ConfigError::MissingStream),
            None => {}
        }
        Ok(())
    }

    /// Validates the configuration, subscribes, creates the stream and durable consumers
    /// as needed, and starts one task per export and import.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid setting (zero or oversized buffer, a pattern NATS or
    /// the bus would refuse, a bad name), [`Error::JetStream`] if the stream or a consumer
    /// cannot be created, [`Error::Closed`] if the bus or connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a stream or consumer may be left created on the server.
    pub async fn build(self) -> Result<Bridge, Error> {
        self.validate()?;
        let nonce = super::nonce();
        let name: Arc<str> = self
            .name
            .clone()
            .unwrap_or_else(|| format!("bridge-{:08x}", nonce as u32))
            .into();
        let instance: Arc<str> = format!("{nonce:016x}").into();
        let token = self.token.clone().unwrap_or_default();
        let intake = token.child_token();
        let hard = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let tracker = TaskTracker::new();
        let codec = Arc::new(self.codec);
        let mut context = jetstream::new(self.conn.client().clone());
        context.set_timeout(std::time::Duration::from_secs(2));

        let mut js_stream = None;
        if let Some(stream_name) = &self.stream {
            let mut subjects: Vec<String> = self
                .exports
                .iter()
                .filter(|(_, durable)| *durable)
                .map(|(p, _)| p.clone())
                .chain(self.durable_imports.iter().map(|i| i.pattern.clone()))
                .collect();
            subjects.sort();
            subjects.dedup();
            let created = context
                .get_or_create_stream(stream::Config {
                    name: stream_name.clone(),
                    subjects,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(js_error)?;
            js_stream = Some(created);
        }

        let mut durables = Vec::new();
        if let Some(stream) = &js_stream {
            for import in &self.durable_imports {
                let deliver_policy = deliver_policy(stream, import.replay).await?;
                let consumer: consumer::PullConsumer = stream
                    .get_or_create_consumer(
                        &import.consumer,
                        consumer::pull::Config {
                            durable_name: Some(import.consumer.clone()),
                            filter_subject: import.pattern.clone(),
                            deliver_policy,
                            ack_policy: consumer::AckPolicy::Explicit,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(js_error)?;
                durables.push(Box::new(Puller::new(consumer)));
            }
        }

        let mut importers = Vec::new();
        for pattern in &self.imports {
            let sub = self
                .conn
                .client()
                .subscribe(pattern.clone())
                .await
                .map_err(|e| Error::Connect(Box::new(e)))?;
            importers.push(super::import::Source::Core(sub));
        }
        if !self.imports.is_empty() {
            // When `build` returns, the server has the subscriptions: a message published
            // afterwards, from any connection, is imported.
            self.conn.round_trip().await?;
        }
        importers.extend(durables.into_iter().map(super::import::Source::Durable));

        let mut exporters = Vec::new();
        for (pattern, durable) in &self.exports {
            let policy = self.lag_policy.unwrap_or(if *durable {
                LagPolicy::Block
            } else {
                LagPolicy::DropOldest
            });
            let sub = self
                .bus
                .subscription(pattern)
                .lag_policy(policy)
                .capacity(self.capacity)
                .filter(|_| !super::import::importing())
                .build()
                .map_err(|_| Error::Closed)?;
            exporters.push(Exporter {
                sub: Some(sub),
                conn: self.conn.clone(),
                js: durable.then(|| context.clone()),
                codec: Arc::clone(&codec),
                origin: Arc::clone(&name),
                instance: Arc::clone(&instance),
                next_id: 0,
                seqs: Default::default(),
                buffer: Default::default(),
                bound: self.buffer,
                max_payload: self.conn.max_payload(),
                counters: Arc::clone(&counters),
                intake: intake.clone(),
                hard: hard.clone(),
            });
        }
        for exporter in exporters {
            tracker.spawn(exporter.run());
        }
        for source in importers {
            let importer = Importer {
                bus: self.bus.clone(),
                conn: self.conn.clone(),
                codec: Arc::clone(&codec),
                origin: Arc::clone(&name),
                tracker: Default::default(),
                counters: Arc::clone(&counters),
                intake: intake.clone(),
                hard: hard.clone(),
            };
            tracker.spawn(importer.run(source));
        }
        tracker.close();
        tracing::debug!(bridge = %name, exports = self.exports.len(), imports = self.imports.len() + self.durable_imports.len(), "bridge started");
        Ok(Bridge {
            inner: Arc::new(Inner {
                name,
                conn: self.conn,
                counters,
                intake,
                hard,
                tracker,
            }),
        })
    }
}
