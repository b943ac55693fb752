//! The lifecycle contract: the token closes like `close`, `drain` waits for every
//! subscription, `shutdown(grace)` waits a bounded time then discards and counts,
//! `abort` discards at once, and the last handle closes.

use std::time::Duration;

use taskweave_bus::{Bus, BusBuilder, LagPolicy, PublishError, RecvError, TryRecvError};
use taskweave_testkit::finishes_within;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn builder(capacity: usize) -> BusBuilder<u32> {
    Bus::builder().capacity(capacity)
}

fn bus(capacity: usize) -> Bus<u32> {
    builder(capacity).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_token_closes_gracefully_like_close() {
    let token = CancellationToken::new();
    let bus = builder(8)
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let mut sub = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    bus.publish("x", 1).await.unwrap();
    bus.publish("x", 2).await.unwrap();
    token.cancel();
    assert!(bus.is_closed());
    assert!(matches!(
        bus.try_publish("x", 3),
        Err(PublishError::Closed(3))
    ));
    // Graceful: what was accepted stays readable, nothing is discarded.
    assert_eq!(sub.recv().await, Ok(1));
    assert_eq!(sub.recv().await, Ok(2));
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
    assert!(bus.shutdown(Duration::ZERO).await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn drain_waits_for_a_blocking_subscriber_that_does_not_read() {
    let bus = bus(4);
    let mut audit = bus
        .subscription("orders.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let mut live = bus.subscribe("orders.*").unwrap();
    for n in 0..3 {
        bus.publish("orders.new", n).await.unwrap();
    }
    for n in 0..3 {
        assert_eq!(live.recv().await, Ok(n));
    }
    // An hour of (paused) time passes: the audit log has not read, so drain keeps waiting.
    let waited = tokio::time::timeout(Duration::from_secs(3600), bus.drain()).await;
    assert!(
        waited.is_err(),
        "drain must wait for the unread subscription"
    );
    // Dropping the drain future did not undo the close.
    assert!(bus.is_closed());

    let reader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut got = Vec::new();
        while let Ok(n) = audit.recv().await {
            got.push(n);
        }
        (got, audit)
    });
    let start = Instant::now();
    bus.drain().await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let (got, _audit) = reader.await.unwrap();
    assert_eq!(got, [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn drain_ends_when_the_lagging_subscription_is_dropped() {
    let bus = bus(4);
    let sub = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    bus.publish("x", 1).await.unwrap();
    let dropper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(sub);
    });
    let start = Instant::now();
    bus.drain().await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    dropper.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn drain_of_a_read_bus_returns_at_once() {
    let bus = bus(4);
    let mut sub = bus.subscribe("x").unwrap();
    bus.publish("x", 1).await.unwrap();
    assert_eq!(sub.recv().await, Ok(1));
    let start = Instant::now();
    bus.drain().await;
    bus.drain().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_after_grace_and_counts_what_each_subscriber_lost() {
    let bus = bus(4);
    let mut audit = bus
        .subscription("orders.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let mut live = bus.subscribe("orders.new").unwrap();
    for n in 0..4 {
        bus.publish("orders.new", n).await.unwrap();
    }
    assert_eq!(audit.recv().await, Ok(0));
    for n in 0..4 {
        assert_eq!(live.recv().await, Ok(n));
    }
    let start = Instant::now();
    let report = bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(!report.is_clean());
    assert_eq!(report.discarded.len(), 1, "{report:?}");
    let lost = &report.discarded[0];
    assert_eq!(lost.id, audit.id());
    assert_eq!(lost.pattern.as_str(), "orders.>");
    assert_eq!(lost.count, 3);
    assert_eq!(report.total_discarded(), 3);
    // The subscription ends at once: its next receive reports the bus closed.
    assert_eq!(audit.recv().await, Err(RecvError::Closed));
    assert_eq!(audit.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(live.recv().await, Err(RecvError::Closed));
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_clean_when_everything_is_read_within_grace() {
    let bus = bus(4);
    let mut sub = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    for n in 0..4 {
        bus.publish("x", n).await.unwrap();
    }
    let reader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut got = Vec::new();
        while let Ok(n) = sub.recv().await {
            got.push(n);
        }
        got
    });
    let start = Instant::now();
    let report = bus.shutdown(Duration::from_secs(5)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(reader.await.unwrap(), [0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn abort_returns_at_once_and_counts_buffered_overwritten_and_replayed_messages() {
    let bus: Bus<u32> = Bus::builder().capacity(2).retain_last(1).build().unwrap();
    bus.publish("a", 1).await.unwrap();
    bus.publish("b", 2).await.unwrap();
    // Holds two replayed messages, then three live ones overrun its buffer of two.
    let mut late = bus.subscription(">").replay(1).build().unwrap();
    for n in 3..6 {
        bus.publish("c", n).await.unwrap();
    }
    let mut parked = bus.subscribe("idle").unwrap();
    let parked = tokio::spawn(async move { parked.recv().await });
    tokio::task::yield_now().await;

    let start = Instant::now();
    let report = bus.abort();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(bus.is_closed());
    assert_eq!(report.discarded.len(), 1, "{report:?}");
    assert_eq!(report.discarded[0].id, late.id());
    assert_eq!(report.discarded[0].count, 2 + 3);
    assert_eq!(late.recv().await, Err(RecvError::Closed));
    assert_eq!(parked.await.unwrap(), Err(RecvError::Closed));
    // A second abort has nothing left to discard.
    assert!(bus.abort().is_clean());
    assert!(matches!(
        bus.try_publish("c", 9),
        Err(PublishError::Closed(9))
    ));
}

#[tokio::test(start_paused = true)]
async fn abort_hands_a_waiting_publisher_its_message_back() {
    let bus = bus(1);
    let _slow = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    bus.publish("x", 1).await.unwrap();
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("x", 2).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = bus.abort();
    assert_eq!(report.total_discarded(), 1);
    assert!(matches!(
        publisher.await.unwrap(),
        Err(PublishError::Closed(2))
    ));
}

#[tokio::test(start_paused = true)]
async fn abort_ends_a_drain_in_progress() {
    let bus = bus(4);
    let _unread = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    bus.publish("x", 1).await.unwrap();
    let drain = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.drain().await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!drain.is_finished());
    assert_eq!(bus.abort().total_discarded(), 1);
    drain.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_closes_without_discarding() {
    let bus = bus(4);
    let clone = bus.clone();
    let mut sub = bus.subscribe("x").unwrap();
    bus.publish("x", 1).await.unwrap();
    drop(bus);
    assert!(!sub.is_closed(), "a clone still holds the bus open");
    drop(clone);
    assert!(sub.is_closed());
    assert_eq!(sub.recv().await, Ok(1));
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
}

/// A reader racing the abort: every message is either received or counted as discarded,
/// never both, never neither.
#[test]
fn an_abort_racing_a_reader_accounts_for_every_message() {
    finishes_within(Duration::from_secs(60), "abort racing readers", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for round in 0..200u32 {
                let bus = bus(64);
                let mut sub = bus
                    .subscription("x")
                    .lag_policy(LagPolicy::Block)
                    .build()
                    .unwrap();
                for n in 0..64 {
                    bus.try_publish("x", n).unwrap();
                }
                let reader = tokio::spawn(async move {
                    let mut got = 0u64;
                    while sub.recv().await.is_ok() {
                        got += 1;
                    }
                    got
                });
                for _ in 0..round % 7 {
                    tokio::task::yield_now().await;
                }
                let report = bus.abort();
                let got = reader.await.unwrap();
                assert_eq!(got + report.total_discarded(), 64, "round {round}");
            }
        });
    });
}
