//! A keyed stage keeps per-key order and never lets a slow key hold back the others.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use proptest::prelude::*;
use taskweave_pipeline::{Flow, StageConfig};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_slow_key_holds_back_only_its_own_items() {
    // "slow" items take 1 s each; the 20 "fast" items 1 ms each; two at a time.
    let items: Vec<(&str, u32)> = (0..3)
        .map(|i| ("slow", i))
        .chain((0..20).map(|i| ("fast", i)))
        .collect();
    let started = Instant::now();
    let pipeline = Flow::from_iter(items)
        .map_keyed(
            StageConfig::new("keyed").concurrency(2).buffer(32),
            |(key, _)| *key,
            move |(key, i)| async move {
                let ms = if key == "slow" { 1_000 } else { 1 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Infallible>((key, i, started.elapsed()))
            },
        )
        .build()
        .unwrap();
    let mut out = Vec::new();
    pipeline.run(|x| out.push(x)).await.unwrap();
    let fast: Vec<_> = out.iter().filter(|(k, ..)| *k == "fast").collect();
    let slow: Vec<_> = out.iter().filter(|(k, ..)| *k == "slow").collect();
    assert_eq!(
        fast.iter().map(|(_, i, _)| *i).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(
        slow.iter().map(|(_, i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    // All fast items were done in 20 ms, while the slow key took its 3 s, one at a time.
    assert_eq!(fast.last().unwrap().2, Duration::from_millis(20));
    assert_eq!(slow.last().unwrap().2, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn abort_counts_the_items_waiting_for_their_key() {
    let mut pipeline = Flow::from_iter((0..100u32).map(|i| (i % 3, i)))
        .map_keyed(
            StageConfig::new("keyed").concurrency(2).buffer(16),
            |(k, _)| *k,
            |(_, i)| async move {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, Infallible>(i)
            },
        )
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    pipeline.abort();
    while pipeline.recv().await.is_some() {}
    let m = pipeline.metrics();
    assert!(m.stages[1].dropped > 2, "{m:?}");
    assert!(m.reconciles(), "{m:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn per_key_order_holds_under_random_delays(
        items in proptest::collection::vec((0u8..5, 0u64..20), 1..150),
        concurrency in 1usize..6,
        buffer in 1usize..12,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let n = items.len();
        let out = runtime.block_on(async move {
            let pipeline = Flow::from_iter(items.into_iter().enumerate())
                .map_keyed(
                    StageConfig::new("keyed").concurrency(concurrency).buffer(buffer),
                    |(_, (key, _))| *key,
                    |(i, (key, ms))| async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok::<_, Infallible>((key, i))
                    },
                )
                .build()
                .unwrap();
            let mut out = Vec::new();
            pipeline.run(|x| out.push(x)).await.unwrap();
            out
        });
        prop_assert_eq!(out.len(), n);
        let mut last: HashMap<u8, usize> = HashMap::new();
        for (key, i) in out {
            if let Some(prev) = last.insert(key, i) {
                prop_assert!(prev < i, "key {} emitted {} after {}", key, i, prev);
            }
        }
    }
}
