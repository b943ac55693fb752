//! Core NATS is at most once: when the server dies mid-stream, the loss is reported exactly.

mod common;

use std::time::Duration;

use common::{LIMIT, connect, eventually, importer, server, within};
use taskweave_bus::{Bus, LagPolicy};
use taskweave_nats::{Bridge, Connection, Json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_stream_loss_is_counted_exactly() {
    let mut server = server(false);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(4096), Bus::new(4096));
    let mut received = bus_b
        .subscription("ticks")
        .lag_policy(LagPolicy::Block)
        .capacity(1 << 16)
        .build()
        .unwrap();
    let exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .name("exporter")
        .export("ticks")
        .lag_policy(LagPolicy::Block)
        .build()
        .await
        .unwrap();
    let importer = importer(&conn_b, &bus_b, "ticks").await;

    let mut published = 0u64;
    for _ in 0..500 {
        published += 1;
        bus_a.publish("ticks", published).await.unwrap();
    }
    eventually(LIMIT, "first half imported", || {
        importer.metrics().imported >= 100
    })
    .await;
    server.kill();
    for _ in 0..500 {
        published += 1;
        bus_a.publish("ticks", published).await.unwrap();
    }
    server.restart().unwrap();
    eventually(LIMIT, "both sides reconnected", || {
        conn_a.is_connected() && conn_b.is_connected()
    })
    .await;
    // Keep publishing until one message arrives after the restart: everything before it
    // is then either received or counted as a gap.
    let mut last_seen = 0;
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut got = 0u64;
    while last_seen <= 1000 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing arrived after the restart"
        );
        published += 1;
        bus_a.publish("ticks", published).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Ok(n) = received.try_recv() {
            assert!(n > last_seen, "in order, no duplicates");
            last_seen = n;
            got += 1;
        }
    }
    let metrics = importer.metrics();
    assert_eq!(
        got + metrics.gaps,
        last_seen,
        "every message up to the last one received is received or counted lost: {metrics:?}"
    );
    assert!(
        metrics
            .gaps_by_origin
            .iter()
            .all(|g| g.origin == "exporter")
    );
    let gaps: u64 = metrics.gaps_by_origin.iter().map(|g| g.missed).sum();
    assert_eq!(gaps, metrics.gaps);
    assert!(conn_a.metrics().reconnects >= 1);
    exporter.abort();
    importer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_disconnected_the_buffer_is_bounded_and_overflow_is_counted() {
    let mut server = server(false);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(16), Bus::new(1024));
    let mut received = bus_b.subscription("ticks").capacity(1024).build().unwrap();
    let exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .name("buffered")
        .export("ticks")
        .lag_policy(LagPolicy::DropOldest)
        .capacity(16)
        .buffer(32)
        .build()
        .await
        .unwrap();
    let importer = importer(&conn_b, &bus_b, "ticks").await;
    server.kill();
    eventually(LIMIT, "disconnect noticed", || !exporter.is_connected()).await;
    for i in 1..=32u64 {
        bus_a.publish("ticks", i).await.unwrap();
        eventually(LIMIT, "message buffered", || {
            exporter.metrics().buffered == i as usize
        })
        .await;
    }
    // The buffer is full: the exporter stops reading and the local lag policy applies.
    for i in 33..=200u64 {
        bus_a.publish("ticks", i).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let m = exporter.metrics();
    assert_eq!((m.buffered, m.published), (32, 0), "{m:?}");
    server.restart().unwrap();
    // Nothing vanished: every message is published or counted as dropped by the lag
    // policy (the 32 buffered, the 16 the subscription kept, the rest overwritten).
    eventually(LIMIT, "buffer flushed and overflow counted", || {
        let m = exporter.metrics();
        m.buffered == 0 && m.published + m.lagged == 200
    })
    .await;
    let m = exporter.metrics();
    assert_eq!(m.published, 32 + 16, "{m:?}");
    let _ = received.try_recv();
    importer.abort();
    within(exporter.drain()).await;
}

/// Real loss on a live connection: the importer's client buffers at most 64 messages for its
/// subscription; while the local subscriber does not read, the importer waits on the local bus
/// (lossless policy) and the client drops what does not fit, as NATS does for any slow
/// consumer. The importer must count exactly those messages as gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_messages_and_the_importer_counts_each_one() {
    const SENT: u64 = 5_000;
    let server = server(false);
    let conn_a = connect(&server).await;
    let conn_b = Connection::builder(server.url())
        .subscription_capacity(64)
        .connect()
        .await
        .expect("connect to the test server");
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(4096), Bus::new(16));
    let mut received = bus_b
        .subscription("ticks")
        .lag_policy(LagPolicy::Block)
        .capacity(16)
        .build()
        .unwrap();
    let exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .name("fast-publisher")
        .export("ticks")
        .lag_policy(LagPolicy::Block)
        .build()
        .await
        .unwrap();
    let importer = importer(&conn_b, &bus_b, "ticks").await;

    // Nobody reads `received` meanwhile: its 16 slots fill, the importer blocks, and the
    // client's 64-message buffer overflows.
    for n in 1..=SENT {
        bus_a.publish("ticks", n).await.unwrap();
    }
    eventually(LIMIT, "every message published", || {
        exporter.metrics().published == SENT
    })
    .await;
    within(conn_a.round_trip()).await.unwrap();
    eventually(LIMIT, "the client reported a slow consumer", || {
        conn_b.metrics().slow_consumer_events > 0
    })
    .await;

    // Now read. Then one more message marks the end: every sequence number up to it has been
    // received or counted as a gap.
    let mut got = Vec::new();
    let mut marker_sent = false;
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout(Duration::from_millis(200), received.recv()).await {
            Ok(Ok(n)) => {
                got.push(n);
                if n == SENT + 1 {
                    break;
                }
            }
            Ok(Err(e)) => panic!("the local subscription failed: {e}"),
            Err(_) if !marker_sent => {
                bus_a.publish("ticks", SENT + 1).await.unwrap();
                marker_sent = true;
            }
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "the marker never arrived"
            ),
        }
    }
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    let metrics = importer.metrics();
    let lost = SENT + 1 - got.len() as u64;
    assert!(
        lost > 0,
        "the client dropped nothing: the test proves nothing"
    );
    assert_eq!(
        metrics.gaps, lost,
        "each lost message is one gap: {metrics:?}"
    );
    let by_origin: Vec<_> = metrics
        .gaps_by_origin
        .iter()
        .map(|g| (g.origin.as_str(), g.missed))
        .collect();
    assert_eq!(by_origin, [("fast-publisher", lost)]);
    exporter.abort();
    importer.abort();
}
