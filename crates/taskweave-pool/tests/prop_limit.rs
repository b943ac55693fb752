//! The concurrency limit is never exceeded, whatever the job durations, and no job is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use proptest::prelude::*;
use taskweave_pool::Pool;

/// Counts jobs running at once and remembers the peak.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    async fn run(&self, ms: u64) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pool_never_exceeds_its_limit(
        limit in 1usize..8,
        capacity in 1usize..8,
        durations in proptest::collection::vec(0u64..50, 1..60),
    ) {
        let (peak, outputs, n) = paused_runtime().block_on(async {
            let pool = Pool::builder().max_concurrency(limit).queue_capacity(capacity).build().unwrap();
            let gauge = Arc::new(Gauge::default());
            let mut handles = Vec::new();
            for (i, ms) in durations.iter().copied().enumerate() {
                let gauge = Arc::clone(&gauge);
                handles.push(pool.submit(async move { gauge.run(ms).await; i }).await.unwrap());
            }
            let mut outputs = Vec::new();
            for h in handles {
                outputs.push(h.await.unwrap());
            }
            pool.drain().await;
            (gauge.peak.load(Ordering::SeqCst), outputs, durations.len())
        });
        prop_assert!(peak <= limit, "peak {} > limit {}", peak, limit);
        prop_assert_eq!(outputs, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn fixed_pool_never_exceeds_its_limit(
        limit in 1usize..8,
        workers in 1usize..4,
        durations in proptest::collection::vec(0u64..50, 1..60),
    ) {
        let workers = workers.min(limit);
        let (peak, outputs, n) = paused_runtime().block_on(async {
            let gauge = Arc::new(Gauge::default());
            let g = Arc::clone(&gauge);
            let pool = Pool::builder()
                .max_concurrency(limit)
                .queue_capacity(4)
                .fixed_workers(workers)
                .build_fixed(move |(i, ms): (usize, u64)| {
                    let g = Arc::clone(&g);
                    async move { g.run(ms).await; i }
                })
                .unwrap();
            let inputs = futures_util::stream::iter(durations.clone().into_iter().enumerate());
            let outputs: Vec<usize> = pool.process(inputs).map(|r| r.unwrap()).collect().await;
            pool.drain().await;
            (gauge.peak.load(Ordering::SeqCst), outputs, durations.len())
        });
        prop_assert!(peak <= limit, "peak {} > limit {}", peak, limit);
        prop_assert_eq!(outputs, (0..n).collect::<Vec<_>>());
    }
}
