//! The buffer bound pushes back; a running flush does not, while space remains.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{now_or_never, settle};
use taskweave_batch::{Batcher, TrySubmitError};
use tokio::sync::Semaphore;

const HOUR: Duration = Duration::from_secs(3600);

type Flush = std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A handler that blocks until the test adds a permit per batch.
fn gated() -> (
    Arc<Semaphore>,
    impl Fn(Vec<u32>) -> Flush + Send + Sync + 'static,
) {
    let gate = Arc::new(Semaphore::new(0));
    let handler_gate = Arc::clone(&gate);
    let handler = move |_batch: Vec<u32>| {
        let gate = Arc::clone(&handler_gate);
        Box::pin(async move {
            gate.acquire().await.unwrap().forget();
            Ok(())
        }) as Flush
    };
    (gate, handler)
}

#[tokio::test(start_paused = true)]
async fn producers_are_not_blocked_by_a_running_flush_while_space_remains() {
    let (gate, handler) = gated();
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(HOUR)
        .max_buffered_items(6)
        .build(handler)
        .unwrap();
    batcher.push(0).await.unwrap();
    batcher.push(1).await.unwrap();
    settle().await;
    assert_eq!(batcher.metrics().flushing, 1, "the first batch is flushing");
    // The flush is stuck, yet four more items go in without waiting.
    for i in 2..6 {
        assert_eq!(now_or_never(batcher.push(i)), Some(Ok(())));
    }
    // The seventh does not fit: try_push hands it back, push waits.
    assert_eq!(batcher.try_push(6), Err(TrySubmitError::Full(6)));
    assert!(matches!(
        batcher.try_submit(6),
        Err(TrySubmitError::Full(6))
    ));
    let waiting = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.push(6).await }
    });
    settle().await;
    assert!(!waiting.is_finished());
    assert_eq!(batcher.metrics().rejected_full, 2);

    gate.add_permits(1);
    settle().await;
    assert!(waiting.is_finished());
    assert_eq!(waiting.await.unwrap(), Ok(()));
    gate.add_permits(100);
    batcher.drain().await;
    assert_eq!(batcher.metrics().items_flushed, 7);
}

#[tokio::test(start_paused = true)]
async fn the_weight_bound_pushes_back_but_admits_an_oversized_item_into_an_empty_buffer() {
    let (gate, handler) = gated();
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(HOUR)
        .max_weight(10, |w: &u32| u64::from(*w))
        .max_buffered_weight(15)
        .build(handler)
        .unwrap();
    batcher.push(10).await.unwrap(); // a full batch, now flushing (stuck)
    batcher.push(4).await.unwrap();
    assert_eq!(batcher.try_push(2), Err(TrySubmitError::Full(2)));
    assert_eq!(batcher.try_push(1), Ok(()));
    assert_eq!(batcher.metrics().buffered_weight, 15);

    gate.add_permits(1);
    batcher.flush();
    settle().await;
    gate.add_permits(1);
    settle().await;
    assert_eq!(batcher.metrics().buffered_items, 0);
    // Heavier than the whole buffer bound, but the buffer is empty: accepted, flushed alone.
    assert_eq!(batcher.try_push(40), Ok(()));
    assert_eq!(batcher.try_push(1), Err(TrySubmitError::Full(1)));
    gate.add_permits(1);
    settle().await;
    assert_eq!(batcher.try_push(1), Ok(()));
    gate.add_permits(100);
    batcher.drain().await;
    assert_eq!(batcher.metrics().items_flushed, 5);
}

#[tokio::test(start_paused = true)]
async fn an_item_that_does_not_fit_closes_the_open_batch_instead_of_waiting_forever() {
    let log = common::Log::new();
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(Duration::MAX) // never closed by age: only the weight can close the batch
        .max_weight(10, |w: &u32| u64::from(*w))
        .max_buffered_weight(10)
        .build(log.handler())
        .unwrap();
    batcher.push(6).await.unwrap();
    // 6 + 5 exceeds both the batch's and the buffer's weight: the open batch must be closed so
    // that its flush frees the space, rather than the producer waiting for a delay that never
    // comes.
    let pushed = tokio::time::timeout(HOUR, batcher.push(5)).await;
    assert_eq!(
        pushed,
        Ok(Ok(())),
        "the producer waited for space that never freed"
    );
    // The same through try_push: refused, but the open batch is on its way out.
    batcher.push(1).await.unwrap(); // open batch [5, 1], weight 6
    assert_eq!(batcher.try_push(7), Err(TrySubmitError::Full(7)));
    settle().await;
    assert_eq!(batcher.try_push(7), Ok(()));
    batcher.drain().await;
    assert_eq!(log.batches(), vec![vec![6], vec![5, 1], vec![7]]);
    let triggers = batcher.metrics().triggers;
    assert_eq!((triggers.weight, triggers.close), (2, 1));
}
