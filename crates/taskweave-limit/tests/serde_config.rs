//! Limiters from TOML: full configs take effect; bad values fail (unknown fields and bad
//! durations when parsing, invalid values with the builders' typed `ConfigError`).
#![cfg(feature = "serde")]

use std::time::Duration;

use taskweave_limit::{
    AdaptiveLimitConfig, ConcurrencyLimitConfig, ConfigError, KeyedRateLimiterConfig, Quota,
    RateLimiterConfig,
};

#[tokio::test(start_paused = true)]
async fn a_rate_limiter_from_toml() {
    let config: RateLimiterConfig = toml::from_str(
        r#"
        quotas = [
            { count = 10, period = "1s", burst = 2 },
            { count = 100, period = "1m" },
        ]
        spin_wait = "2ms"
        name = "upstream"
        "#,
    )
    .unwrap();
    assert_eq!(
        config.quotas,
        [Quota::per_second(10).with_burst(2), Quota::per_minute(100)]
    );
    assert_eq!(config.spin_wait, Duration::from_millis(2));
    let limiter = config.clone().build().unwrap();
    assert_eq!(limiter.burst(), 2);
    limiter.check().unwrap();
    limiter.check().unwrap();
    assert_eq!(
        limiter.check().unwrap_err().duration(),
        Duration::from_millis(100)
    );
    assert!(format!("{limiter:?}").contains("upstream"));
    // And back: what is written reads the same.
    let written = toml::to_string(&config).unwrap();
    assert!(written.contains("\"1s\""), "{written}");
    assert_eq!(
        toml::from_str::<RateLimiterConfig>(&written).unwrap(),
        config
    );
}

#[tokio::test(start_paused = true)]
async fn keyed_concurrency_and_adaptive_limits_from_toml() {
    let keyed: KeyedRateLimiterConfig = toml::from_str(
        r#"
        quota = { count = 1, period = "500ms" }
        max_keys = 64
        sweep_interval = "2m"
        "#,
    )
    .unwrap();
    assert_eq!(keyed.sweep_interval, Duration::from_secs(120));
    let keyed = keyed.build::<&str>().unwrap();
    keyed.check_key(&"a").unwrap();
    assert_eq!(
        keyed.check_key(&"a").unwrap_err().duration(),
        Duration::from_millis(500)
    );
    assert_eq!(keyed.metrics().max_keys, 64);

    let slots: ConcurrencyLimitConfig = toml::from_str("limit = 3").unwrap();
    assert_eq!(slots.build().unwrap().limit(), 3);

    let adaptive: AdaptiveLimitConfig = toml::from_str(
        r#"
        latency_target = "250ms"
        initial = 4
        min = 2
        max = 8
        backoff = 0.5
        "#,
    )
    .unwrap();
    let adaptive = adaptive.build().unwrap();
    assert_eq!(adaptive.current_limit(), 4);
    adaptive.acquire().await.unwrap().overload();
    assert_eq!(adaptive.current_limit(), 2, "backoff 0.5 took effect");
}

#[test]
fn defaults_fill_what_a_config_leaves_out() {
    let keyed: KeyedRateLimiterConfig =
        toml::from_str(r#"quota = { count = 5, period = "1s" }"#).unwrap();
    assert_eq!(
        keyed,
        KeyedRateLimiterConfig::new(Quota::per_second(5)),
        "defaults as the builder's"
    );
    let adaptive: AdaptiveLimitConfig = toml::from_str(r#"latency_target = "1s""#).unwrap();
    assert_eq!(adaptive, AdaptiveLimitConfig::new(Duration::from_secs(1)));
}

#[test]
fn invalid_values_fail_with_the_builders_typed_error() {
    let zero: RateLimiterConfig =
        toml::from_str(r#"quotas = [{ count = 0, period = "1s" }]"#).unwrap();
    assert_eq!(zero.build().unwrap_err(), ConfigError::ZeroRate);
    let none: RateLimiterConfig = toml::from_str("quotas = []").unwrap();
    assert_eq!(none.build().unwrap_err(), ConfigError::NoQuota);
    let sweep: KeyedRateLimiterConfig = toml::from_str(
        r#"
        quota = { count = 5, period = "1s" }
        sweep_interval = "0s"
        "#,
    )
    .unwrap();
    assert_eq!(
        sweep.build::<u32>().unwrap_err(),
        ConfigError::ZeroSweepInterval
    );
    let slots: ConcurrencyLimitConfig = toml::from_str("limit = 0").unwrap();
    assert_eq!(slots.build().unwrap_err(), ConfigError::ZeroLimit);
    let adaptive: AdaptiveLimitConfig =
        toml::from_str("latency_target = \"1s\"\nbackoff = 1.5").unwrap();
    assert_eq!(adaptive.build().unwrap_err(), ConfigError::InvalidBackoff);
}

#[test]
fn unknown_fields_and_bad_durations_are_refused() {
    let unknown = toml::from_str::<RateLimiterConfig>(
        r#"
        quotas = [{ count = 1, period = "1s" }]
        spin = "2ms"
        "#,
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("unknown field"), "{unknown}");
    let in_quota =
        toml::from_str::<RateLimiterConfig>(r#"quotas = [{ count = 1, period = "1s", rate = 3 }]"#)
            .unwrap_err();
    assert!(in_quota.to_string().contains("unknown field"), "{in_quota}");
    let duration =
        toml::from_str::<RateLimiterConfig>(r#"quotas = [{ count = 1, period = "soon" }]"#)
            .unwrap_err();
    assert!(duration.to_string().contains("period"), "{duration}");
    let limit = toml::from_str::<ConcurrencyLimitConfig>("limit = -1").unwrap_err();
    assert!(limit.to_string().contains("limit"), "{limit}");
}
