//! A policy and a retry budget loaded from TOML: human durations, validated by the builders,
//! unknown fields and bad values rejected.
#![cfg(feature = "serde")]

use std::time::Duration;

use taskweave_backoff::{
    Backoff, BackoffConfig, ConfigError, Jitter, RetryBudget, RetryBudgetConfig, StopReason,
    Strategy, retry,
};

const MS: Duration = Duration::from_millis(1);

/// A service's config file, with the retry sections inside it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceConfig {
    retry: BackoffConfig,
    budget: RetryBudgetConfig,
}

const FULL: &str = r#"
[retry]
strategy = "exponential"
base = "250ms"
factor = 3.0
max_delay = "2s"
jitter = "none"
max_attempts = 5
max_elapsed = "1m"
seed = 7

[budget]
ratio = 0.5
capacity = 4
initial = 2
"#;

#[test]
fn a_full_config_loads_and_its_values_take_effect() {
    let config: ServiceConfig = toml::from_str(FULL).unwrap();
    assert_eq!(config.retry.strategy, Strategy::Exponential);
    assert_eq!(config.retry.base, 250 * MS);
    assert_eq!(config.retry.max_elapsed, Some(Duration::from_secs(60)));
    assert_eq!(config.retry.jitter, Some(Jitter::None));

    let policy = config.retry.build().unwrap();
    assert_eq!(policy.max_attempts(), 5);
    assert_eq!(policy.max_delay(), Some(Duration::from_secs(2)));
    assert_eq!(policy.max_elapsed(), Some(Duration::from_secs(60)));
    assert_eq!(policy.jitter(), Jitter::None);
    assert_eq!(policy.seed(), Some(7));
    // 250 ms tripled, capped at 2 s.
    assert_eq!(
        policy.iter().collect::<Vec<_>>(),
        [250 * MS, 750 * MS, 2000 * MS, 2000 * MS]
    );
    let same = Backoff::exponential(250 * MS)
        .factor(3.0)
        .max_delay(Duration::from_secs(2))
        .max_attempts(5)
        .max_elapsed(Duration::from_secs(60))
        .seed(7)
        .build()
        .unwrap();
    assert_eq!(policy, same, "the config builds what the builder builds");

    let budget = config.budget.build().unwrap();
    assert_eq!(budget.available(), 2);
    assert!(budget.try_withdraw() && budget.try_withdraw());
    assert!(!budget.try_withdraw(), "initial = 2");
    budget.deposit();
    budget.deposit();
    assert_eq!(budget.available(), 1, "ratio = 0.5");
}

#[tokio::test(start_paused = true)]
async fn a_loaded_policy_drives_a_retry_loop() {
    let config: BackoffConfig = toml::from_str(
        r#"
        strategy = "linear"
        base = "10ms"
        step = "5ms"
        jitter = "none"
        max_attempts = 4
        "#,
    )
    .unwrap();
    let policy = Backoff::try_from(config).unwrap();
    let start = tokio::time::Instant::now();
    let err = retry(policy, || async { Err::<(), _>("down") })
        .await
        .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 4));
    assert_eq!(start.elapsed(), (10 + 15 + 20) * MS);
}

#[test]
fn every_strategy_loads_by_name() {
    for (name, strategy, first) in [
        ("constant", Strategy::Constant, [40, 40, 40]),
        ("linear", Strategy::Linear, [40, 80, 120]),
        ("exponential", Strategy::Exponential, [40, 80, 160]),
        ("fibonacci", Strategy::Fibonacci, [40, 40, 80]),
    ] {
        let text =
            format!("strategy = \"{name}\"\nbase = \"40ms\"\njitter = \"none\"\nmax_attempts = 4");
        let config: BackoffConfig = toml::from_str(&text).unwrap();
        assert_eq!(config.strategy, strategy);
        let delays: Vec<u128> = config
            .build()
            .unwrap()
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(delays, first, "{name}");
    }
    let config: BackoffConfig =
        toml::from_str("strategy = \"decorrelated\"\nbase = \"40ms\"\nmax_delay = \"1s\"").unwrap();
    let policy = config.build().unwrap();
    assert_eq!(policy.jitter(), Jitter::None, "its randomness is built in");
    assert!(
        policy
            .iter()
            .all(|d| (40 * MS..=Duration::from_secs(1)).contains(&d))
    );
}

