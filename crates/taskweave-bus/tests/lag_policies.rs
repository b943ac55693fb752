//! Each lag policy under a slow subscriber, with exact loss accounting: every published
//! message is either received or reported missed, never both, never neither.

use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy, RecvError, Subscription, TryRecvError};

/// Drains without waiting; returns (received, total reported missed).
fn drain(sub: &mut Subscription<u64>, received: &mut Vec<u64>) -> u64 {
    let mut missed = 0;
    loop {
        match sub.try_recv() {
            Ok(v) => received.push(v),
            Err(TryRecvError::Lagged(n)) => missed += n,
            Err(TryRecvError::Empty | TryRecvError::Closed) => return missed,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

#[tokio::test]
async fn drop_oldest_keeps_the_newest_and_reports_the_gap_first() {
    let bus: Bus<u64> = Bus::new(8);
    let mut sub = bus.subscribe("t").unwrap();
    for i in 0..100 {
        let delivery = bus.try_publish("t", i).unwrap();
        assert_eq!(
            delivery.delivered(),
            1,
            "drop-oldest always takes the message"
        );
    }
    assert_eq!(sub.metrics().queued, 8);
    assert_eq!(sub.recv().await, Err(RecvError::Lagged(92)));
    for i in 92..100 {
        assert_eq!(sub.recv().await, Ok(i));
    }
    assert_eq!(sub.metrics().dropped, 92);
    assert_eq!(sub.metrics().received, 8);
}

#[tokio::test]
async fn an_overrun_subscriber_resumes_at_the_oldest_buffered_message_whatever_the_size() {
    let bus: Bus<u64> = Bus::new(256);
    let mut sub = bus.subscribe("t").unwrap();
    for i in 0..1_000 {
        bus.try_publish("t", i).unwrap();
    }
    assert_eq!(sub.recv().await, Err(RecvError::Lagged(744)));
    for i in 744..1_000 {
        assert_eq!(sub.recv().await, Ok(i));
    }
}

#[tokio::test]
async fn drop_newest_keeps_the_oldest_and_reports_the_gap_after_them() {
    let bus: Bus<u64> = Bus::new(8);
    let mut sub = bus
        .subscription("t")
        .lag_policy(LagPolicy::DropNewest)
        .build()
        .unwrap();
    for i in 0..20 {
        let delivery = bus.publish("t", i).await.unwrap();
        if i < 8 {
            assert!(delivery.is_complete());
        } else {
            assert_eq!(delivery.refused(), &[sub.id()]);
            assert_eq!(delivery.delivered(), 0);
        }
    }
    for i in 0..8 {
        assert_eq!(sub.recv().await, Ok(i));
    }
    assert_eq!(sub.recv().await, Err(RecvError::Lagged(12)));
    bus.publish("t", 20).await.unwrap();
    assert_eq!(sub.recv().await, Ok(20));
    assert_eq!(sub.metrics().dropped, 12);
}

#[tokio::test(start_paused = true)]
async fn block_makes_publish_wait_for_room() {
    let bus: Bus<u64> = Bus::new(4);
    let mut sub = bus
        .subscription("t")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    for i in 0..4 {
        bus.publish("t", i).await.unwrap();
    }
    let waited = tokio::time::timeout(Duration::from_secs(60), bus.publish("t", 4)).await;
    assert!(
        waited.is_err(),
        "a full blocking subscription holds the publisher"
    );
    // The timed-out publish delivered nothing (cancel safety).
    assert_eq!(sub.metrics().queued, 4);

    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("t", 4).await.map(|d| d.delivered()) })
    };
    tokio::task::yield_now().await;
    assert!(!publisher.is_finished());
    assert_eq!(sub.recv().await, Ok(0));
    assert_eq!(publisher.await.unwrap().unwrap(), 1);
    for i in 1..=4 {
        assert_eq!(sub.recv().await, Ok(i));
    }
}

