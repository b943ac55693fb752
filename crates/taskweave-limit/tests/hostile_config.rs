//! Absurd quotas and sizes: every one is either limited exactly or refused at construction with
//! a typed error; none saturates into "admit everything", none panics.

use std::time::Duration;

use taskweave_limit::{ConfigError, KeyedRateLimiter, ManualClock, Quota, RateLimiter};

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

fn on(clock: &ManualClock, quota: Quota) -> Result<RateLimiter<ManualClock>, ConfigError> {
    RateLimiter::builder()
        .quota(quota)
        .clock(clock.clone())
        .build()
}

#[test]
fn one_per_u64_max_nanoseconds_is_refused_at_construction() {
    let clock = ManualClock::new();
    let quota = Quota::new(1, Duration::from_nanos(u64::MAX));
    let result = on(&clock, quota);
    if let Ok(limiter) = &result {
        // Whatever it builds must limit: one permit, then a refusal.
        limiter.check().unwrap();
        assert!(limiter.check().is_err(), "a second permit was admitted");
    }
    assert_eq!(result.unwrap_err(), ConfigError::BurstTooLong);
    assert_eq!(
        KeyedRateLimiter::<u32>::new(quota).unwrap_err(),
        ConfigError::BurstTooLong
    );
    // Periods that do not even fit in 64-bit nanoseconds are refused the same way.
    assert_eq!(
        RateLimiter::new(Quota::new(1, Duration::MAX)).unwrap_err(),
        ConfigError::BurstTooLong
    );
}

#[test]
fn the_longest_allowed_tolerance_still_limits_exactly() {
    let clock = ManualClock::new();
    let max = Quota::MAX_TOLERANCE;
    // One per MAX_TOLERANCE, burst 1: exactly at the bound.
    let limiter = on(&clock, Quota::new(1, max)).unwrap();
    limiter.check().unwrap();
    assert_eq!(limiter.check().unwrap_err().duration(), max);
    clock.advance(max - Duration::from_nanos(1));
    assert_eq!(
        limiter.check().unwrap_err().duration(),
        Duration::from_nanos(1)
    );
    clock.advance(Duration::from_nanos(1));
    limiter.check().unwrap();
    assert!(limiter.check().is_err());
    // One nanosecond more is refused.
    assert_eq!(
        RateLimiter::new(Quota::new(1, max + Duration::from_nanos(1))).unwrap_err(),
        ConfigError::BurstTooLong
    );
    // So is a burst that multiplies a legal interval past the bound.
    assert_eq!(
        RateLimiter::new(Quota::new(1, YEAR).with_burst(200)).unwrap_err(),
        ConfigError::BurstTooLong
    );
}

#[test]
fn decisions_stay_exact_late_in_the_clock() {
    // A clock that has run for centuries (the documented horizon is what is left of 64-bit
    // nanoseconds after the longest tolerance), with the longest tolerance: no saturation.
    let clock = ManualClock::new();
    let interval = Quota::MAX_TOLERANCE / 2;
    let limiter = on(&clock, Quota::new(2, 2 * interval)).unwrap();
    clock.advance(Duration::from_nanos(u64::MAX) - Quota::MAX_TOLERANCE - interval);
    limiter.check_n(2).unwrap();
    assert!(limiter.check().is_err());
    // At the horizon: one permit has come back, and only one.
    clock.advance(interval);
    limiter.check().unwrap();
    assert!(limiter.check().is_err(), "admitted past the burst");
    // Past the horizon the limiter cannot record another permit: it refuses, never admits.
    clock.advance(interval);
    assert!(limiter.check().is_err());
}

#[test]
fn rates_near_one_per_nanosecond_round_the_interval_up() {
    // 600 million per second: 1.67 ns between permits, which whole nanoseconds cannot hold.
    // Rounding down (1 ns) would admit 1e9/s; the limiter must never exceed the quota.
    let quota = Quota::per_second(600_000_000).with_burst(1);
    assert_eq!(quota.emission_interval().unwrap(), Duration::from_nanos(2));
    let clock = ManualClock::new();
    let limiter = on(&clock, quota).unwrap();
    let mut admitted = 0u64;
    for _ in 0..1_000_000 {
        if limiter.check().is_ok() {
            admitted += 1;
        }
        clock.advance(Duration::from_nanos(1));
    }
    // 1 ms at 600 per µs: at most 600,000 + the burst.
    assert!(admitted <= 600_001, "{admitted} admitted in 1 ms");
    // 3 per 10 ns rounds 3.33 ns up to 4.
    assert_eq!(
        Quota::new(3, Duration::from_nanos(10))
            .emission_interval()
            .unwrap(),
        Duration::from_nanos(4)
    );
    // Exact divisions are unchanged.
    assert_eq!(
        Quota::per_second(1_000_000_000)
            .emission_interval()
            .unwrap(),
        Duration::from_nanos(1)
    );
    // Above one per nanosecond: refused.
    assert!(matches!(
        RateLimiter::new(Quota::per_second(1_000_000_001)),
        Err(ConfigError::RateTooHigh { .. })
    ));
    assert!(matches!(
        RateLimiter::new(Quota::per_second(u32::MAX)),
        Err(ConfigError::RateTooHigh { .. })
    ));
}

#[test]
fn keyed_max_keys_has_an_upper_bound() {
    let too_many = KeyedRateLimiter::<u64>::MAX_KEYS + 1;
    assert_eq!(
        KeyedRateLimiter::<u64>::builder(Quota::per_second(1))
            .max_keys(too_many)
            .build()
            .unwrap_err(),
        ConfigError::MaxKeysTooLarge { max_keys: too_many }
    );
    assert_eq!(
        KeyedRateLimiter::<u64>::builder(Quota::per_second(1))
            .max_keys(usize::MAX)
            .build()
            .unwrap_err(),
        ConfigError::MaxKeysTooLarge {
            max_keys: usize::MAX
        }
    );
    KeyedRateLimiter::<u64>::builder(Quota::per_second(1))
        .max_keys(KeyedRateLimiter::<u64>::MAX_KEYS)
        .build()
        .unwrap();
}

#[test]
fn quota_count_and_spin_wait_have_upper_bounds() {
    let mut builder = RateLimiter::builder();
    for _ in 0..=RateLimiter::MAX_QUOTAS {
        builder = builder.quota(Quota::per_second(1));
    }
    assert_eq!(
        builder.build().unwrap_err(),
        ConfigError::TooManyQuotas {
            count: RateLimiter::MAX_QUOTAS + 1
        }
    );
    assert_eq!(
        RateLimiter::builder()
            .quota(Quota::per_second(1))
            .spin_wait(Duration::from_secs(3600))
            .build()
            .unwrap_err(),
        ConfigError::SpinWaitTooLong {
            spin: Duration::from_secs(3600)
        }
    );
    RateLimiter::builder()
        .quota(Quota::per_second(1))
        .spin_wait(RateLimiter::MAX_SPIN_WAIT)
        .build()
        .unwrap();
    for e in [
        ConfigError::TooManyQuotas { count: 99 },
        ConfigError::SpinWaitTooLong {
            spin: Duration::from_secs(1),
        },
        ConfigError::MaxKeysTooLarge { max_keys: 1 << 40 },
    ] {
        assert!(!e.to_string().is_empty());
    }
}
