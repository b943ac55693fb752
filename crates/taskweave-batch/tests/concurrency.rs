//! At most `max_concurrent_flushes` batches are flushed at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Log;
use taskweave_batch::Batcher;

async fn peak_concurrency(limit: usize) -> (usize, Vec<Vec<u32>>) {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(2)
        .max_buffered_items(1000)
        .max_concurrent_flushes(limit)
        .build({
            let (running, peak, log) = (Arc::clone(&running), Arc::clone(&peak), log.clone());
            move |batch: Vec<u32>| {
                let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
                log.record(&batch);
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, String>(())
                }
            }
        })
        .unwrap();
    for i in 0..40 {
        batcher.push(i).await.unwrap();
    }
    tokio::task::yield_now().await;
    assert!(batcher.metrics().flushing <= limit);
    batcher.drain().await;
    (peak.load(Ordering::SeqCst), log.batches())
}

#[tokio::test(start_paused = true)]
async fn the_concurrent_flush_limit_holds() {
    for limit in [1, 2, 3] {
        let (peak, batches) = peak_concurrency(limit).await;
        assert_eq!(peak, limit, "limit {limit}");
        // Batches are handed out in order even when several flush at once.
        let flat: Vec<u32> = batches.into_iter().flatten().collect();
        assert_eq!(flat, (0..40).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_holds_on_a_multi_threaded_runtime() {
    let (peak, batches) = peak_concurrency(2).await;
    assert!(peak <= 2, "peak {peak}");
    let mut flat: Vec<u32> = batches.into_iter().flatten().collect();
    flat.sort_unstable();
    assert_eq!(flat, (0..40).collect::<Vec<_>>());
}
