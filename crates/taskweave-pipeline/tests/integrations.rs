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

#[tokio::test(start_paused = true)]
async fn an_open_breaker_spares_the_dependency_and_fails_items_fast() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use taskweave_breaker::Breaker;

    let breaker = Breaker::builder()
        .count_window(4)
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let pipeline = Flow::from_iter(0..10u32)
        .map_with_breaker(
            StageConfig::new("remote").on_error(ErrorPolicy::Skip),
            breaker,
            move |n| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move { Err::<u32, _>(std::io::Error::other(format!("down for {n}"))) }
            },
        )
        .build()
        .unwrap();
    let handle = pipeline.handle();
    pipeline.run(drop).await.unwrap();
    // Two failures open the breaker; the other eight are rejected without a call.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(handle.metrics().stages[1].skipped, 10);
}

#[tokio::test(start_paused = true)]
async fn a_retried_stage_succeeds_after_failures_and_gives_up_under_the_policy() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use taskweave_backoff::Backoff;

    let policy = Backoff::constant(Duration::from_millis(10))
        .max_attempts(3)
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&attempts);
    // Every item fails twice, then succeeds; item 3 always fails.
    let pipeline = Flow::from_iter(0..4u32)
        .map_with_retry(
            StageConfig::new("flaky").on_error(ErrorPolicy::Skip),
            policy,
            move |n| {
                let attempt = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 3 || attempt % 3 != 2 {
                        return Err(std::io::Error::other("flaky"));
                    }
                    Ok(n)
                }
            },
        )
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(attempts.load(Ordering::SeqCst), 12);
    assert_eq!(handle.metrics().stages[1].skipped, 1);
}
