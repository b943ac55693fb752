//! Subscribers can see the subject each message was published to: wildcard subscriptions,
//! replay, and across lag reports.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskweave_bus::{Bus, LagPolicy, RecvError, TryRecvError};

#[tokio::test]
async fn a_wildcard_subscription_sees_each_subject() {
    let bus: Bus<u32> = Bus::new(8);
    let mut all = bus.subscribe("orders.>").unwrap();
    let mut created = bus.subscribe("orders.*.created").unwrap();
    bus.publish("orders.eu.created", 1).await.unwrap();
    bus.publish("orders.us.created", 2).await.unwrap();
    bus.publish("orders.eu.shipped", 3).await.unwrap();

    let first = all.recv_with_subject().await.unwrap();
    assert_eq!(
        (first.subject(), *first.message()),
        ("orders.eu.created", 1)
    );
    let second = all.try_recv_with_subject().unwrap();
    assert_eq!(second.subject(), "orders.us.created");
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(third)) = all.poll_recv_with_subject(&mut cx) else {
        panic!("a message is queued");
    };
    assert_eq!(third.clone().into_message(), 3);
    assert_eq!(third.subject(), "orders.eu.shipped");
    assert_eq!(all.try_recv_with_subject(), Err(TryRecvError::Empty));

    // The subject is stored once per publish: both subscriptions hold the same `Arc`.
    let (mine, _) = created.recv_with_subject().await.unwrap().into_parts();
    let (theirs, _) = first.into_parts();
    assert!(Arc::ptr_eq(&mine, &theirs));
    // Plain `recv` reads the same stream.
    assert_eq!(created.recv().await, Ok(2));
}

#[tokio::test]
async fn replayed_messages_carry_their_subjects_then_live_ones_follow() {
    let bus: Bus<u32> = Bus::builder().retain_last(1).build().unwrap();
    bus.publish("sensor.a", 1).await.unwrap();
    bus.publish("sensor.b", 2).await.unwrap();
    bus.publish("sensor.a", 3).await.unwrap();
    let mut board = bus.subscription("sensor.*").replay(1).build().unwrap();
    bus.publish("sensor.c", 4).await.unwrap();
    bus.close();
    let mut seen = Vec::new();
    while let Ok(envelope) = board.recv_with_subject().await {
        seen.push((envelope.subject().to_owned(), *envelope.message()));
    }
    assert_eq!(
        seen,
        [
            ("sensor.b".to_owned(), 2),
            ("sensor.a".to_owned(), 3),
            ("sensor.c".to_owned(), 4)
        ]
    );
}

#[tokio::test]
async fn the_subject_survives_a_lag_report_taken_with_plain_recv() {
    let bus: Bus<u32> = Bus::new(1);
    let mut sub = bus
        .subscription("t.*")
        .lag_policy(LagPolicy::DropNewest)
        .build()
        .unwrap();
    bus.try_publish("t.one", 1).unwrap();
    // Refused: the buffer of one is full.
    assert!(!bus.try_publish("t.two", 2).unwrap().is_complete());
    assert_eq!(sub.recv().await, Ok(1));
    bus.try_publish("t.three", 3).unwrap();
    // The refused message's gap precedes message 3, read together by this plain `recv`.
    assert_eq!(sub.recv().await, Err(RecvError::Lagged(1)));
    let next = sub.recv_with_subject().await.unwrap();
    assert_eq!((next.subject(), *next.message()), ("t.three", 3));
}
