//! The breaker reads its time — slow-call timing, the time window, the open wait — from the
//! `Clock` given to the builder, and only from it.

use std::time::Duration;

use taskweave_breaker::{Breaker, Clock, ManualClock, Outcome, State};

const MS: Duration = Duration::from_millis(1);

/// Records one call that takes `took` on `clock`.
fn call_taking(breaker: &Breaker, clock: &ManualClock, took: Duration, outcome: Outcome) {
    let permit = breaker.try_acquire().expect("admitted");
    clock.advance(took);
    permit.record(outcome);
}

#[test]
fn slow_calls_are_timed_on_the_given_clock() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .count_window(10)
        .minimum_calls(10)
        .slow_call_duration(100 * MS)
        .clock(clock.clone())
        .build()
        .unwrap();

    call_taking(&breaker, &clock, 150 * MS, Outcome::Success);
    call_taking(&breaker, &clock, 99 * MS, Outcome::Success);
    call_taking(&breaker, &clock, 100 * MS, Outcome::Failure);
    let metrics = breaker.metrics();
    assert_eq!(metrics.buffered_calls, 3);
    assert_eq!(
        metrics.slow_calls, 2,
        "150 ms and 100 ms are slow, 99 ms is not"
    );
    assert_eq!(metrics.failed_calls, 1);
}

#[tokio::test(start_paused = true)]
async fn tokio_time_does_not_move_a_breaker_on_another_clock() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .slow_call_duration(100 * MS)
        .wait_duration(Duration::from_secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();

    let result = breaker
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, ()>(())
        })
        .await;
    assert_eq!(result, Ok(()));
    assert_eq!(
        breaker.metrics().slow_calls,
        0,
        "1 s of Tokio time is 0 ns here"
    );

    breaker.force_open();
    breaker.reset();
    for _ in 0..2 {
        let _ = breaker.call(|| async { Err::<(), _>(()) }).await;
    }
    assert_eq!(breaker.state(), State::Open);
    tokio::time::advance(Duration::from_secs(60)).await;
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));
}

#[test]
fn the_open_wait_runs_on_the_given_clock() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .wait_duration(Duration::from_secs(5))
        .half_open_calls(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    call_taking(&breaker, &clock, MS, Outcome::Failure);
    call_taking(&breaker, &clock, MS, Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);

    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));
    clock.advance(Duration::from_secs(4));
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(1)));

    clock.advance(Duration::from_secs(1));
    let trial = breaker.try_acquire().expect("the wait is over");
    assert_eq!(breaker.state(), State::HalfOpen);
    trial.record(Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn the_time_window_slides_on_the_given_clock() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .time_window(Duration::from_secs(10), 10)
        .minimum_calls(3)
        .failure_rate_threshold(0.6)
        .clock(clock.clone())
        .build()
        .unwrap();

    // t = 0: two successes; t = 5 s: two failures. 2 of 4 failed: below 0.6.
    call_taking(&breaker, &clock, Duration::ZERO, Outcome::Success);
    call_taking(&breaker, &clock, Duration::ZERO, Outcome::Success);
    clock.advance(Duration::from_secs(5));
    call_taking(&breaker, &clock, Duration::ZERO, Outcome::Failure);
    call_taking(&breaker, &clock, Duration::ZERO, Outcome::Failure);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().buffered_calls, 4);

    // t = 10.5 s: the successes' bucket has left the window; with one more success, 2 of 3
    // failed, and the new bucket's evaluation trips the breaker.
    clock.advance(Duration::from_millis(5_500));
    assert_eq!(breaker.metrics().buffered_calls, 2);
    call_taking(&breaker, &clock, Duration::ZERO, Outcome::Success);
    assert_eq!(breaker.state(), State::Open);

    // The open breaker's window still ages out on the same clock.
    clock.advance(Duration::from_secs(20));
    assert_eq!(breaker.metrics().buffered_calls, 0);
}

/// A clock whose origin is far away, like nanoseconds since the Unix epoch.
#[derive(Debug, Clone)]
struct EpochClock(ManualClock);

impl Clock for EpochClock {
    fn now_nanos(&self) -> u64 {
        1_700_000_000_000_000_000 + self.0.now_nanos()
    }
}

#[test]
fn a_clock_with_a_distant_origin_keeps_deadlines_exact() {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .count_window(1)
        .minimum_calls(1)
        .wait_duration(Duration::from_secs(3))
        .clock(EpochClock(clock.clone()))
        .build()
        .unwrap();
    call_taking(&breaker, &clock, Duration::ZERO, Outcome::Failure);
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(3)));
    clock.advance(Duration::from_secs(3));
    assert!(breaker.try_acquire().is_ok(), "open for 3 s, not for good");
}
