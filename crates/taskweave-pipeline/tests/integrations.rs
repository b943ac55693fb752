//! Sibling crates as stages: a rate limiter (`limit`) and a batcher (`batch`).

use std::time::Duration;

use taskweave_batch::Batcher;
use taskweave_limit::{Quota, RateLimiter};
use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_paces_a_stage() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let started = Instant::now();
    let pipeline = Flow::from_iter(0..5u32)
        .rate_limit("paced", limiter)
        .map("stamp", move |n| async move {
            Ok::<_, std::convert::Infallible>((n, started.elapsed()))
        })
        .build()
        .unwrap();
    let mut out = Vec::new();
    pipeline.run(|x| out.push(x)).await.unwrap();
    let order: Vec<_> = out.iter().map(|(n, _)| *n).collect();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    // 10 per second, burst 1: one every 100 ms.
    assert_eq!(out[4].1, Duration::from_millis(400));
}

#[tokio::test(start_paused = true)]
async fn a_closed_limiter_fails_items_under_the_policy() {
    let limiter = RateLimiter::new(Quota::per_second(1).with_burst(1)).unwrap();
    limiter.close();
    let pipeline = Flow::from_iter(0..3u32)
        .rate_limit(
            StageConfig::new("paced").on_error(ErrorPolicy::Skip),
            limiter,
        )
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert!(out.is_empty());
    assert_eq!(handle.metrics().stages[1].skipped, 3);
}

#[tokio::test(start_paused = true)]
async fn a_batcher_as_a_stage_emits_each_items_own_result() {
    let batcher = Batcher::builder()
        .max_items(4)
        .max_delay(Duration::from_millis(5))
        .build(|items: Vec<u32>| async move {
            Ok::<_, std::io::Error>(items.iter().map(|n| n * 10).collect::<Vec<_>>())
        })
        .unwrap();
    let pipeline = Flow::from_iter(0..10u32)
        .batched(StageConfig::new("batched").concurrency(4), batcher.clone())
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, (0..10).map(|n| n * 10).collect::<Vec<_>>());
    assert!(handle.metrics().reconciles());
    assert_eq!(batcher.metrics().items_flushed, 10);
}
