//! A `Limiter` applies a rate and a concurrency limit together.

use std::time::Duration;

use taskweave_limit::{ConcurrencyLimit, Limited, Limiter, Quota, RateLimiter};

fn limiter() -> Limiter {
    Limiter::builder()
        .rate(RateLimiter::new(Quota::per_second(10).with_burst(3)).unwrap())
        .concurrency(ConcurrencyLimit::new(2).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn both_limits_apply() {
    let limiter = limiter();
    let a = limiter.try_acquire().unwrap();
    let b = limiter.try_acquire().unwrap();
    assert_eq!(limiter.try_acquire().unwrap_err(), Limited::Concurrency);
    drop(a);
    let c = limiter.try_acquire().unwrap();
    drop((b, c));
    // Three permits of a burst of 3 are gone: the rate refuses with a retry-after, and the
    // concurrency slot it took first is given back.
    let err = limiter.try_acquire().unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(100)));
    assert_eq!(limiter.concurrency().unwrap().in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_for_a_slot_then_for_the_rate() {
    let limiter = limiter();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let limiter = limiter.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limiter.acquire().await.unwrap();
            let started = start.elapsed();
            tokio::time::sleep(Duration::from_millis(300)).await;
            started
        }));
    }
    let mut starts = Vec::new();
    for t in tasks {
        starts.push(t.await.unwrap());
    }
    starts.sort();
    // Two slots, each request runs 300 ms; the rate (burst 3, then 1 per 100 ms) is never
    // the bottleneck here, so starts come in pairs every 300 ms.
    let ms: Vec<u128> = starts.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, vec![0, 0, 300, 300, 600, 600]);
}
