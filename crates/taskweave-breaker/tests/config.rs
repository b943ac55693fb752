//! Invalid settings are rejected with a typed error that says what to do.

use std::time::Duration;

use taskweave_breaker::{Breaker, ConfigError};

fn err(builder: taskweave_breaker::Builder) -> ConfigError {
    builder.build().expect_err("the settings are invalid")
}

#[test]
fn every_out_of_range_setting_is_rejected() {
    let b = Breaker::builder;
    for rate in [0.0, -0.1, 1.01, f64::NAN] {
        assert!(matches!(
            err(b().failure_rate_threshold(rate)),
            ConfigError::FailureRateThreshold(_)
        ));
        assert!(matches!(
            err(b().slow_call_rate_threshold(rate)),
            ConfigError::SlowCallRateThreshold(_)
        ));
    }
    assert_eq!(
        err(b().slow_call_duration(Duration::ZERO)),
        ConfigError::ZeroSlowCallDuration
    );
    assert_eq!(err(b().count_window(0)), ConfigError::ZeroCountWindow);
    assert_eq!(
        err(b().count_window(10).minimum_calls(11)),
        ConfigError::MinimumCallsExceedWindow {
            minimum_calls: 11,
            window: 10
        }
    );
    assert_eq!(
        err(b().count_window(10).minimum_calls(0)),
        ConfigError::ZeroMinimumCalls
    );
    for (length, buckets) in [(Duration::from_secs(1), 0), (Duration::from_millis(9), 10)] {
        assert_eq!(
            err(b().time_window(length, buckets)),
            ConfigError::TimeWindow { length, buckets }
        );
    }
    assert_eq!(
        err(b().wait_duration(Duration::ZERO)),
        ConfigError::ZeroWaitDuration
    );
    for m in [0.5, f64::INFINITY, f64::NAN] {
        assert!(matches!(
            err(b().wait_growth(m, Duration::from_secs(600))),
            ConfigError::WaitGrowthMultiplier(_)
        ));
    }
    assert!(matches!(
        err(b().wait_growth(2.0, Duration::from_secs(1))),
        ConfigError::WaitCapBelowWait { .. }
    ));
    for n in [0, 1024] {
        assert_eq!(err(b().half_open_calls(n)), ConfigError::HalfOpenCalls(n));
    }
    for n in [0, 1 << 17] {
        assert_eq!(err(b().event_capacity(n)), ConfigError::EventCapacity(n));
    }
}

#[test]
fn limits_themselves_are_accepted() {
    Breaker::builder()
        .failure_rate_threshold(1.0)
        .slow_call_rate_threshold(1.0)
        .count_window(1)
        .minimum_calls(1)
        .half_open_calls(1023)
        .event_capacity(1 << 16)
        .wait_growth(1.0, Duration::from_secs(60))
        .build()
        .unwrap();
    Breaker::builder()
        .time_window(Duration::from_millis(10), 10)
        .minimum_calls(1000)
        .build()
        .unwrap();
}

#[test]
fn messages_say_what_to_do() {
    let msg = err(Breaker::builder().failure_rate_threshold(50.0)).to_string();
    assert!(
        msg.contains("(0, 1]") && msg.contains("0.5 for 50%"),
        "{msg}"
    );
    let msg = err(Breaker::builder().count_window(10)).to_string();
    assert!(
        msg.contains("lower minimum_calls or widen the window"),
        "{msg}"
    );
}
