//! `Batcher::sink()`: a `futures::Sink` that feeds the batcher with backpressure, so that
//! `stream.forward(batcher.sink())` submits every item exactly once.

mod common;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::{Log, settle};
use futures::{Sink, SinkExt as _, StreamExt as _};
use taskweave_batch::{Batcher, TrySubmitError};
use taskweave_testkit::FreshWakers;
use tokio::sync::Semaphore;

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn forwarding_a_stream_flushes_every_item_exactly_once_with_backpressure() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(16)
        .max_buffered_items(32)
        .max_delay(5 * MS)
        .build({
            let log = log.clone();
            move |batch: Vec<u32>| {
                let log = log.clone();
                async move {
                    tokio::time::sleep(MS).await; // slower than the producer
                    log.record(&batch);
                    Ok::<_, String>(())
                }
            }
        })
        .unwrap();
    futures::stream::iter(0..10_000u32)
        .map(Ok)
        .forward(batcher.sink())
        .await
        .unwrap();
    // `poll_close` closed the batcher and waited for it to drain.
    assert!(batcher.is_closed());
    let batches = log.batches();
    assert!(batches.iter().all(|batch| batch.len() <= 16));
    let flushed: Vec<u32> = batches.into_iter().flatten().collect();
    assert_eq!(
        flushed,
        (0..10_000).collect::<Vec<_>>(),
        "each item once, in order"
    );
    let metrics = batcher.metrics();
    assert_eq!((metrics.accepted, metrics.items_flushed), (10_000, 10_000));
    assert!(
        metrics.waits_for_space > 0,
        "the buffer bound held the stream back"
    );
    assert_eq!((metrics.buffered_items, metrics.sink_items_dropped), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn flush_means_handed_to_the_batcher_not_flushed_by_the_handler() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(10)
        .max_delay(HOUR)
        .build(log.handler())
        .unwrap();
    let mut sink = batcher.sink();
    sink.send(1u8).await.unwrap(); // poll_ready, start_send, poll_flush
    settle().await;
    assert_eq!(batcher.metrics().buffered_items, 1);
    assert!(log.batches().is_empty(), "waits for its delay");
    assert!(!batcher.is_closed());
    sink.close().await.unwrap();
    assert_eq!(log.batches(), vec![vec![1]]);
}

#[tokio::test(start_paused = true)]
async fn a_full_buffer_holds_the_sink_back_until_a_flush_frees_space() {
    let gate = Arc::new(Semaphore::new(0));
    let batcher = Batcher::builder()
        .max_items(2)
        .max_buffered_items(2)
        .max_delay(HOUR)
        .build({
            let gate = Arc::clone(&gate);
            move |batch: Vec<u32>| {
                let gate = Arc::clone(&gate);
                async move {
                    gate.acquire().await.unwrap().forget();
                    Ok::<_, String>(batch)
                }
            }
        })
        .unwrap();
    let mut sink = batcher.sink();
    sink.send(0).await.unwrap();
    sink.send(1).await.unwrap();
    settle().await;
    // The third item is taken by the sink but cannot be handed over: the sink holds it alone.
    let sending = tokio::spawn(async move {
        sink.send(2).await.unwrap();
        sink
    });
    settle().await;
    assert!(!sending.is_finished());
    let metrics = batcher.metrics();
    assert_eq!((metrics.buffered_items, metrics.accepted), (2, 2));
    gate.add_permits(1);
    let sink = sending.await.unwrap();
    assert_eq!(batcher.metrics().accepted, 3);
    gate.add_permits(10);
    drop(sink);
    batcher.drain().await;
    assert_eq!(batcher.metrics().items_flushed, 3);
}

#[tokio::test(start_paused = true)]
async fn a_closed_batcher_hands_the_item_back_through_the_sink() {
    let batcher = Batcher::builder()
        .build(|_: Vec<u8>| async { Ok::<_, String>(()) })
        .unwrap();
    let mut sink = batcher.sink();
    batcher.close();
    assert_eq!(sink.send(7).await, Err(TrySubmitError::Closed(7)));
}

#[tokio::test(start_paused = true)]
async fn an_item_the_sink_could_not_hand_over_is_counted_when_the_sink_is_dropped() {
    let batcher = Batcher::builder()
        .max_items(1)
        .max_buffered_items(1)
        .build(|_: Vec<u8>| std::future::pending::<Result<(), String>>())
        .unwrap();
    batcher.push(0).await.unwrap();
    let mut sink = batcher.sink();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        Pin::new(&mut sink).poll_ready(&mut cx),
        Poll::Ready(Ok(()))
    ));
    // Full: the sink keeps the item, and is not ready for another.
    Pin::new(&mut sink).start_send(1).unwrap();
    assert!(Pin::new(&mut sink).poll_ready(&mut cx).is_pending());
    // Sending without readiness is refused with the item, not a panic.
    assert_eq!(
        Pin::new(&mut sink).start_send(2),
        Err(TrySubmitError::Full(2))
    );
    drop(sink);
    assert_eq!(batcher.metrics().sink_items_dropped, 1);
    drop(batcher.abort());
}

#[tokio::test(start_paused = true)]
async fn a_sink_waiting_for_space_with_fresh_wakers_does_not_spin() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_buffered_items(64)
        .max_delay(HOUR)
        .build(|batch: Vec<u32>| async move {
            tokio::time::sleep(10 * MS).await;
            Ok::<_, String>(batch)
        })
        .unwrap();
    let mut sink = batcher.sink();
    let ((), polls) = FreshWakers::new(async {
        for v in 0..200 {
            sink.feed(v).await.unwrap();
        }
        sink.close().await.unwrap();
    })
    .await;
    // Three waits for a flush, and the final drain: a few polls each.
    assert!(polls <= 8, "{polls} polls");
    assert_eq!(batcher.metrics().items_flushed, 200);
}
