//! A `BreakerConfig` loads from TOML (human durations), builds a breaker with those settings,
//! and out-of-range values are rejected with the builder's typed `ConfigError`.
#![cfg(feature = "serde")]

use std::time::Duration;

use taskweave_breaker::{
    BreakerConfig, Builder, ConfigError, Outcome, SlidingWindow, State, WaitGrowth,
};

const FULL: &str = r#"
name = "payments"
window = { kind = "count", calls = 4 }
minimum_calls = 4
failure_rate_threshold = 0.75
slow_call_rate_threshold = 0.5
slow_call_duration = "250ms"
wait_duration = "30s"
wait_growth = { multiplier = 2.0, cap = "2m" }
half_open_calls = 2
max_wait_in_half_open = "1m 30s"
event_capacity = 8
"#;

#[test]
fn a_full_config_loads_from_toml() {
    let config: BreakerConfig = toml::from_str(FULL).unwrap();
    let mut expected = BreakerConfig::default();
    expected.name = Some("payments".into());
    expected.window = SlidingWindow::Count { calls: 4 };
    expected.minimum_calls = 4;
    expected.failure_rate_threshold = 0.75;
    expected.slow_call_rate_threshold = 0.5;
    expected.slow_call_duration = Some(Duration::from_millis(250));
    expected.wait_duration = Duration::from_secs(30);
    expected.wait_growth = Some(WaitGrowth::new(2.0, Duration::from_secs(120)));
    expected.half_open_calls = 2;
    expected.max_wait_in_half_open = Duration::from_secs(90);
    expected.event_capacity = 8;
    assert_eq!(config, expected);
    assert_eq!(config.validate(), Ok(()));

    // It survives a round trip, durations and all.
    let written = toml::to_string(&config).unwrap();
    assert!(written.contains("wait_duration = \"30s\""), "{written}");
    assert_eq!(toml::from_str::<BreakerConfig>(&written).unwrap(), config);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_built_from_toml_follows_it() {
    let breaker = toml::from_str::<BreakerConfig>(FULL)
        .unwrap()
        .build()
        .unwrap();
    assert!(format!("{breaker:?}").contains("payments"));

    // 3 failures of 4 reach the 0.75 threshold once 4 calls are in.
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Failure] {
        breaker.try_acquire().unwrap().record(outcome);
    }
    assert_eq!(breaker.state(), State::Closed);
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(30)));

    // Two trial calls, then a rejection; a failed trial re-opens for twice the wait.
    tokio::time::advance(Duration::from_secs(30)).await;
    let trials = [
        breaker.try_acquire().unwrap(),
        breaker.try_acquire().unwrap(),
    ];
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    for trial in trials {
        trial.record(Outcome::Failure);
    }
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(60)));

    // Slow calls: 250 ms and over.
    breaker.reset();
    let permit = breaker.try_acquire().unwrap();
    tokio::time::advance(Duration::from_millis(250)).await;
    permit.record(Outcome::Success);
    assert_eq!(breaker.metrics().slow_calls, 1);
}

#[test]
fn a_time_window_and_defaults_load_from_toml() {
    let config: BreakerConfig = toml::from_str(
        r#"
        window = { kind = "time", length = "1m", buckets = 60 }
        minimum_calls = 1000
        "#,
    )
    .unwrap();
    assert_eq!(
        config.window,
        SlidingWindow::Time {
            length: Duration::from_secs(60),
            buckets: 60
        }
    );
    assert_eq!(config.wait_duration, Duration::from_secs(60), "the default");
    let builder = Builder::from_config(config.clone());
    assert_eq!(builder.config(), &config);
    builder.build().unwrap();
    assert_eq!(
        toml::from_str::<BreakerConfig>("").unwrap(),
        BreakerConfig::default()
    );
}

#[test]
fn out_of_range_values_are_rejected_with_the_typed_error() {
    let cases = [
        (
            "window = { kind = \"count\", calls = 0 }",
            ConfigError::ZeroCountWindow,
        ),
        ("minimum_calls = 0", ConfigError::ZeroMinimumCalls),
        ("half_open_calls = 0", ConfigError::HalfOpenCalls(0)),
        ("wait_duration = \"0s\"", ConfigError::ZeroWaitDuration),
        (
            "failure_rate_threshold = 1.5",
            ConfigError::FailureRateThreshold(1.5),
        ),
        (
            "window = { kind = \"count\", calls = 10 }\nminimum_calls = 20",
            ConfigError::MinimumCallsExceedWindow {
                minimum_calls: 20,
                window: 10,
            },
        ),
        (
            "wait_duration = \"1m\"\nwait_growth = { multiplier = 2.0, cap = \"30s\" }",
            ConfigError::WaitCapBelowWait {
                cap: Duration::from_secs(30),
                wait: Duration::from_secs(60),
            },
        ),
    ];
    for (toml, expected) in cases {
        let config: BreakerConfig = toml::from_str(toml).unwrap();
        assert_eq!(config.validate(), Err(expected.clone()), "{toml}");
        assert_eq!(config.clone().build().unwrap_err(), expected, "{toml}");
        assert_eq!(
            config.builder().build().unwrap_err(),
            expected,
            "{toml}: the builder agrees"
        );
    }
}

#[test]
fn malformed_files_are_rejected_by_the_format() {
    for (toml, says) in [
        ("wait_duraton = \"30s\"", "unknown field"),
        (
            "window = { kind = \"count\", calls = 5, size = 5 }",
            "unknown field",
        ),
        (
            "wait_growth = { multiplier = 2.0, cap = \"2m\", floor = \"1s\" }",
            "unknown field",
        ),
        ("wait_duration = \"30 parsecs\"", "wait_duration"),
        ("wait_duration = 30", "wait_duration"),
        ("window = { kind = \"sliding\", calls = 5 }", "sliding"),
        ("half_open_calls = -1", "half_open_calls"),
    ] {
        let error = toml::from_str::<BreakerConfig>(toml).unwrap_err();
        assert!(error.to_string().contains(says), "{toml}: {error}");
    }
}