#[test]
fn missing_settings_take_the_defaults_and_configs_round_trip() {
    let config: BackoffConfig = toml::from_str("").unwrap();
    assert_eq!(config, BackoffConfig::default());
    let policy = config.build().unwrap();
    assert_eq!(policy.max_attempts(), 3);
    assert_eq!(policy.jitter(), Jitter::Full);

    let loaded: ServiceConfig = toml::from_str(FULL).unwrap();
    let written = toml::to_string(&loaded.retry).unwrap();
    assert!(written.contains("base = \"250ms\""), "{written}");
    assert!(written.contains("max_elapsed = \"1m\""), "{written}");
    let reloaded: BackoffConfig = toml::from_str(&written).unwrap();
    assert_eq!(reloaded, loaded.retry);
    let written = toml::to_string(&loaded.budget).unwrap();
    assert_eq!(
        toml::from_str::<RetryBudgetConfig>(&written).unwrap(),
        loaded.budget
    );
}

#[test]
fn bad_values_are_rejected_with_the_builders_typed_error() {
    let build = |text: &str| toml::from_str::<BackoffConfig>(text).unwrap().build();
    assert_eq!(build("max_attempts = 0"), Err(ConfigError::ZeroAttempts));
    assert_eq!(build("base = \"0s\""), Err(ConfigError::ZeroBase));
    assert_eq!(
        build("max_elapsed = \"0s\""),
        Err(ConfigError::ZeroTimeBudget)
    );
    assert_eq!(build("factor = 0.5"), Err(ConfigError::FactorBelowOne(0.5)));
    assert_eq!(
        build("base = \"1s\"\nmax_delay = \"100ms\""),
        Err(ConfigError::CapBelowBase {
            base: Duration::from_secs(1),
            cap: 100 * MS
        })
    );
    assert_eq!(
        build("strategy = \"constant\"\nfactor = 2.0"),
        Err(ConfigError::NotForStrategy {
            setting: "factor",
            strategy: Strategy::Constant
        })
    );
    let err = build("strategy = \"exponential\"\nstep = \"1s\"").unwrap_err();
    assert!(err.to_string().contains("`step` does not apply"), "{err}");

    let budget = |text: &str| {
        toml::from_str::<RetryBudgetConfig>(text)
            .unwrap()
            .build()
            .map(|b: RetryBudget| b.available())
    };
    assert_eq!(budget("capacity = 0"), Err(ConfigError::ZeroRetryCapacity));
    assert_eq!(
        budget("ratio = -1.0"),
        Err(ConfigError::InvalidRetryRatio(-1.0))
    );
    assert_eq!(
        budget("capacity = 2\ninitial = 3"),
        Err(ConfigError::InitialAboveCapacity {
            initial: 3,
            capacity: 2
        })
    );
}

#[test]
fn unknown_fields_bad_durations_and_bad_names_fail_to_load() {
    let load = |text: &str| {
        toml::from_str::<BackoffConfig>(text)
            .unwrap_err()
            .to_string()
    };
    let err = load("max_attempt = 3");
    assert!(err.contains("unknown field `max_attempt`"), "{err}");
    let err = load("base = \"fast\"");
    assert!(err.contains("base"), "{err}");
    let err = load("base = \"10 parsecs\"");
    assert!(err.contains("expected a duration"), "{err}");
    let err = load("base = 100");
    assert!(err.contains("base"), "{err}");
    let err = load("strategy = \"quadratic\"");
    assert!(err.contains("unknown variant `quadratic`"), "{err}");
    let err = load("jitter = \"some\"");
    assert!(err.contains("unknown variant `some`"), "{err}");
    let err = toml::from_str::<RetryBudgetConfig>("ratio = 0.1\nburst = 5")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `burst`"), "{err}");
    let err = toml::from_str::<ServiceConfig>("[retry]\n[budget]\n[extra]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `extra`"), "{err}");
}
