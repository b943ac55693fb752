//! A time window keeps counting after idling for longer than any bucket stamp could wrap: more
//! than 2^31 and exactly 2^32 buckets (25 and 50 days at 1 ms buckets).

use std::time::Duration;

use taskweave_breaker::{Breaker, Outcome, State};
use tokio::time::advance;

/// A 64 ms window in 64 buckets of 1 ms, tripping at 50% once 64 calls are in.
fn breaker() -> Breaker {
    Breaker::builder()
        .time_window(Duration::from_millis(64), 64)
        .minimum_calls(64)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap()
}

/// Records one call in each of the 64 buckets, so that every bucket carries a stamp.
async fn fill(breaker: &Breaker, outcome: Outcome) {
    for _ in 0..64 {
        breaker.try_acquire().unwrap().record(outcome);
        advance(Duration::from_millis(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn calls_still_count_after_more_than_2_pow_31_idle_buckets() {
    let breaker = breaker();
    fill(&breaker, Outcome::Success).await;
    assert_eq!(breaker.metrics().buffered_calls, 63);
    advance(Duration::from_millis((1 << 31) + 1_000)).await;
    assert_eq!(breaker.metrics().buffered_calls, 0, "the old calls expired");
    fill(&breaker, Outcome::Failure).await;
    assert_eq!(
        breaker.state(),
        State::Open,
        "64 failures in the window trip it: {:?}",
        breaker.metrics()
    );
}

#[tokio::test(start_paused = true)]
async fn calls_from_exactly_2_pow_32_buckets_ago_are_not_current() {
    let breaker = breaker();
    fill(&breaker, Outcome::Failure).await;
    assert_eq!(breaker.state(), State::Open);
    breaker.reset();
    fill(&breaker, Outcome::Success).await;
    // Land exactly 2^32 buckets after the successes: a 32-bit stamp reads them as current.
    advance(Duration::from_millis((1 << 32) - 64)).await;
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (0, 0), "{m:?}");
    for _ in 0..63 {
        breaker.try_acquire().unwrap().record(Outcome::Failure);
    }
    // 63 failures are below minimum_calls unless 2^32-bucket-old successes are counted.
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (63, 63), "{m:?}");
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
}