#[tokio::test]
async fn try_publish_never_waits_and_names_the_full_blocking_subscriber() {
    let bus: Bus<u64> = Bus::new(2);
    let mut blocking = bus
        .subscription("t")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let mut lossy = bus.subscribe("t").unwrap();
    for i in 0..2 {
        assert!(bus.try_publish("t", i).unwrap().is_complete());
    }
    let delivery = bus.try_publish("t", 2).unwrap();
    assert_eq!(delivery.refused(), &[blocking.id()]);
    assert_eq!(
        delivery.delivered(),
        1,
        "the drop-oldest subscriber still got it"
    );
    assert_eq!(blocking.recv().await, Ok(0));
    assert_eq!(blocking.recv().await, Ok(1));
    assert_eq!(blocking.recv().await, Err(RecvError::Lagged(1)));
    assert_eq!(lossy.recv().await, Err(RecvError::Lagged(1)));
    assert_eq!(lossy.recv().await, Ok(1));
    assert_eq!(lossy.recv().await, Ok(2));
}

/// A slow subscriber per policy, reading in bursts on a schedule derived from `seed`, while a
/// publisher publishes `n` messages: delivered + reported missed = published, received
/// messages are in order, and the blocking subscriber loses nothing.
async fn slow_subscriber_accounting(policy: LagPolicy, seed: u64, n: u64) {
    let bus: Bus<u64> = Bus::new(16);
    let mut sub = bus.subscription("t").lag_policy(policy).build().unwrap();
    let mut received = Vec::new();
    let mut missed = 0;
    let mut rng = seed;
    for i in 0..n {
        if policy == LagPolicy::Block {
            // Publishing would wait for us, so read first when full.
            if sub.metrics().queued == 16 {
                missed += drain(&mut sub, &mut received);
            }
            bus.publish("t", i).await.unwrap();
        } else {
            bus.try_publish("t", i).unwrap();
        }
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        if (rng >> 33) % 37 == 0 {
            missed += drain(&mut sub, &mut received);
        }
    }
    bus.close();
    missed += drain(&mut sub, &mut received);
    assert_eq!(sub.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(
        received.len() as u64 + missed,
        n,
        "{policy}: every message accounted for"
    );
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "{policy}: in order"
    );
    assert_eq!(sub.metrics().dropped, missed);
    if policy == LagPolicy::Block {
        assert_eq!(missed, 0);
    } else {
        assert!(missed > 0, "{policy}: the schedule makes it lag");
    }
    if policy == LagPolicy::DropNewest {
        assert_eq!(received[..16], (0..16).collect::<Vec<_>>()[..]);
    }
}

#[tokio::test]
async fn every_policy_accounts_for_every_message() {
    for policy in [
        LagPolicy::DropOldest,
        LagPolicy::DropNewest,
        LagPolicy::Block,
    ] {
        for seed in 0..8 {
            slow_subscriber_accounting(policy, seed, 2_000).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_holds_across_threads() {
    const N: u64 = 50_000;
    let bus: Bus<u64> = Bus::new(32);
    let tasks: Vec<_> = [
        LagPolicy::DropOldest,
        LagPolicy::DropNewest,
        LagPolicy::Block,
    ]
    .into_iter()
    .map(|policy| {
        let mut sub = bus.subscription("t").lag_policy(policy).build().unwrap();
        tokio::spawn(async move {
            let (mut got, mut missed, mut last) = (0u64, 0u64, None);
            loop {
                match sub.recv().await {
                    Ok(v) => {
                        assert!(last < Some(v), "{policy}: in order");
                        last = Some(v);
                        got += 1;
                        if got % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    Err(RecvError::Lagged(n)) => missed += n,
                    Err(_) => return (policy, got, missed),
                }
            }
        })
    })
    .collect();
    let mut refused = 0;
    for i in 0..N {
        refused += bus.publish("t", i).await.unwrap().refused().len() as u64;
    }
    drop(bus);
    for task in tasks {
        let (policy, got, missed) = task.await.unwrap();
        assert_eq!(got + missed, N, "{policy}");
        match policy {
            LagPolicy::Block => assert_eq!(missed, 0),
            LagPolicy::DropNewest => assert_eq!(missed, refused),
            _ => {}
        }
    }
}
