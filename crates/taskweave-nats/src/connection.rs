//! One connection to a NATS server, shared by bridges and work queues: reconnects with a
//! taskweave-backoff policy and reports its health.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use taskweave_backoff::Backoff;
use tokio::sync::watch;

use crate::error::{ConfigError, Error};

/// Configures a [`Connection`]; from [`Connection::builder`].
pub struct ConnectionBuilder {
    url: String,
    options: ConnectOptions,
    reconnect: Backoff,
    subscription_capacity: usize,
}

/// How many messages the client buffers per subscription before it drops them (as a slow
/// consumer), by default: async-nats's own default.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 65_536;
/// The largest [`ConnectionBuilder::subscription_capacity`] accepted.
pub const MAX_SUBSCRIPTION_CAPACITY: usize = 1 << 24;

impl fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("url", &self.url)
            .field("reconnect", &self.reconnect)
            .field("subscription_capacity", &self.subscription_capacity)
            .finish_non_exhaustive()
    }
}

impl ConnectionBuilder {
    /// Authenticates with a user and password.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.options = self.options.user_and_password(user.into(), password.into());
        self
    }

    /// Authenticates with a token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.options = self.options.token(token.into());
        self
    }

    /// The client name the server shows in its monitoring.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.options = self.options.name(name.into());
        self
    }

    /// How long one connection attempt may take. Default: 5 s.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.options = self.options.connection_timeout(timeout);
        self
    }

    /// The delays between reconnection attempts after the server is lost. Attempt `n` waits
    /// the `n`-th delay of the policy, and the last one from then on: reconnection never
    /// gives up (`max_attempts` only shapes the schedule). Default: exponential from 100 ms,
    /// capped at 2 s, with full jitter.
    pub fn reconnect_backoff(mut self, backoff: Backoff) -> Self {
        self.reconnect = backoff;
        self
    }

    /// How many messages the client buffers for each subscription (an importer's, a worker's)
    /// while its reader is busy. Past that, the client drops messages as a slow consumer: the
    /// importers count such drops as gaps, and [`ConnectionMetrics::slow_consumer_events`] counts
    /// the events. Default: [`DEFAULT_SUBSCRIPTION_CAPACITY`].
    pub fn subscription_capacity(mut self, messages: usize) -> Self {
        self.subscription_capacity = messages;
        self
    }

    /// Connects. The first attempt is not retried, so a wrong URL or credentials fail here.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a subscription capacity of 0 or above
    /// [`MAX_SUBSCRIPTION_CAPACITY`]; [`Error::InvalidUrl`], [`Error::Auth`] or
    /// [`Error::Connect`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future abandons the attempt.
    pub async fn connect(self) -> Result<Connection, Error> {
        const SETTING: &str = "subscription_capacity";
        match self.subscription_capacity {
            0 => return Err(Error::Config(ConfigError::Zero { setting: SETTING })),
            value if value > MAX_SUBSCRIPTION_CAPACITY => {
                return Err(Error::Config(ConfigError::TooLarge {
                    setting: SETTING,
                    value,
                    max: MAX_SUBSCRIPTION_CAPACITY,
                }));
            }
            _ => {}
        }
        let (state, _) = watch::channel(false);
        let health = Arc::new(Health {
            state,
            disconnects: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            slow_consumer: AtomicU64::new(0),
        });
        let events = Arc::clone(&health);
        let backoff = self.reconnect;
        let options = self
            .options
            .subscription_capacity(self.subscription_capacity)
            .event_callback(move |event| {
                let health = Arc::clone(&events);
                async move { health.on_event(event) }
            })
            .reconnect_delay_callback(move |attempts| reconnect_delay(&backoff, attempts));
        let client = options
            .connect(self.url.as_str())
            .await
            .map_err(|e| match e.kind() {
                ConnectErrorKind::ServerParse => Error::InvalidUrl {
                    url: self.url.clone(),
                },
                ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                    Error::Auth(Box::new(e))
                }
                _ => Error::Connect(Box::new(e)),
            })?;
        health.state.send_replace(true);
        tracing::debug!(url = %self.url, "connected to NATS");
        Ok(Connection {
            client,
            health,
            url: self.url.into(),
        })
    }
}

/// Attempt `n` (from 1) waits the `n`-th delay of `backoff`, then its last delay forever
/// (reconnections, and the redelivery delays of the work queue).
pub(crate) fn reconnect_delay(backoff: &Backoff, attempts: usize) -> Duration {
    let delays = backoff.iter();
    let len = delays.len();
    if len == 0 {
        return backoff.max_delay().unwrap_or(Duration::from_millis(100));
    }
    let index = attempts.saturating_sub(1).min(len - 1);
    backoff
        .iter()
        .nth(index)
        .unwrap_or(Duration::from_millis(100))
}

