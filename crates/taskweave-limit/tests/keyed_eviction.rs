//! A full keyed shard evicts exactly the keys it needs to, even when many keys share one TAT
//! (a flood arriving in one clock tick), instead of every key at or below a threshold.

use std::hash::BuildHasherDefault;
use std::hash::DefaultHasher;
use std::time::Duration;

use taskweave_limit::{KeyedRateLimiter, ManualClock, Quota};

type Fixed = BuildHasherDefault<DefaultHasher>;

#[test]
fn a_full_shard_of_equal_tats_evicts_one_quarter() {
    let clock = ManualClock::new();
    // 16 keys fit one shard exactly.
    let limiter: KeyedRateLimiter<u64, ManualClock, Fixed> =
        KeyedRateLimiter::builder(Quota::per_second(1))
            .max_keys(16)
            .clock(clock.clone())
            .hasher(Fixed::default())
            .build()
            .unwrap();
    for key in 0..16 {
        limiter.check_key(&key).unwrap();
    }
    assert_eq!(limiter.len(), 16);
    // All 16 share one TAT. A 17th key makes room for itself by forgetting a quarter (4).
    limiter.check_key(&16).unwrap();
    let m = limiter.metrics();
    assert_eq!(m.evicted_early, 4);
    assert_eq!(m.keys, 13);
}

#[test]
fn a_flood_of_equal_tat_keys_keeps_at_least_three_quarters_of_max_keys() {
    let clock = ManualClock::new();
    let max_keys = 4096;
    let limiter: KeyedRateLimiter<u64, ManualClock> =
        KeyedRateLimiter::builder(Quota::per_hour(10))
            .max_keys(max_keys)
            .clock(clock.clone())
            .build()
            .unwrap();
    // 100,000 distinct keys in one instant: every TAT is equal.
    for key in 0..100_000u64 {
        limiter.check_key(&key).unwrap();
        if key % 1000 == 0 {
            assert!(limiter.metrics().keys <= max_keys);
        }
    }
    let m = limiter.metrics();
    assert!(m.keys <= max_keys, "{} keys", m.keys);
    // Each shard drops a quarter when full, never everything: at least 3/4 stay tracked.
    assert!(m.keys >= max_keys * 3 / 4, "only {} keys kept", m.keys);
    assert_eq!(m.evicted_idle, 0);
    assert_eq!(m.evicted_early + m.keys as u64, 100_000);
    // The keys still tracked are still limited.
    clock.advance(Duration::from_secs(1));
    let limited = (0..100_000u64)
        .rev()
        .take(100)
        .filter(|k| limiter.check_key_n(k, 10).is_err())
        .count();
    assert!(limited > 0);
}
