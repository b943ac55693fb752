//! Keyed limits: independent per key, with a hard bound on keys and idle keys forgotten during
//! normal calls.

use std::time::Duration;

use taskweave_limit::{KeyedRateLimiter, ManualClock, Quota};

#[test]
fn keys_are_limited_independently() {
    let clock = ManualClock::new();
    let limiter: KeyedRateLimiter<_, _> = KeyedRateLimiter::builder(Quota::per_second(2))
        .clock(clock.clone())
        .build()
        .unwrap();
    limiter.check_key(&"alice").unwrap();
    limiter.check_key(&"alice").unwrap();
    let retry = limiter.check_key(&"alice").unwrap_err();
    assert_eq!(retry.duration(), Duration::from_millis(500));
    limiter.check_key_n(&"bob", 2).unwrap();
    assert!(
        limiter
            .check_key_n(&"bob", 3)
            .unwrap_err()
            .retry_after()
            .is_none()
    );
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected, m.keys), (4, 1, 2));
}

#[test]
fn a_million_distinct_keys_stay_within_max_keys() {
    let clock = ManualClock::new();
    let max_keys = 4096;
    let limiter: KeyedRateLimiter<_, _> = KeyedRateLimiter::builder(Quota::per_second(10))
        .max_keys(max_keys)
        .clock(clock.clone())
        .build()
        .unwrap();
    // 1M distinct keys at 10,000 new keys per second, each seen once: a key is idle 100 ms
    // after its request, so the limiter holds about a second's worth and forgets the rest as
    // idle, never touching a key that is still limited.
    for key in 0..1_000_000u64 {
        if key % 100 == 0 {
            clock.advance(Duration::from_millis(10));
        }
        if key % 10_000 == 0 {
            assert!(limiter.len() <= max_keys, "{} keys", limiter.len());
        }
        limiter.check_key(&key).unwrap();
    }
    let m = limiter.metrics();
    assert!(m.keys <= max_keys);
    assert_eq!(m.admitted, 1_000_000);
    assert_eq!(m.evicted_early, 0);
    assert_eq!(m.evicted_idle + m.keys as u64, 1_000_000);

    // A flood of 100,000 new keys in one instant: the bound still holds, at the price of
    // forgetting keys early, which is counted.
    for key in 0..100_000u64 {
        limiter.check_key(&(u64::MAX - key)).unwrap();
    }
    let m = limiter.metrics();
    assert!(m.keys <= max_keys, "{} keys", m.keys);
    assert!(m.evicted_early > 0);
    assert_eq!(m.evicted_idle + m.evicted_early + m.keys as u64, 1_100_000);
}

#[test]
fn idle_keys_are_forgotten_without_changing_decisions() {
    let clock = ManualClock::new();
    let limiter: KeyedRateLimiter<_, _> =
        KeyedRateLimiter::builder(Quota::per_second(10).with_burst(2))
            .sweep_interval(Duration::from_millis(50))
            .clock(clock.clone())
            .build()
            .unwrap();
    for key in 0..100 {
        limiter.check_key(&key).unwrap();
    }
    assert_eq!(limiter.len(), 100);
    // A key seen once is idle 100 ms later; the next calls sweep it.
    clock.advance(Duration::from_millis(150));
    for key in 0..1000 {
        limiter.check_key(&(1000 + key)).unwrap();
    }
    let m = limiter.metrics();
    assert_eq!(m.evicted_idle, 100);
    assert_eq!(m.evicted_early, 0);
    assert_eq!(m.keys, 1000);
    // Forgetting an idle key gives it exactly what it would have had: its full burst.
    limiter.check_key_n(&7, 2).unwrap();
    assert!(limiter.check_key(&7).is_err());
}

#[test]
fn a_busy_key_is_not_forgotten_while_the_limiter_has_room() {
    let clock = ManualClock::new();
    let limiter: KeyedRateLimiter<_, _> =
        KeyedRateLimiter::builder(Quota::per_second(1).with_burst(1))
            .sweep_interval(Duration::from_millis(1))
            .max_keys(1000)
            .clock(clock.clone())
            .build()
            .unwrap();
    limiter.check_key(&1).unwrap();
    for key in 2..500 {
        clock.advance(Duration::from_millis(1));
        limiter.check_key(&key).unwrap();
    }
    // 499 ms after its request, key 1 is still limited.
    assert!(limiter.check_key(&1).is_err());
    assert_eq!(limiter.metrics().evicted_early, 0);
}

#[tokio::test(start_paused = true)]
async fn acquire_key_waits_for_that_key_only() {
    let limiter = KeyedRateLimiter::new(Quota::per_second(1)).unwrap();
    limiter.acquire_key(&"a").await.unwrap();
    let start = tokio::time::Instant::now();
    limiter.acquire_key(&"b").await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    limiter.acquire_key(&"a").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(limiter.acquire_key_n(&"a", 2).await.is_err());
}