#[derive(Debug)]
pub(crate) struct Health {
    state: watch::Sender<bool>,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
    slow_consumer: AtomicU64,
}

impl Health {
    fn on_event(&self, event: Event) {
        match event {
            Event::Connected => {
                if self.disconnects.load(Ordering::Relaxed) > 0 {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("reconnected to NATS");
                }
                self.state.send_replace(true);
            }
            Event::Disconnected => {
                self.disconnects.fetch_add(1, Ordering::Relaxed);
                self.state.send_replace(false);
                tracing::warn!("lost the connection to NATS; reconnecting");
            }
            Event::SlowConsumer(sid) => {
                self.slow_consumer.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    sid,
                    "NATS subscription too slow: the client dropped messages"
                );
            }
            other => tracing::debug!(event = %other, "NATS event"),
        }
    }
}

/// A connection to a NATS server (or cluster), cheap to clone: clones share it.
///
/// The underlying [`async_nats::Client`] reconnects by itself with the builder's backoff;
/// [`is_connected`](Self::is_connected) and [`metrics`](Self::metrics) show its health.
#[derive(Clone)]
pub struct Connection {
    client: async_nats::Client,
    health: Arc<Health>,
    url: Arc<str>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// A snapshot of a connection's health, from [`Connection::metrics`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionMetrics {
    /// Whether the connection is up right now.
    pub connected: bool,
    /// How many times the connection was lost.
    pub disconnects: u64,
    /// How many times it came back.
    pub reconnects: u64,
    /// How many times the client reported a subscription too slow (it then dropped
    /// messages; the bridge's sequence numbers count them as gaps).
    pub slow_consumer_events: u64,
}

impl Connection {
    /// Starts configuring a connection to `url` (`nats://127.0.0.1:4222`; several servers
    /// separated by commas).
    pub fn builder(url: impl Into<String>) -> ConnectionBuilder {
        let reconnect = Backoff::exponential(Duration::from_millis(100))
            .max_delay(Duration::from_secs(2))
            .max_attempts(16)
            .build()
            .unwrap_or_default();
        ConnectionBuilder {
            url: url.into(),
            options: ConnectOptions::new(),
            reconnect,
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
        }
    }

    /// Connects to `url` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`ConnectionBuilder::connect`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        Self::builder(url).connect().await
    }

    /// The async-nats client, for anything this crate does not wrap.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Whether the connection is up right now.
    pub fn is_connected(&self) -> bool {
        *self.health.state.borrow()
    }

    /// The server's `max_payload`: the largest message, headers included, it accepts.
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// A snapshot of the connection's health.
    pub fn metrics(&self) -> ConnectionMetrics {
        ConnectionMetrics {
            connected: self.is_connected(),
            disconnects: self.health.disconnects.load(Ordering::Relaxed),
            reconnects: self.health.reconnects.load(Ordering::Relaxed),
            slow_consumer_events: self.health.slow_consumer.load(Ordering::Relaxed),
        }
    }

    /// Waits until the server has processed everything this connection sent before, its
    /// subscriptions included: a message published afterwards, from any connection, reaches
    /// them. (`async_nats::Client::flush` only empties the socket's buffer.) The probe is a
    /// message to a fresh inbox that this connection subscribes to.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] if the probe cannot be sent or does not come back within 10 s.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the probe subscription is dropped with the future.
    pub async fn round_trip(&self) -> Result<(), Error> {
        use futures_util::StreamExt;
        let connect = |e: String| Error::Connect(e.into());
        let inbox = self.client.new_inbox();
        let mut probe = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| connect(e.to_string()))?;
        self.client
            .publish(inbox, bytes::Bytes::new())
            .await
            .map_err(|e| connect(e.to_string()))?;
        match tokio::time::timeout(Duration::from_secs(10), probe.next()).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(connect("the round-trip probe did not come back".to_owned())),
        }
    }

    /// Watches the connected state.
    pub(crate) fn watch(&self) -> watch::Receiver<bool> {
        self.health.state.subscribe()
    }

    /// Checks that `size` bytes fit the server's `max_payload`.
    pub(crate) fn check_size(&self, size: usize) -> Result<(), Error> {
        check_size(size, self.max_payload())
    }
}

/// Checks that `size` bytes fit `max` (the server's `max_payload`; 0 if unknown).
pub(crate) fn check_size(size: usize, max: usize) -> Result<(), Error> {
    if max > 0 && size > max {
        return Err(Error::PayloadTooLarge { size, max });
    }
    Ok(())
}
