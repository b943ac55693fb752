//! `Bus::sink`: a `futures` `Sink` with the backpressure of `publish`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt, stream};
use taskweave_bus::{Bus, LagPolicy, PublishError, RecvError};
use taskweave_testkit::finishes_within;

#[tokio::test(start_paused = true)]
async fn forwarding_a_stream_waits_for_a_pausing_blocking_subscriber_and_loses_nothing() {
    let bus: Bus<u32> = Bus::new(2);
    let mut audit = bus
        .subscription("orders.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(n) = audit.recv().await {
            got.push(n);
            if n % 10 == 0 {
                // The subscriber pauses; the buffer of 2 fills and the sink must wait.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        got
    });
    let start = tokio::time::Instant::now();
    stream::iter(0..100u32)
        .map(Ok)
        .forward(bus.sink("orders.new"))
        .await
        .unwrap();
    // The sink waited for the pauses: backpressure, not a queue.
    assert!(start.elapsed() >= Duration::from_millis(900));
    // Closing the sink did not close the bus.
    assert!(!bus.is_closed());
    bus.publish("orders.new", 100).await.unwrap();
    bus.close();
    let got = reader.await.unwrap();
    assert_eq!(got, (0..=100).collect::<Vec<_>>());
    let metrics = bus.metrics();
    assert_eq!((metrics.published, metrics.refused), (101, 0));
}

#[tokio::test]
async fn a_closed_bus_or_sink_hands_the_item_back() {
    let bus: Bus<u32> = Bus::new(4);
    let mut sub = bus.subscribe("x").unwrap();
    let mut sink = bus.sink("x");
    assert_eq!(sink.subject(), "x");
    sink.send(1).await.unwrap();
    sink.close().await.unwrap();
    match sink.send(2).await {
        Err(PublishError::Closed(2)) => {}
        other => panic!("a closed sink refuses: {other:?}"),
    }
    let mut other = bus.sink("x");
    bus.close();
    match other.send(3).await {
        Err(e) => assert_eq!(e.into_inner(), 3),
        Ok(()) => panic!("a closed bus refuses"),
    }
    assert_eq!(sub.recv().await, Ok(1));
    assert_eq!(sub.recv().await, Err(RecvError::Closed));
}

#[tokio::test]
async fn an_invalid_subject_is_a_typed_error_with_the_item() {
    let bus: Bus<u32> = Bus::new(4);
    let mut sink = bus.sink("orders.*");
    match sink.send(7).await {
        Err(PublishError::InvalidSubject(7, _)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sink_waiting_for_room_is_woken_across_threads() {
    finishes_within(Duration::from_secs(30), "sink across threads", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let bus: Bus<u32> = Bus::new(1);
            let mut sub = bus
                .subscription("x")
                .lag_policy(LagPolicy::Block)
                .build()
                .unwrap();
            let reader = tokio::spawn(async move {
                let mut next = 0;
                while let Ok(n) = sub.recv().await {
                    assert_eq!(n, next);
                    next += 1;
                }
                next
            });
            let sink = bus.sink("x");
            stream::iter(0..5_000u32)
                .map(Ok)
                .forward(sink)
                .await
                .unwrap();
            bus.close();
            assert_eq!(reader.await.unwrap(), 5_000);
        });
    });
}
