//! Two bridges stand in for two replicas: every local message reaches both, once.

mod common;

use common::{LIMIT, connect, eventually, server, within};
use taskweave_bus::{Bus, LagPolicy};
use taskweave_nats::{Bridge, Json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_to_both_replicas_without_echo() {
    let server = server(false);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(1024), Bus::new(1024));
    let mut local_a = bus_a
        .subscription("orders.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let mut created_b = bus_b
        .subscription("orders.*.created")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let mut all_b = bus_b
        .subscription("orders.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let bridge_a = Bridge::builder(&conn_a, &bus_a, Json)
        .name("a")
        .export("orders.>")
        .import("orders.>")
        .build()
        .await
        .unwrap();
    let bridge_b = Bridge::builder(&conn_b, &bus_b, Json)
        .name("b")
        .export("orders.>")
        .import("orders.>")
        .build()
        .await
        .unwrap();

    const N: u64 = 200;
    for i in 0..N {
        let subject = if i % 2 == 0 {
            "orders.eu.created"
        } else {
            "orders.eu.shipped"
        };
        bus_a.publish(subject, i).await.unwrap();
    }
    // B sees every message, under its original subject, in order per subject.
    for i in 0..N {
        let envelope = within(all_b.recv_with_subject()).await.unwrap();
        assert_eq!(*envelope.message(), i);
        let expected = if i % 2 == 0 {
            "orders.eu.created"
        } else {
            "orders.eu.shipped"
        };
        assert_eq!(envelope.subject(), expected);
    }
    for i in (0..N).step_by(2) {
        assert_eq!(within(created_b.recv()).await.unwrap(), i);
    }
    // And from B to A.
    bus_b.publish("orders.us.created", 1000).await.unwrap();
    for i in 0..N {
        assert_eq!(
            within(local_a.recv()).await.unwrap(),
            i,
            "A's own messages, once each"
        );
    }
    assert_eq!(within(local_a.recv()).await.unwrap(), 1000);

    // No echo: nothing came back to A a second time, and B re-exported nothing.
    eventually(LIMIT, "metrics settle", || {
        bridge_b.metrics().imported == N && bridge_a.metrics().imported == 1
    })
    .await;
    assert_eq!(bridge_a.metrics().published, N);
    assert_eq!(bridge_b.metrics().published, 1);
    assert!(local_a.try_recv().is_err(), "no echo reached A");
    assert_eq!(bridge_b.metrics().gaps, 0);

    within(bridge_a.drain()).await;
    within(bridge_b.drain()).await;
}

#[cfg(feature = "postcard")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postcard_codec_carries_structs() {
    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Order {
        id: u32,
        region: String,
    }
    let server = server(false);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<Order>, Bus<Order>) = (Bus::new(64), Bus::new(64));
    let mut sub = bus_b.subscribe("orders.>").unwrap();
    let _a = Bridge::builder(&conn_a, &bus_a, taskweave_nats::Postcard)
        .export("orders.>")
        .build()
        .await
        .unwrap();
    let b = Bridge::builder(&conn_b, &bus_b, taskweave_nats::Postcard)
        .import("orders.>")
        .build()
        .await
        .unwrap();
    let order = Order {
        id: 9,
        region: "eu".into(),
    };
    bus_a
        .publish("orders.eu.created", order.clone())
        .await
        .unwrap();
    assert_eq!(within(sub.recv()).await.unwrap(), order);
    eventually(LIMIT, "imported counted", || b.metrics().imported == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_local_subscriber_makes_the_importer_wait_not_lose() {
    let server = server(false);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(64), Bus::new(64));
    let mut slow = bus_b
        .subscription("ticks")
        .lag_policy(LagPolicy::Block)
        .capacity(4)
        .build()
        .unwrap();
    let importer = common::importer(&conn_b, &bus_b, "ticks").await;
    let _exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .export("ticks")
        .lag_policy(LagPolicy::Block)
        .build()
        .await
        .unwrap();
    for i in 0..50 {
        bus_a.publish("ticks", i).await.unwrap();
    }
    // The importer fills the 4 slots and waits; each receive lets one more in.
    eventually(LIMIT, "the subscriber's buffer is full", || {
        slow.metrics().queued == 4
    })
    .await;
    for i in 0..50 {
        assert_eq!(within(slow.recv()).await.unwrap(), i);
    }
    eventually(LIMIT, "all imported", || importer.metrics().imported == 50).await;
    assert_eq!(slow.metrics().dropped, 0);
}
