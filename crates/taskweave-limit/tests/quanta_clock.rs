//! `QuantaClock` (the default clock without `test-util`): the same decisions as Tokio's clock, on real time.

use std::time::Duration;

use taskweave_limit::{QuantaClock, Quota, RateLimiter};

#[test]
fn checks_follow_the_quota() {
    // 1 per hour: after the burst, the retry-after is (almost) the whole interval.
    let limiter = RateLimiter::builder()
        .quota(Quota::per_hour(3).with_burst(2))
        .clock(QuantaClock::new())
        .build()
        .unwrap();
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_ok());
    let retry = limiter.check().unwrap_err().duration();
    assert!(retry > Duration::from_secs(1199) && retry <= Duration::from_secs(1200));
    assert_eq!(limiter.metrics().admitted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acquire_waits_on_real_time() {
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(1000).with_burst(1))
        .clock(QuantaClock::new())
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    for _ in 0..11 {
        limiter.acquire().await.unwrap();
    }
    // One at once, then one per millisecond.
    assert!(start.elapsed() >= Duration::from_millis(10));
    assert_eq!(limiter.metrics().admitted, 11);
}
