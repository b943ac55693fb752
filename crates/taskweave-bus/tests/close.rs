//! Closing: subscribers drain what is queued, then see `Closed`; publishers get their
//! message back.

use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy, PublishError, RecvError, SubscribeError};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn close_lets_subscribers_drain_then_reports_closed() {
    let bus: Bus<u32> = Bus::new(8);
    let mut sub = bus.subscribe("x").unwrap();
    bus.publish("x", 1).await.unwrap();
    bus.publish("x", 2).await.unwrap();
    bus.close();
    assert!(bus.is_closed());
    assert!(sub.is_closed());
    assert_eq!(sub.recv().await, Ok(1));
    assert_eq!(sub.recv().await, Ok(2));
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
    match bus.publish("x", 3).await {
        Err(PublishError::Closed(3)) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        bus.try_publish("x", 4),
        Err(PublishError::Closed(4))
    ));
    assert_eq!(bus.subscribe("x").unwrap_err(), SubscribeError::Closed);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_token_wakes_parked_subscribers() {
    let token = CancellationToken::new();
    let bus: Bus<u32> = Bus::builder()
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let mut sub = bus.subscribe("x").unwrap();
    let waiting = tokio::spawn(async move {
        let first = sub.recv().await;
        let second = sub.recv().await;
        (first, second)
    });
    bus.publish("x", 7).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    token.cancel();
    assert_eq!(waiting.await.unwrap(), (Ok(7), Err(RecvError::Closed)));
    assert!(bus.is_closed());
    assert!(matches!(
        bus.publish("x", 8).await,
        Err(PublishError::Closed(8))
    ));
}

#[tokio::test]
async fn an_already_cancelled_token_gives_a_closed_bus() {
    let token = CancellationToken::new();
    token.cancel();
    let bus: Bus<u32> = Bus::builder().cancellation_token(token).build().unwrap();
    assert!(bus.is_closed());
}

#[tokio::test(start_paused = true)]
async fn closing_releases_a_publisher_waiting_for_room() {
    let bus: Bus<u32> = Bus::new(1);
    let _sub = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    bus.publish("x", 1).await.unwrap();
    let blocked = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("x", 2).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!blocked.is_finished());
    bus.close();
    assert!(matches!(
        blocked.await.unwrap(),
        Err(PublishError::Closed(2))
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_slow_subscription_releases_the_publisher() {
    let bus: Bus<u32> = Bus::new(1);
    let sub = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    bus.publish("x", 1).await.unwrap();
    let blocked = {
        let bus = bus.clone();
        tokio::spawn(async move { bus.publish("x", 2).await.map(|d| d.delivered()) })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!blocked.is_finished());
    drop(sub);
    assert_eq!(blocked.await.unwrap().unwrap(), 0);
}

#[tokio::test]
async fn dropping_the_last_bus_handle_closes_it() {
    let bus: Bus<u32> = Bus::new(4);
    let other = bus.clone();
    let mut sub = bus.subscribe("x").unwrap();
    drop(bus);
    other.publish("x", 1).await.unwrap();
    assert!(!sub.is_closed());
    drop(other);
    assert_eq!(sub.recv().await, Ok(1));
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
}
