//! `shutdown(grace)`: flushes what it can within the grace period, then cancels the
//! flushes in progress and hands back what was never flushed; every ticket resolves.

mod common;

use std::time::Duration;

use common::settle;
use taskweave_batch::{BatchError, Batcher, Closed};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

type Flush = std::pin::Pin<Box<dyn Future<Output = Result<Vec<u32>, String>> + Send>>;

/// Echoes each batch after `per_batch` of (paused) time.
fn slow(per_batch: Duration) -> impl Fn(Vec<u32>) -> Flush + Send + Sync + 'static {
    move |batch| {
        Box::pin(async move {
            tokio::time::sleep(per_batch).await;
            Ok(batch)
        }) as Flush
    }
}

#[tokio::test(start_paused = true)]
async fn within_the_grace_period_it_is_a_clean_shutdown() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .build(slow(10 * MS))
        .unwrap();
    let mut tickets = Vec::new();
    for v in 0..200 {
        tickets.push(batcher.submit(v).await.unwrap());
    }
    let start = Instant::now();
    let report = batcher.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_clean(), "{report:?}");
    // Four batches (three full, the tail) one after another.
    assert_eq!(start.elapsed(), 40 * MS);
    for (v, ticket) in (0..200).zip(tickets) {
        assert_eq!(ticket.await.unwrap(), v);
    }
    assert_eq!(batcher.metrics().items_flushed, 200);
}

#[tokio::test(start_paused = true)]
async fn past_the_grace_period_flushes_are_aborted_and_the_rest_handed_back() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_buffered_items(256)
        .max_delay(HOUR)
        .build(slow(100 * MS))
        .unwrap();
    let mut tickets = Vec::new();
    for v in 0..200 {
        tickets.push(batcher.submit(v).await.unwrap());
    }
    settle().await;
    let start = Instant::now();
    // 250 ms: batches 0..64 and 64..128 flush, 128..192 is cut short, the tail never starts.
    let report = batcher.shutdown(250 * MS).await;
    assert_eq!(
        start.elapsed(),
        250 * MS,
        "the grace period bounds the wait"
    );
    assert!(!report.is_clean());
    assert_eq!((report.aborted_batches, report.aborted_items), (1, 64));
    assert_eq!(report.unflushed, (192..200).collect::<Vec<_>>());
    let mut results = Vec::new();
    for ticket in tickets {
        results.push(ticket.await);
    }
    for (v, result) in (0..200u32).zip(&results) {
        match (v, result) {
            (0..128, Ok(echo)) => assert_eq!(*echo, v),
            (128..192, Err(BatchError::Aborted)) | (192.., Err(BatchError::Unflushed)) => {}
            (v, other) => panic!("item {v}: unexpected {other:?}"),
        }
    }
    let metrics = batcher.metrics();
    assert_eq!(metrics.items_flushed, 128);
    assert_eq!((metrics.batches_aborted, metrics.items_aborted), (1, 64));
    assert_eq!(metrics.items_unflushed, 8);
    assert_eq!(metrics.buffered_items, 0);
    assert_eq!(metrics.flushing, 0);
    // Accounted for, every one: flushed + aborted + handed back = accepted.
    assert_eq!(
        metrics.items_flushed + metrics.items_aborted + metrics.items_unflushed,
        metrics.accepted
    );
    // Closed for good, and a second call has nothing more to hand back.
    assert_eq!(batcher.push(7).await, Err(Closed::new(7)));
    let again = batcher.shutdown(HOUR).await;
    assert!(again.unflushed.is_empty());
}

#[tokio::test(start_paused = true)]
async fn producers_waiting_for_space_get_their_item_back() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_buffered_items(64)
        .max_delay(HOUR)
        .build(slow(HOUR))
        .unwrap();
    for v in 0..64 {
        batcher.push(v).await.unwrap();
    }
    let waiting = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit(64).await.map(drop) })
    };
    settle().await;
    assert_eq!(batcher.metrics().waits_for_space, 1);
    let report = batcher.shutdown(10 * MS).await;
    assert_eq!(waiting.await.unwrap(), Err(Closed::new(64)));
    assert_eq!((report.aborted_batches, report.aborted_items), (1, 64));
    assert!(report.unflushed.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_flush_that_is_ready_when_the_grace_period_ends_is_delivered() {
    // Grace and flush end at the same instant: the result is there, so it is kept.
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .build(slow(50 * MS))
        .unwrap();
    let ticket = batcher.submit(1).await.unwrap();
    batcher.flush();
    settle().await;
    let report = batcher.shutdown(50 * MS).await;
    assert!(report.unflushed.is_empty());
    match (report.aborted_batches, ticket.await) {
        (0, Ok(1)) | (1, Err(BatchError::Aborted)) => {}
        (aborted, result) => panic!("aborted {aborted}, ticket {result:?}"),
    }
}
