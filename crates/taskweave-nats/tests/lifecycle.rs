//! The lifecycle verbs of every taskweave crate: the token closes, drain waits, shutdown
//! bounds the wait and counts what it gives up, dropping the last handle closes.

mod common;

use std::time::Duration;

use common::{LIMIT, connect, eventually, server, within};
use taskweave_bus::Bus;
use taskweave_nats::{Bridge, Json, WorkQueue};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_closes_and_shutdown_counts_what_it_discards() {
    let mut server = server(false);
    let conn = connect(&server).await;
    let bus: Bus<u64> = Bus::new(64);
    let token = CancellationToken::new();
    let bridge = Bridge::builder(&conn, &bus, Json)
        .export("ticks")
        .cancellation_token(token.clone())
        .build()
        .await
        .unwrap();
    server.kill();
    eventually(LIMIT, "disconnect noticed", || !bridge.is_connected()).await;
    for i in 0..10 {
        bus.publish("ticks", i).await.unwrap();
    }
    eventually(LIMIT, "all buffered", || bridge.metrics().buffered == 10).await;
    token.cancel();
    assert!(bridge.is_closed());
    // The server is gone: drain cannot finish, so shutdown gives up after the grace period.
    let report = bridge.shutdown(Duration::from_millis(100)).await;
    assert!(!report.is_clean());
    assert_eq!(report.discarded, 10);
    let m = bridge.metrics();
    assert_eq!((m.buffered, m.discarded, m.published), (0, 10, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_closes_and_sends_what_was_taken() {
    let server = server(false);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(64), Bus::new(64));
    let mut received = bus_b.subscribe("ticks").unwrap();
    let importer = common::importer(&conn_b, &bus_b, "ticks").await;
    let exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .export("ticks")
        .build()
        .await
        .unwrap();
    bus_a.publish("ticks", 1).await.unwrap();
    drop(exporter);
    let got = tokio::time::timeout(LIMIT, received.recv()).await.unwrap();
    assert_eq!(got, Ok(1));
    eventually(LIMIT, "the exporter unsubscribed from the bus", || {
        bus_a.subscription_count() == 0
    })
    .await;
    within(importer.drain()).await;
    assert!(importer.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_token_drains_workers_and_abort_abandons_jobs() {
    let server = server(true);
    let conn = connect(&server).await;
    let token = CancellationToken::new();
    let queue = WorkQueue::<u64, _>::builder(&conn, Json, "LIFE", "life.jobs")
        .cancellation_token(token.clone())
        .build()
        .await
        .unwrap();
    queue.submit(&1).await.unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::channel(4);
    let worker = queue.run(move |_job: u64| {
        let started_tx = started_tx.clone();
        async move {
            started_tx.send(()).await.unwrap();
            std::future::pending::<()>().await;
            Ok::<(), std::io::Error>(())
        }
    });
    within(started.recv()).await.unwrap();
    token.cancel();
    assert!(worker.is_closed());
    let report = worker.shutdown(Duration::from_millis(100)).await;
    assert!(!report.is_clean());
    assert_eq!(report.abandoned, 1);
    assert_eq!(worker.metrics().in_flight, 0);
}
