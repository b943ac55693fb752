//! Every matching subscription receives every message, in publish order.

use std::sync::Arc;

use futures_util::StreamExt;
use taskweave_bus::{Bus, LagPolicy, Lagged, RecvError};

#[tokio::test]
async fn many_subscribers_each_receive_everything_in_order() {
    let bus: Bus<u32> = Bus::new(256);
    let mut subs: Vec<_> = (0..64).map(|_| bus.subscribe("events").unwrap()).collect();
    assert_eq!(bus.subscriber_count("events").unwrap(), 64);
    for i in 0..200 {
        let delivery = bus.publish("events", i).await.unwrap();
        assert_eq!(delivery.delivered(), 64);
        assert!(delivery.is_complete());
    }
    bus.close();
    for sub in &mut subs {
        for i in 0..200 {
            assert_eq!(sub.recv().await, Ok(i));
        }
        assert_eq!(sub.recv().await, Err(RecvError::Closed));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_subscribers_on_a_multi_thread_runtime() {
    const N: u64 = 20_000;
    let bus: Bus<u64> = Bus::new(64);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let mut sub = bus
                .subscription("ticks")
                .lag_policy(taskweave_bus::LagPolicy::Block)
                .build()
                .unwrap();
            tokio::spawn(async move {
                let mut expected = 0;
                while let Ok(v) = sub.recv().await {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                expected
            })
        })
        .collect();
    for i in 0..N {
        bus.publish("ticks", i).await.unwrap();
    }
    drop(bus);
    for task in tasks {
        assert_eq!(task.await.unwrap(), N);
    }
}

/// Blocking subscriptions read the ring without locks, relying on the publisher never to write
/// a slot a member may still read. A tiny ring wraps thousands of times here, with readers of
/// different speeds sharing it and others on rings of their own, and heap payloads that a torn
/// or overwritten read would garble (or free twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_free_readers_of_a_wrapping_ring_get_every_message_intact() {
    const N: usize = 5_000;
    let bus: Bus<String> = Bus::new(3);
    let tasks: Vec<_> = (0..6)
        .map(|reader| {
            // Half share one ring; the others each have a ring of their own.
            let pattern = if reader % 2 == 0 {
                "orders.new"
            } else {
                ["orders.*", "orders.>", ">"][reader / 2]
            };
            let mut sub = bus
                .subscription(pattern)
                .lag_policy(LagPolicy::Block)
                .build()
                .unwrap();
            tokio::spawn(async move {
                let mut received = 0;
                while let Ok(msg) = sub.recv().await {
                    assert_eq!(msg, format!("order {received}"), "reader {reader}");
                    received += 1;
                    if received % (reader + 2) == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                received
            })
        })
        .collect();
    for i in 0..N {
        bus.publish("orders.new", format!("order {i}"))
            .await
            .unwrap();
    }
    drop(bus);
    for task in tasks {
        assert_eq!(task.await.unwrap(), N);
    }
}

#[tokio::test]
async fn subscriptions_are_streams_that_end_when_closed() {
    let bus: Bus<&'static str> = Bus::new(8);
    let sub = bus.subscribe("greetings.*").unwrap();
    bus.publish("greetings.en", "hello").await.unwrap();
    bus.publish("greetings.fr", "bonjour").await.unwrap();
    bus.publish("farewells.en", "bye").await.unwrap();
    bus.close();
    let got: Vec<Result<&str, Lagged>> = sub.collect().await;
    assert_eq!(got, vec![Ok("hello"), Ok("bonjour")]);
}

#[tokio::test]
async fn payloads_that_are_not_clone_travel_in_an_arc() {
    #[derive(Debug, PartialEq)]
    struct Frame(Vec<u8>);

    let bus: Bus<Arc<Frame>> = Bus::new(4);
    let mut a = bus.subscribe("video").unwrap();
    let mut b = bus.subscribe("video").unwrap();
    bus.publish("video", Arc::new(Frame(vec![1, 2, 3])))
        .await
        .unwrap();
    let (fa, fb) = (a.recv().await.unwrap(), b.recv().await.unwrap());
    assert!(
        Arc::ptr_eq(&fa, &fb),
        "the payload itself is shared, not cloned"
    );
}

#[tokio::test]
async fn filters_run_per_subscription_and_do_not_count_as_loss() {
    let bus: Bus<u32> = Bus::new(4);
    let mut even = bus
        .subscription("n")
        .filter(|n| n % 2 == 0)
        .build()
        .unwrap();
    let mut all = bus.subscribe("n").unwrap();
    for i in 0..8 {
        let delivery = bus.publish("n", i).await.unwrap();
        assert_eq!(delivery.delivered(), if i % 2 == 0 { 2 } else { 1 });
    }
    bus.close();
    let mut got = Vec::new();
    while let Ok(n) = even.recv().await {
        got.push(n);
    }
    assert_eq!(got, vec![0, 2, 4, 6]);
    assert_eq!(even.metrics().dropped, 0);
    // `all` has capacity 4 and lagged: it is a different subscription with its own buffer.
    assert_eq!(all.recv().await, Err(RecvError::Lagged(4)));
}

#[tokio::test]
async fn subscriptions_with_the_same_pattern_share_a_buffer_but_not_a_cursor() {
    let bus: Bus<u32> = Bus::new(4);
    let mut fast = bus.subscribe("s").unwrap();
    let mut slow = bus.subscribe("s").unwrap();
    for i in 0..3 {
        bus.publish("s", i).await.unwrap();
        assert_eq!(fast.recv().await, Ok(i));
    }
    let metrics = bus.metrics();
    assert_eq!(metrics.subscribers.len(), 2);
    let slow_stats = metrics
        .subscribers
        .iter()
        .find(|s| s.id == slow.id())
        .unwrap();
    assert_eq!(slow_stats.queued, 3);
    assert_eq!(slow_stats.received, 0);
    assert_eq!(slow.recv().await, Ok(0));
    // Its cursor moved on by one; `fast`'s did not move.
    let slow_stats = slow.metrics();
    assert_eq!((slow_stats.queued, slow_stats.received), (2, 1));
    assert_eq!(fast.metrics().queued, 0);
    drop(fast);
    assert_eq!(bus.subscription_count(), 1);
    assert_eq!(slow.recv().await, Ok(1));
}

#[tokio::test]
async fn bus_metrics_count_every_message_and_keep_the_lag_of_dropped_subscriptions() {
    let bus: Bus<u32> = Bus::new(2);
    let mut oldest = bus.subscribe("s").unwrap();
    let newest = bus
        .subscription("s")
        .lag_policy(LagPolicy::DropNewest)
        .build()
        .unwrap();
    let blocking = bus
        .subscription("s")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    for i in 0..5 {
        bus.try_publish("s", i).unwrap();
    }
    bus.try_publish("nobody", 9).unwrap();
    // `oldest` notices the three overwritten messages when it reads.
    assert_eq!(oldest.recv().await, Err(RecvError::Lagged(3)));
    let metrics = bus.metrics();
    assert_eq!(metrics.published, 6);
    // 5 for `oldest`, 2 each for the others.
    assert_eq!(metrics.delivered, 9);
    assert_eq!(metrics.refused, 6);
    assert_eq!(metrics.lagged, 3 + 3 + 3);
    assert_eq!(metrics.discarded, 0);
    assert_eq!(metrics.subscriptions, 3);
    assert_eq!(metrics.subscribers.len(), 3);
    drop(newest);
    let metrics = bus.metrics();
    assert_eq!(
        metrics.lagged, 9,
        "a dropped subscription's lag stays counted"
    );
    assert_eq!(metrics.subscriptions, 2);
    assert_eq!(bus.abort().total_discarded(), 2 + 2);
    assert_eq!(bus.metrics().discarded, 4);
    // Ids are numbers that show up as such in `Display` and in tracing events.
    assert_eq!(
        blocking.id().to_string(),
        format!("#{}", blocking.id().as_u64())
    );
    assert!(blocking.id().as_u64() > oldest.id().as_u64());
}
