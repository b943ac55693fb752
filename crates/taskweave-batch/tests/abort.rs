//! `abort()`: the hard stop. Intake stops, flushes in progress are cancelled, what was queued
//! is handed back at once; every ticket resolves with an error, and the losses are counted.

mod common;

use std::time::Duration;

use common::settle;
use taskweave_batch::{BatchError, Batcher, Closed, TrySubmitError};
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);

type Flush = std::pin::Pin<Box<dyn Future<Output = Result<Vec<u32>, String>> + Send>>;

fn slow(per_batch: Duration) -> impl Fn(Vec<u32>) -> Flush + Send + Sync + 'static {
    move |batch| {
        Box::pin(async move {
            tokio::time::sleep(per_batch).await;
            Ok(batch)
        }) as Flush
    }
}

#[tokio::test(start_paused = true)]
async fn abort_cancels_the_flush_in_progress_and_hands_back_the_queued_items() {
    let batcher = Batcher::builder()
        .max_items(2)
        .max_buffered_items(5)
        .max_delay(HOUR)
        .build(slow(HOUR))
        .unwrap();
    // [0, 1] flushing, [2, 3] waiting for the slot, [4] filling.
    let mut tickets = Vec::new();
    for v in 0..5 {
        tickets.push(batcher.submit(v).await.unwrap());
    }
    settle().await;
    let waiting = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit(5).await.map(drop) })
    };
    settle().await;

    let start = Instant::now();
    let handed_back = batcher.abort();
    assert_eq!(Instant::now(), start, "abort returns at once");
    assert_eq!(handed_back, vec![2, 3, 4]);
    assert!(batcher.is_closed());
    assert_eq!(waiting.await.unwrap(), Err(Closed::new(5)));
    assert_eq!(batcher.try_push(6), Err(TrySubmitError::Closed(6)));

    let mut results = Vec::new();
    for ticket in tickets {
        results.push(ticket.await);
    }
    assert_eq!(
        results,
        vec![
            Err(BatchError::Aborted),
            Err(BatchError::Aborted),
            Err(BatchError::Unflushed),
            Err(BatchError::Unflushed),
            Err(BatchError::Unflushed),
        ]
    );
    batcher.drain().await;
    assert_eq!(Instant::now(), start, "nothing was left to wait for");
    let metrics = batcher.metrics();
    assert_eq!((metrics.batches_aborted, metrics.items_aborted), (1, 2));
    assert_eq!(metrics.items_unflushed, 3);
    assert_eq!((metrics.items_flushed, metrics.buffered_items), (0, 0));
    assert_eq!(
        metrics.items_flushed + metrics.items_aborted + metrics.items_unflushed,
        metrics.accepted
    );
    // A later shutdown has nothing left to hand back, and says that the stop was not clean.
    let report = batcher.shutdown(HOUR).await;
    assert!(report.unflushed.is_empty());
    assert_eq!((report.aborted_batches, report.unflushed_items), (1, 3));
    assert!(!report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn abort_on_an_idle_batcher_hands_back_nothing_and_is_idempotent() {
    let batcher = Batcher::builder().build(slow(HOUR)).unwrap();
    assert!(batcher.abort().is_empty());
    assert!(batcher.abort().is_empty());
    assert!(batcher.is_closed());
    batcher.drain().await;
    let report = batcher.shutdown(Duration::ZERO).await;
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test(start_paused = true)]
async fn abort_during_a_drain_ends_the_drain() {
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(HOUR)
        .build(slow(HOUR))
        .unwrap();
    for v in 0..3 {
        batcher.push(v).await.unwrap();
    }
    let drain = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.drain().await })
    };
    settle().await;
    assert!(!drain.is_finished(), "the flush takes an hour");
    assert_eq!(batcher.abort(), vec![2]);
    drain.await.unwrap();
    assert_eq!(batcher.metrics().batches_aborted, 1);
}
