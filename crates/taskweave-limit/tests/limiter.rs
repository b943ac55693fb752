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

#[tokio::test(start_paused = true)]
async fn a_limiter_refused_by_its_rate_admits_nothing_on_its_concurrency_limit() {
    let rate = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let slots = ConcurrencyLimit::new(64).unwrap();
    let limiter = Limiter::builder()
        .rate(rate.clone())
        .concurrency(slots.clone())
        .build()
        .unwrap();
    let admitted = limiter.try_acquire().unwrap();
    // The rate refuses the second: the slot it borrowed was not an admission.
    assert!(matches!(limiter.try_acquire(), Err(Limited::Rate { .. })));
    let m = slots.metrics();
    assert_eq!((m.admitted, m.rejected, m.in_flight), (1, 0, 1), "{m:?}");
    assert_eq!(rate.metrics().rejected, 1);
    // An acquire given up while waiting for the rate admitted nothing either.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
    assert!(gave_up.is_err());
    let m = slots.metrics();
    assert_eq!((m.admitted, m.in_flight, m.waiting), (1, 1, 0), "{m:?}");
    assert_eq!(rate.metrics().waited, 1);
    drop(admitted);
}
