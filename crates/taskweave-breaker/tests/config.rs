//! Invalid settings are rejected with a typed error that says what to do.

use std::time::Duration;

use taskweave_breaker::{
    Breaker, ConfigError, MAX_COUNT_WINDOW, MAX_EVENT_CAPACITY, MAX_HALF_OPEN_CALLS,
    MAX_MINIMUM_CALLS, MAX_TIME_WINDOW_BUCKETS,
};

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

#[test]
fn absurd_sizes_are_rejected_without_allocating_or_panicking() {
    let b = Breaker::builder;
    // `usize::MAX` used to panic (capacity overflow), `1 << 40` to abort on allocation.
    for n in [usize::MAX, 1 << 40, MAX_COUNT_WINDOW + 1] {
        assert_eq!(
            err(b().count_window(n).minimum_calls(1)),
            ConfigError::CountWindowTooLarge(n)
        );
    }
    // The size is checked before the minimum is compared with it.
    assert_eq!(
        err(b().count_window(usize::MAX).minimum_calls(usize::MAX)),
        ConfigError::CountWindowTooLarge(usize::MAX)
    );
    for buckets in [usize::MAX, u32::MAX as usize, MAX_TIME_WINDOW_BUCKETS + 1] {
        assert_eq!(
            err(b()
                .time_window(Duration::from_secs(1 << 40), buckets)
                .minimum_calls(1)),
            ConfigError::TimeWindowBuckets(buckets)
        );
    }
    for n in [usize::MAX, MAX_MINIMUM_CALLS + 1] {
        assert_eq!(
            err(b()
                .time_window(Duration::from_secs(60), 60)
                .minimum_calls(n)),
            ConfigError::MinimumCallsTooLarge(n)
        );
    }
    for n in [usize::MAX, MAX_HALF_OPEN_CALLS + 1] {
        assert_eq!(err(b().half_open_calls(n)), ConfigError::HalfOpenCalls(n));
    }
    for n in [usize::MAX, MAX_EVENT_CAPACITY + 1] {
        assert_eq!(err(b().event_capacity(n)), ConfigError::EventCapacity(n));
    }
    assert_eq!(
        err(b().max_wait_in_half_open(Duration::ZERO)),
        ConfigError::ZeroMaxWaitInHalfOpen
    );
}

#[test]
fn the_largest_sizes_and_durations_build() {
    Breaker::builder()
        .count_window(MAX_COUNT_WINDOW)
        .minimum_calls(MAX_COUNT_WINDOW)
        .half_open_calls(MAX_HALF_OPEN_CALLS)
        .event_capacity(MAX_EVENT_CAPACITY)
        .wait_duration(Duration::MAX)
        .max_wait_in_half_open(Duration::MAX)
        .slow_call_duration(Duration::MAX)
        .build()
        .unwrap();
    Breaker::builder()
        .time_window(Duration::MAX, MAX_TIME_WINDOW_BUCKETS)
        .minimum_calls(MAX_MINIMUM_CALLS)
        .build()
        .unwrap();
    Breaker::builder()
        .time_window(Duration::MAX, 1)
        .max_wait_in_half_open(Duration::from_nanos(1))
        .build()
        .unwrap();
}

#[test]
fn size_errors_name_the_bound_and_what_to_do() {
    let msg = err(Breaker::builder().count_window(1 << 40)).to_string();
    assert!(
        msg.contains("65536") && msg.contains("time_window"),
        "{msg}"
    );
    let msg = err(Breaker::builder().time_window(Duration::from_secs(3600), 3600)).to_string();
    assert!(
        msg.contains("1024") && msg.contains("fewer, longer"),
        "{msg}"
    );
    let msg = err(Breaker::builder().max_wait_in_half_open(Duration::ZERO)).to_string();
    assert!(msg.contains("Duration::MAX"), "{msg}");
}
