//! Liveness: at realistic sizes on a multi-thread runtime with a consumer that pauses, every
//! item is flushed exactly once and every producer finishes; every future that can wait
//! completes under a waker that changes on every poll, without waking itself in a loop.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::settle;
use taskweave_batch::Batcher;
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};
use tokio::sync::Semaphore;

const MS: Duration = Duration::from_millis(1);
const HOUR: Duration = Duration::from_secs(3600);

type Flush = std::pin::Pin<Box<dyn Future<Output = Result<Vec<u64>, String>> + Send>>;

#[test]
fn producers_and_a_pausing_consumer_on_a_multi_thread_runtime_lose_nothing() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 2_000;
    finishes_within(HANG_LIMIT, "4 producers, a gated consumer", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // The consumer flushes only while the gate has permits: one per batch.
            let gate = Arc::new(Semaphore::new(0));
            let seen = Arc::new(Mutex::new(Vec::new()));
            let flushes = Arc::new(AtomicU64::new(0));
            let batcher = {
                let (gate, seen, flushes) = (gate.clone(), seen.clone(), flushes.clone());
                Batcher::builder()
                    .max_items(64)
                    .max_buffered_items(256)
                    .max_concurrent_flushes(2)
                    .max_delay(HOUR)
                    .build(move |batch: Vec<u64>| {
                        let (gate, seen, flushes) = (gate.clone(), seen.clone(), flushes.clone());
                        Box::pin(async move {
                            gate.acquire().await.unwrap().forget();
                            flushes.fetch_add(1, Ordering::SeqCst);
                            seen.lock().unwrap().extend_from_slice(&batch);
                            Ok(batch.iter().map(|v| v + 1).collect())
                        }) as Flush
                    })
                    .unwrap()
            };
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let batcher = batcher.clone();
                    tokio::spawn(async move {
                        let mut tickets = Vec::new();
                        for i in 0..PER_PRODUCER {
                            let v = p * PER_PRODUCER + i;
                            tickets.push((v, batcher.submit(v).await.unwrap()));
                        }
                        tickets
                    })
                })
                .collect();
            // The consumer is paused: the buffer fills up and producers wait for space.
            while batcher.metrics().buffered_items < 256 || batcher.metrics().waits_for_space == 0 {
                tokio::task::yield_now().await;
            }
            // Let it go a few batches at a time, pausing in between.
            let total = PRODUCERS * PER_PRODUCER;
            while batcher.metrics().accepted < total {
                let target = flushes.load(Ordering::SeqCst) + 3;
                gate.add_permits(3);
                while flushes.load(Ordering::SeqCst) < target && batcher.metrics().accepted < total
                {
                    tokio::task::yield_now().await;
                }
            }
            gate.add_permits(1 << 20);
            for producer in producers {
                for (v, ticket) in producer.await.unwrap() {
                    assert_eq!(ticket.await.unwrap(), v + 1);
                }
            }
            batcher.drain().await;
            let mut seen = seen.lock().unwrap().clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..total).collect::<Vec<_>>(), "each item once");
            let metrics = batcher.metrics();
            assert_eq!((metrics.accepted, metrics.items_flushed), (total, total));
            assert!(metrics.waits_for_space > 0);
        });
    });
}

/// A handler taking `per_batch` of (paused) time.
fn slow(per_batch: Duration) -> impl Fn(Vec<u64>) -> Flush + Send + Sync + 'static {
    move |batch| {
        Box::pin(async move {
            tokio::time::sleep(per_batch).await;
            Ok(batch)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn push_under_backpressure_with_fresh_wakers_waits_without_spinning() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_buffered_items(64)
        .max_delay(HOUR)
        .build(slow(10 * MS))
        .unwrap();
    for v in 0..64 {
        batcher.push(v).await.unwrap();
    }
    let (pushed, polls) = FreshWakers::new(batcher.push(64)).await;
    pushed.unwrap();
    assert!(polls <= 3, "{polls} polls to wait out one flush");
    let ((), polls) = FreshWakers::new(async {
        for v in 65..200 {
            drop(batcher.submit(v).await.unwrap());
        }
    })
    .await;
    // Two more waits for a flush of 64; a few polls each.
    assert!(polls <= 10, "{polls} polls");
}

#[tokio::test(start_paused = true)]
async fn tickets_with_fresh_wakers_resolve_without_spinning() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(5 * MS)
        .build(slow(10 * MS))
        .unwrap();
    let ticket = batcher.submit(7).await.unwrap();
    let (result, polls) = FreshWakers::new(ticket).await;
    assert_eq!(result.unwrap(), 7);
    assert!(polls <= 3, "{polls} polls");
}

#[tokio::test(start_paused = true)]
async fn shutdowns_with_fresh_wakers_finish_without_spinning() {
    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .build(slow(10 * MS))
        .unwrap();
    for v in 0..200 {
        batcher.push(v).await.unwrap();
    }
    let drained = {
        let batcher = batcher.clone();
        tokio::spawn(async move { FreshWakers::new(batcher.drain()).await.1 })
    };
    let ((), polls) = FreshWakers::new(batcher.drain()).await;
    assert!(polls <= 3, "{polls} polls for a drain of four flushes");
    assert!(drained.await.unwrap() <= 3);

    let batcher = Batcher::builder()
        .max_items(64)
        .max_delay(HOUR)
        .build(slow(HOUR))
        .unwrap();
    for v in 0..200 {
        batcher.push(v).await.unwrap();
    }
    settle().await;
    let (report, polls) = FreshWakers::new(batcher.shutdown(10 * MS)).await;
    assert_eq!(report.aborted_batches, 1);
    assert_eq!(report.unflushed.len(), 200 - 64);
    assert!(polls <= 4, "{polls} polls for a shutdown that times out");
}
