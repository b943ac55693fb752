//! Invalid configurations are typed errors with actionable messages, never panics.

use std::time::Duration;

use taskweave_limit::{
    AdaptiveLimit, ConcurrencyLimit, ConfigError, KeyedRateLimiter, Limiter, Quota, RateLimiter,
};

#[test]
fn invalid_quotas_are_rejected() {
    let cases = [
        (Quota::per_second(0), ConfigError::ZeroRate),
        (Quota::new(5, Duration::ZERO), ConfigError::ZeroPeriod),
        (Quota::per_second(5).with_burst(0), ConfigError::ZeroBurst),
        (
            Quota::new(10, Duration::from_nanos(5)),
            ConfigError::RateTooHigh {
                count: 10,
                period: Duration::from_nanos(5),
            },
        ),
        (
            Quota::new(1, Duration::from_secs(1 << 40)).with_burst(u32::MAX),
            ConfigError::BurstTooLong,
        ),
    ];
    for (quota, expected) in cases {
        assert_eq!(RateLimiter::new(quota).unwrap_err(), expected);
        assert_eq!(KeyedRateLimiter::<u32>::new(quota).unwrap_err(), expected);
        assert!(!expected.to_string().is_empty());
    }
    assert_eq!(
        RateLimiter::builder().build().unwrap_err(),
        ConfigError::NoQuota
    );
    // A second quota is validated too.
    assert_eq!(
        RateLimiter::builder()
            .quota(Quota::per_second(1))
            .quota(Quota::per_hour(0))
            .build()
            .unwrap_err(),
        ConfigError::ZeroRate
    );
    assert_eq!(
        KeyedRateLimiter::<u32>::builder(Quota::per_second(1))
            .max_keys(0)
            .build()
            .unwrap_err(),
        ConfigError::ZeroMaxKeys
    );
}

#[test]
fn a_zero_sweep_interval_is_rejected() {
    // It used to be accepted and made every keyed call sweep its shard.
    let err = KeyedRateLimiter::<u32>::builder(Quota::per_second(1))
        .sweep_interval(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroSweepInterval);
    assert!(err.to_string().contains("positive interval"), "{err}");
    assert!(
        KeyedRateLimiter::<u32>::builder(Quota::per_second(1))
            .sweep_interval(Duration::from_nanos(1))
            .build()
            .is_ok()
    );
}

#[test]
fn concurrency_limits_are_bounded_on_both_sides() {
    assert_eq!(
        ConcurrencyLimit::new(0).unwrap_err(),
        ConfigError::ZeroLimit
    );
    assert_eq!(
        ConcurrencyLimit::new(ConcurrencyLimit::MAX_LIMIT + 1).unwrap_err(),
        ConfigError::MaximumTooLarge {
            max: ConcurrencyLimit::MAX_LIMIT + 1
        }
    );
    let limit = ConcurrencyLimit::builder(ConcurrencyLimit::MAX_LIMIT)
        .name("huge")
        .build()
        .unwrap();
    assert_eq!(limit.limit(), ConcurrencyLimit::MAX_LIMIT);
    assert!(format!("{limit:?}").contains("huge"));
}

#[test]
fn quota_accessors() {
    let q = Quota::per_minute(120);
    assert_eq!(q.burst(), 120);
    assert_eq!(q.emission_interval().unwrap(), Duration::from_millis(500));
    assert_eq!(q.with_burst(3).burst(), 3);
}

#[test]
fn invalid_adaptive_bounds_are_rejected() {
    let b = || AdaptiveLimit::builder(Duration::from_millis(10));
    assert_eq!(b().min(0).build().unwrap_err(), ConfigError::ZeroMinimum);
    assert_eq!(
        b().min(10).max(5).initial(7).build().unwrap_err(),
        ConfigError::AdaptiveBoundsInverted { min: 10, max: 5 }
    );
    assert_eq!(
        b().min(2).max(5).initial(7).build().unwrap_err(),
        ConfigError::InitialOutOfBounds {
            initial: 7,
            min: 2,
            max: 5
        }
    );
    assert_eq!(
        b().backoff(1.0).build().unwrap_err(),
        ConfigError::InvalidBackoff
    );
    assert_eq!(
        b().backoff(0.0).build().unwrap_err(),
        ConfigError::InvalidBackoff
    );
    assert_eq!(
        b().backoff(f64::NAN).build().unwrap_err(),
        ConfigError::InvalidBackoff
    );
    assert_eq!(
        b().max(usize::MAX).build().unwrap_err(),
        ConfigError::MaximumTooLarge { max: usize::MAX }
    );
    assert_eq!(
        AdaptiveLimit::builder(Duration::ZERO).build().unwrap_err(),
        ConfigError::ZeroLatencyTarget
    );
    let msg = ConfigError::AdaptiveBoundsInverted { min: 10, max: 5 }.to_string();
    assert!(msg.contains("swap"), "{msg}");
}

#[test]
fn an_empty_limiter_is_rejected() {
    assert_eq!(
        Limiter::builder().build().unwrap_err(),
        ConfigError::EmptyLimiter
    );
}
