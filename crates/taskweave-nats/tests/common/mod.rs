//! Shared by the integration tests: a real server per test, and waiting for conditions.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use taskweave_bus::Bus;
use taskweave_nats::testing::NatsServer;
use taskweave_nats::{Bridge, Connection, Json};

/// Starts a server for one test; fails the test, clearly, when nats-server is missing.
pub fn server(jetstream: bool) -> NatsServer {
    // `RUST_LOG=taskweave_nats=debug` shows the bridge's state changes.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let builder = NatsServer::builder();
    let builder = if jetstream {
        builder.jetstream()
    } else {
        builder
    };
    builder
        .start()
        .unwrap_or_else(|e| panic!("cannot start nats-server for this test: {e}"))
}

pub async fn connect(server: &NatsServer) -> Connection {
    Connection::connect(server.url())
        .await
        .expect("connect to the test server")
}

/// Polls `condition` every 10 ms until it holds; panics after `limit` naming `what`.
pub async fn eventually(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub const LIMIT: Duration = Duration::from_secs(20);

/// A bridge that imports `pattern` (core NATS) into `bus`.
pub async fn importer(conn: &Connection, bus: &Bus<u64>, pattern: &str) -> Bridge {
    Bridge::builder(conn, bus, Json)
        .import(pattern)
        .build()
        .await
        .expect("importer")
}

/// Awaits `future`, failing the test instead of hanging when it takes longer than [`LIMIT`].
pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("finished within the limit")
}
