//! Watching a run from other processes: with `--nats URL`, a taskweave-nats
//! [`Bridge`] exports the telemetry bus to a NATS server under the bus's own subjects, as
//! JSON, so that `nats sub '>'` (or another process's bridge) sees what the progress display
//! and the statistics see.
//!
//! The export is a watcher, never a brake: its bus subscriptions drop their oldest message
//! rather than slow the pipeline down, and the bridge buffers while the server is away. What
//! it could not send (lagged, rejected, discarded, or not confirmed by the server) is counted
//! and listed by the [`Summary`](crate::Summary) as lost.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use taskweave::bus::{Bus, LagPolicy};
use taskweave::nats::{Bridge, Connection, Json, Metrics, ShutdownReport};
use tokio_util::sync::CancellationToken;

use crate::config::ConfigError;
use crate::error::Error;
use crate::telemetry::{GENERATOR_PROGRESS, PIPELINE_PROGRESS, STORE_BATCH, Telemetry};

/// The bus subjects exported to NATS, under the same names: all of the demo's telemetry.
pub const EXPORTED: [&str; 4] = [
    GENERATOR_PROGRESS,
    PIPELINE_PROGRESS,
    STORE_BATCH,
    "breaker.>",
];

/// The bridge's name, stamped on every exported message.
pub const BRIDGE_NAME: &str = "taskweave-demo";

/// How long the shutdown waits for the bridge to send what it holds, and then for the server
/// to confirm it received it, before giving up (what is given up is counted).
pub const DRAIN_GRACE: Duration = Duration::from_secs(4);

/// What `--nats` accepts, for its error message.
const EXPECTED_URL: &str = "a NATS URL such as nats://127.0.0.1:4222 (several separated by commas)";

/// Checks a `--nats` value without connecting: one or more server URLs separated by commas,
/// each `[nats|tls|ws|wss://][user:password@]host[:port]`, as the NATS client parses them.
///
/// # Errors
///
/// [`ConfigError::InvalidValue`] for `--nats` if any URL does not parse.
pub fn parse_url(raw: &str) -> Result<String, ConfigError> {
    let all_parse = raw
        .split(',')
        .all(|url| !url.trim().is_empty() && async_nats::ServerAddr::from_str(url.trim()).is_ok());
    if all_parse {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::InvalidValue {
            option: "--nats",
            value: raw.to_owned(),
            expected: EXPECTED_URL,
        })
    }
}

/// The export of the telemetry bus to NATS, from [`RemoteWatch::start`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RemoteWatch {
    url: String,
    conn: Connection,
    bridge: Bridge,
}

/// How the bridge's shutdown went, from [`RemoteWatch::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drained {
    /// The bridge's own report: drained in time, or what it discarded.
    pub shutdown: ShutdownReport,
    /// Whether the server confirmed, by a round trip, that it received every published message.
    pub confirmed: bool,
}

impl RemoteWatch {
    /// Connects to `url` and starts exporting [`EXPORTED`] from `bus`. The bridge closes when
    /// `token` (the telemetry phase's) is cancelled. Call it before anything is published, so
    /// that the export sees every message.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] with taskweave-nats' typed error: the URL, the connection, or the bridge.
    pub async fn start(
        url: &str,
        bus: &Bus<Telemetry>,
        token: CancellationToken,
    ) -> Result<Self, Error> {
        let nats_error = |source| Error::Nats {
            url: url.to_owned(),
            source,
        };
        let conn = Connection::builder(url)
            .name(BRIDGE_NAME)
            .connect()
            .await
            .map_err(nats_error)?;
        let mut builder = Bridge::builder(&conn, bus, Json)
            .name(BRIDGE_NAME)
            .lag_policy(LagPolicy::DropOldest)
            .cancellation_token(token);
        for pattern in EXPORTED {
            builder = builder.export(pattern);
        }
        let bridge = builder.build().await.map_err(nats_error)?;
        tracing::info!(url, subjects = ?EXPORTED, "exporting telemetry to NATS");
        Ok(Self {
            url: url.to_owned(),
            conn,
            bridge,
        })
    }

    /// Exports until `bus_closed` (the last publisher is done and the bus closed) or `token`
    /// (the telemetry phase is stopping), then drains the bridge within [`DRAIN_GRACE`] and
    /// asks the server to confirm it has everything.
    pub async fn run(&self, bus_closed: CancellationToken, token: CancellationToken) -> Drained {
        tokio::select! {
            () = bus_closed.cancelled() => {}
            () = token.cancelled() => {}
        }
        let shutdown = self.bridge.shutdown(DRAIN_GRACE).await;
        let confirmed = matches!(
            tokio::time::timeout(DRAIN_GRACE, self.conn.round_trip()).await,
            Ok(Ok(()))
        );
        if !confirmed {
            tracing::warn!(url = %self.url, "the NATS server did not confirm the last messages");
        }
        Drained {
            shutdown,
            confirmed,
        }
    }

    /// The report for the summary. `drained` is `None` if [`run`](Self::run) never finished
    /// (its task was aborted): the bridge is then aborted, and what it held counted.
    pub fn report(&self, drained: Option<Drained>) -> WatchReport {
        if drained.is_none() {
            self.bridge.abort();
        }
        WatchReport {
            url: self.url.clone(),
            metrics: self.bridge.metrics(),
            drained,
        }
    }
}

/// What the export to NATS did, in the [`Summary`](crate::Summary) of a run with `--nats`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchReport {
    /// The server URL.
    pub url: String,
    /// The bridge's counters at the end of the run.
    pub metrics: Metrics,
    /// How its shutdown went; `None` if it was cut short.
    pub drained: Option<Drained>,
}

impl WatchReport {
    /// Every way telemetry failed to reach NATS, each of which must be zero (listed as lost
    /// by the summary).
    pub fn losses(&self) -> Vec<String> {
        let m = &self.metrics;
        let mut found = Vec::new();
        for (n, what) in [
            (m.lagged, "dropped by the export's lag policy (lagged)"),
            (m.rejected, "not encodable or above max_payload (rejected)"),
            (m.discarded, "discarded by the bridge's shutdown"),
        ] {
            if n > 0 {
                found.push(format!("{n} telemetry messages {what}, not sent to NATS"));
            }
        }
        match &self.drained {
            None => found.push("the NATS bridge was aborted before it drained".to_owned()),
            Some(d) if !d.confirmed => found.push(format!(
                "the NATS server did not confirm receipt of the {} messages published",
                m.published
            )),
            Some(_) => {}
        }
        found
    }
}

impl fmt::Display for WatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.metrics;
        write!(
            f,
            "{} messages to {} (lagged {}, rejected {}, discarded {})",
            m.published, self.url, m.lagged, m.rejected, m.discarded
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_the_client_accepts_pass() {
        for url in [
            "nats://127.0.0.1:4222",
            "127.0.0.1:4222",
            "tls://user:pw@example.com",
            "nats://a:4222,nats://b:4222",
        ] {
            assert_eq!(parse_url(url).as_deref(), Ok(url));
        }
    }

    #[test]
    fn bad_urls_are_a_typed_error() {
        for url in ["", "http://example.com", "nats://host:port", "nats://a:1,,"] {
            let err = parse_url(url).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::InvalidValue {
                        option: "--nats",
                        ..
                    }
                ),
                "{url}: {err}"
            );
            assert!(err.to_string().contains("nats://"), "{err}");
        }
    }
}
