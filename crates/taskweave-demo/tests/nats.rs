//! `--nats`: a run exports its telemetry to a real NATS server, and another process (here a
//! second bridge, importing into a bus of its own) sees every message, adding up to what the
//! summary reports.
//!
//! Needs `nats-server` (CI installs it; locally `apt-get install -y nats-server`, or set
//! `NATS_SERVER`). Every wait is bounded; no assertion depends on timing.

use std::time::Duration;

use taskweave::bus::{Bus, LagPolicy};
use taskweave::nats::testing::NatsServer;
use taskweave::nats::{Bridge, Connection, Json};
use taskweave_demo::remote_watch::EXPORTED;
use taskweave_demo::telemetry::{
    GENERATOR_PROGRESS, PIPELINE_PROGRESS, STORE_BATCH, Telemetry, breaker_subject,
};
use taskweave_demo::{Error, run};

mod common;
use common::config;

/// How long the watcher may take to receive what the run published (a bound, not a pace).
const DELIVERY_WITHIN: Duration = Duration::from_secs(20);

fn start_server() -> NatsServer {
    NatsServer::builder()
        .start()
        .unwrap_or_else(|e| panic!("this test needs a real nats-server (CI installs it): {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_nats_exports_every_telemetry_message() {
    let server = start_server();
    // The watcher: another "process" importing everything into a bus of its own.
    let conn = Connection::connect(server.url()).await.unwrap();
    let local: Bus<Telemetry> = Bus::new(8_192);
    let mut seen = local
        .subscription(">")
        .lag_policy(LagPolicy::Block)
        .capacity(8_192)
        .build()
        .unwrap();
    // `build` returns once the server has the subscriptions: nothing the run publishes is
    // missed. (Not `>`: that would also import the NATS client's own `_INBOX` traffic.)
    let mut watcher = Bridge::builder(&conn, &local, Json).name("e2e-watcher");
    for pattern in EXPORTED {
        watcher = watcher.import(pattern);
    }
    let watcher = watcher.build().await.unwrap();

    let mut config = config(2_000);
    config.outage = Duration::from_millis(300);
    config.nats = Some(server.url());
    let summary = run(config).await.unwrap();
    assert!(summary.is_consistent(), "{summary}");
    let report = summary
        .nats
        .clone()
        .expect("a run with --nats reports its export");
    assert!(report.losses().is_empty(), "{summary}");
    assert!(
        summary.to_string().contains("exported to NATS"),
        "{summary}"
    );
    let published = usize::try_from(report.metrics.published).unwrap();
    assert!(published > 0, "{summary}");

    // The run confirmed the server has every message; wait (bounded) until they arrive here.
    let mut received = Vec::with_capacity(published);
    tokio::time::timeout(DELIVERY_WITHIN, async {
        while received.len() < published {
            let envelope = seen.recv_with_subject().await.unwrap();
            received.push((envelope.subject().to_owned(), *envelope.message()));
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} of {published} messages arrived within {DELIVERY_WITHIN:?}",
            received.len()
        )
    });
    let metrics = watcher.metrics();
    assert_eq!((metrics.gaps, metrics.undecodable), (0, 0), "{metrics:?}");

    // Each message arrived under the subject it was published on, as the same value.
    let (mut generated, mut accepted, mut rows, mut dead, mut transitions) = (0, 0, 0, 0, 0);
    for (subject, message) in &received {
        let expected = match *message {
            Telemetry::Generated { events } => {
                generated += events;
                GENERATOR_PROGRESS
            }
            Telemetry::Processed(p) => {
                accepted += p.accepted;
                PIPELINE_PROGRESS
            }
            Telemetry::Breaker { to, .. } => {
                transitions += 1;
                breaker_subject(to)
            }
            Telemetry::Batch {
                events,
                dead_letters,
                committed,
            } => {
                assert!(committed, "{summary}");
                rows += events;
                dead += dead_letters;
                STORE_BATCH
            }
            other => panic!("unexpected telemetry {other:?}"),
        };
        assert_eq!(subject, expected, "{message:?}");
    }
    // What crossed NATS adds up to what the run stored and counted.
    assert_eq!(generated, summary.generated(), "{summary}");
    assert_eq!(accepted, summary.accepted(), "{summary}");
    assert_eq!(rows, summary.rows.events, "{summary}");
    assert_eq!(dead, summary.rows.dead_letters, "{summary}");
    assert_eq!(
        transitions,
        summary.stats.breaker_transitions.len(),
        "{summary}"
    );
    // The outage tripped the breaker, so the `breaker.>` family crossed too.
    assert!(transitions > 0, "{summary}");
    watcher.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_nats_server_is_a_typed_error() {
    // A port nothing listens on: the server was stopped.
    let mut server = start_server();
    let url = server.url();
    server.kill();
    let mut config = config(10);
    config.nats = Some(url.clone());
    let error = tokio::time::timeout(Duration::from_secs(30), run(config))
        .await
        .expect("connecting fails in bounded time")
        .unwrap_err();
    assert!(matches!(error, Error::Nats { .. }), "{error}");
    assert!(error.to_string().contains(&url), "{error}");
}
