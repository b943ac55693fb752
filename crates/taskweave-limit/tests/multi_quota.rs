//! With several quotas, a request must conform to all and one that fails any consumes none.

use std::time::Duration;

use taskweave_limit::{CheckError, ManualClock, Quota, RateLimiter};

fn limiter(clock: &ManualClock) -> RateLimiter<ManualClock> {
    RateLimiter::builder()
        .quota(Quota::per_second(10)) // burst 10
        .quota(Quota::per_minute(15).with_burst(12))
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn all_quotas_must_conform() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock);
    assert_eq!(limiter.burst(), 10);
    for _ in 0..10 {
        limiter.check().unwrap();
    }
    // The per-second quota is spent.
    assert_eq!(
        limiter.check().unwrap_err().duration(),
        Duration::from_millis(100)
    );
    clock.advance(Duration::from_secs(1));
    // The per-second quota is full again, but the per-minute one only has 2 of its 12 left.
    limiter.check_n(2).unwrap();
    let err = limiter.check().unwrap_err();
    assert_eq!(err.duration(), Duration::from_secs(3));
}

#[test]
fn a_request_failing_one_quota_consumes_from_none() {
    let clock = ManualClock::new();
    let limiter = limiter(&clock);
    limiter.check_n(10).unwrap();
    clock.advance(Duration::from_secs(1));
    // Per-minute: 2 left (12 - 10). A request for 5 fails it...
    assert!(matches!(limiter.check_n(5), Err(CheckError::RetryAfter(_))));
    // ...and must not have taken 5 from the per-second quota, which still admits 2 at once.
    limiter.check_n(2).unwrap();
    assert_eq!(limiter.metrics().admitted, 12);
    assert_eq!(limiter.metrics().rejected, 1);
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_for_the_slowest_quota() {
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(100).with_burst(1))
        .quota(Quota::per_second(2).with_burst(1))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        limiter.acquire().await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}
