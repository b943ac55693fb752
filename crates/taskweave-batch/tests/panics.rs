//! A panic in user code — the handler, its future, or its `FlushOutput` — fails only its own
//! batch with a typed error; the flush task survives and later batches flush as usual.

use std::time::Duration;

use taskweave_batch::{BatchError, Batcher, FlushOutput};

const HOUR: Duration = Duration::from_secs(3600);

/// Per-item results whose conversion panics when asked to (`Explodes::Now`) or whose iterator
/// panics after `n` results (`Explodes::After(n)`).
enum Explodes {
    Never(Vec<u32>),
    Now,
    After(Vec<u32>, usize),
}

impl FlushOutput for Explodes {
    type Item = u32;
    type IntoIter = Box<dyn Iterator<Item = u32> + Send>;

    fn into_item_results(self) -> Self::IntoIter {
        match self {
            Explodes::Never(values) => Box::new(values.into_iter()),
            Explodes::Now => panic!("FlushOutput::into_item_results exploded"),
            Explodes::After(values, n) => {
                Box::new(values.into_iter().enumerate().map(move |(i, v)| {
                    if i < n {
                        v
                    } else {
                        panic!("result {i} exploded")
                    }
                }))
            }
        }
    }
}

/// Doubles each item; a batch holding 1000 makes its output panic at once, a batch holding
/// 2000 makes it panic after two results.
fn handler(batch: Vec<u32>) -> std::future::Ready<Result<Explodes, String>> {
    let doubled: Vec<u32> = batch.iter().map(|v| v * 2).collect();
    std::future::ready(Ok(if batch.contains(&1000) {
        Explodes::Now
    } else if batch.contains(&2000) {
        Explodes::After(doubled, 2)
    } else {
        Explodes::Never(doubled)
    }))
}

#[tokio::test(start_paused = true)]
async fn a_panicking_flush_output_fails_its_batch_and_the_batcher_goes_on() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .build(handler)
        .unwrap();
    let mut doomed = Vec::new();
    for v in [1, 1000, 3] {
        doomed.push(batcher.submit(v).await.unwrap());
    }
    batcher.flush();
    for ticket in doomed {
        match ticket.await {
            Err(BatchError::FlushPanicked) => {}
            other => panic!("expected FlushPanicked, got {other:?}"),
        }
    }
    // The flush task survived: later batches are accepted, flushed and answered.
    let mut later = Vec::new();
    for v in 0..64 {
        later.push(batcher.submit(v).await.expect("the batcher is still open"));
    }
    for (v, ticket) in (0..64).zip(later) {
        assert_eq!(ticket.await.unwrap(), v * 2);
    }
    let metrics = batcher.metrics();
    assert_eq!(metrics.batches_panicked, 1);
    assert_eq!(metrics.batches_succeeded, 1);
    assert_eq!(metrics.items_flushed, 67);
    batcher.drain().await;
}

#[tokio::test(start_paused = true)]
async fn results_delivered_before_the_output_panicked_are_kept() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .build(handler)
        .unwrap();
    let mut tickets = Vec::new();
    for v in [1, 2, 2000, 4] {
        tickets.push(batcher.submit(v).await.unwrap());
    }
    batcher.flush();
    let mut results = Vec::new();
    for ticket in tickets {
        results.push(ticket.await);
    }
    assert!(matches!(results[0], Ok(2)));
    assert!(matches!(results[1], Ok(4)));
    assert!(matches!(results[2], Err(BatchError::FlushPanicked)));
    assert!(matches!(results[3], Err(BatchError::FlushPanicked)));
    let after = batcher.submit(5).await.unwrap();
    batcher.flush();
    assert_eq!(after.await.unwrap(), 10);
    assert_eq!(batcher.metrics().batches_panicked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panics_sync_and_async_fail_their_batches_only() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .max_concurrent_flushes(2)
        .build(|batch: Vec<u32>| {
            assert!(!batch.contains(&1), "the handler itself panics on 1");
            async move {
                tokio::task::yield_now().await;
                assert!(!batch.contains(&2), "the handler's future panics on 2");
                Ok::<_, String>(batch)
            }
        })
        .unwrap();
    let sync_panic = batcher.submit(1).await.unwrap();
    batcher.flush();
    let async_panic = batcher.submit(2).await.unwrap();
    batcher.flush();
    let fine = batcher.submit(3).await.unwrap();
    batcher.flush();
    assert!(matches!(sync_panic.await, Err(BatchError::FlushPanicked)));
    assert!(matches!(async_panic.await, Err(BatchError::FlushPanicked)));
    assert_eq!(fine.await.unwrap(), 3);
    batcher.drain().await;
    let metrics = batcher.metrics();
    assert_eq!(
        (metrics.batches_panicked, metrics.batches_succeeded),
        (2, 1)
    );
}
