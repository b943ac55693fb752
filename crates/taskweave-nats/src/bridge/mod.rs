//! The bridge between a local [`Bus`](taskweave_bus::Bus) and NATS.

mod builder;
mod export;
mod import;
mod metrics;
mod replay;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use taskweave_bus::Bus;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use builder::{BridgeBuilder, DEFAULT_BUFFER, MAX_BUFFER};
pub use metrics::{Metrics, OriginGaps, ShutdownReport};
pub use replay::Replay;

use crate::codec::Codec;
use crate::connection::Connection;
use metrics::Counters;

/// A random number for bridge names and instance ids.
fn nonce() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Exports local bus subjects to NATS and imports NATS subjects into a local bus; local
/// publishers and subscribers do not change.
///
/// Built by [`Bridge::builder`]. Cheap to clone; dropping the last clone closes it (what
/// is buffered is still sent). See the [crate docs](crate) for the guarantees.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

struct Inner {
    name: Arc<str>,
    conn: Connection,
    counters: Arc<Counters>,
    /// Cancelled by `close` (or the builder's token): stop taking new messages.
    intake: CancellationToken,
    /// Cancelled by `abort`: stop now, discard what is buffered.
    hard: CancellationToken,
    tracker: TaskTracker,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.intake.cancel();
    }
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("name", &self.inner.name)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Starts configuring a bridge between `bus` and the NATS server behind `conn`, with
    /// `codec` for the payloads.
    pub fn builder<T, C>(conn: &Connection, bus: &Bus<T>, codec: C) -> BridgeBuilder<T, C>
    where
        T: Clone + Send + Sync + 'static,
        C: Codec<T>,
    {
        BridgeBuilder::new(conn, bus, codec)
    }

    /// The bridge's name, sent with every exported message.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Stops intake: exporters stop reading the local bus once they have taken what it had
    /// already queued for them, and send what they hold; importers unsubscribe (or stop
    /// pulling) and import what they already received. Idempotent, returns at once.
    pub fn close(&self) {
        if !self.inner.intake.is_cancelled() {
            tracing::debug!(bridge = %self.inner.name, "bridge closing");
        }
        self.inner.intake.cancel();
    }

    /// Whether [`close`](Self::close) was called (or the token cancelled).
    pub fn is_closed(&self) -> bool {
        self.inner.intake.is_cancelled()
    }

    /// Closes the bridge and waits until every exporter has sent what it held and every
    /// importer has imported what it received. Never aborts: while the server is away, it
    /// waits for the reconnection (bound it with [`shutdown`](Self::shutdown)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the waiting, not the draining.
    pub async fn drain(&self) {
        self.close();
        self.inner.tracker.wait().await;
    }

    /// Drains for at most `grace`, then aborts; the report counts what was discarded.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`drain`](Self::drain); once `grace` ran out the abort has happened.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let before = self.metrics().discarded;
        let drained = tokio::time::timeout(grace, self.drain()).await.is_ok();
        if !drained {
            self.abort();
            self.inner.tracker.wait().await;
        }
        ShutdownReport {
            drained,
            discarded: self.metrics().discarded - before,
        }
    }

    /// The hard stop: every task ends now; buffered messages are discarded (counted in
    /// [`Metrics::discarded`] and logged). Messages received from a durable consumer and
    /// not yet delivered stay unacknowledged, so JetStream redelivers them.
    pub fn abort(&self) {
        self.inner.intake.cancel();
        self.inner.hard.cancel();
    }

    /// Whether the connection to NATS is up.
    pub fn is_connected(&self) -> bool {
        self.inner.conn.is_connected()
    }

    /// A snapshot of the bridge's counters.
    pub fn metrics(&self) -> Metrics {
        self.inner.counters.snapshot(self.is_connected())
    }
}
