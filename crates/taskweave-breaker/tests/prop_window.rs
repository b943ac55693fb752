//! The recorded rates match a plain reference model of the sliding window, and the breaker
//! opens exactly when the model says it should, for random call sequences.

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use taskweave_breaker::{Breaker, Outcome, State};

const SLOW: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
struct Call {
    outcome: Outcome,
    slow: bool,
    /// Time passed before the call, for time windows.
    after_ms: u64,
}

fn call(max_gap_ms: u64) -> impl Strategy<Value = Call> {
    (
        prop_oneof![
            // Mostly successes, so that long clean runs (and the steady fast path) happen.
            6 => Just(Outcome::Success),
            2 => Just(Outcome::Failure),
            1 => Just(Outcome::Ignored),
        ],
        proptest::bool::weighted(0.15),
        0..=max_gap_ms,
    )
        .prop_map(|(outcome, slow, after_ms)| Call {
            outcome,
            slow,
            after_ms,
        })
}

fn trips(calls: u64, failed: u64, slow: u64, threshold: f64, slow_threshold: f64) -> bool {
    let rate = |n: u64| n as f64 / calls as f64;
    rate(failed) >= threshold || rate(slow) >= slow_threshold
}

/// Records `c` through a permit, with its duration given.
fn record(breaker: &Breaker, c: Call) -> bool {
    match breaker.try_acquire() {
        Ok(permit) => {
            let took = if c.slow { SLOW } else { Duration::ZERO };
            permit.record_elapsed(c.outcome, took);
            true
        }
        Err(_) => false,
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn count_window_matches_the_last_n_calls(
        size in 1usize..24,
        min_fraction in 0.0f64..=1.0,
        threshold in 0.2f64..=1.0,
        slow_threshold in 0.2f64..=1.0,
        calls in proptest::collection::vec(call(0), 1..400),
    ) {
        let minimum = ((size as f64 * min_fraction).ceil() as usize).max(1);
        let breaker = Breaker::builder()
            .count_window(size)
            .minimum_calls(minimum)
            .failure_rate_threshold(threshold)
            .slow_call_rate_threshold(slow_threshold)
            .slow_call_duration(SLOW)
            .build()
            .unwrap();
        let mut model: VecDeque<(bool, bool)> = VecDeque::new();
        for c in calls {
            prop_assert!(record(&breaker, c), "a closed breaker admits every call");
            if c.outcome != Outcome::Ignored {
                model.push_back((c.outcome == Outcome::Failure, c.slow));
                if model.len() > size {
                    model.pop_front();
                }
            }
            let n = model.len() as u64;
            let failed = model.iter().filter(|e| e.0).count() as u64;
            let slow = model.iter().filter(|e| e.1).count() as u64;
            let m = breaker.metrics();
            prop_assert_eq!((m.buffered_calls, m.failed_calls, m.slow_calls), (n, failed, slow));
            if c.outcome != Outcome::Ignored
                && n >= minimum as u64
                && trips(n, failed, slow, threshold, slow_threshold)
            {
                prop_assert_eq!(breaker.state(), State::Open);
                prop_assert!(breaker.try_acquire().is_err());
                return Ok(());
            }
            prop_assert_eq!(breaker.state(), State::Closed);
        }
    }

    #[test]
    fn time_window_matches_the_calls_of_the_last_buckets(
        buckets in 1usize..8,
        bucket_ms in 1u64..2000,
        minimum in 1usize..10,
        threshold in 0.2f64..=1.0,
        slow_threshold in 0.2f64..=1.0,
        calls in proptest::collection::vec(call(3000), 1..200),
    ) {
        paused_runtime().block_on(async {
            let bucket = Duration::from_millis(bucket_ms);
            let breaker = Breaker::builder()
                .time_window(bucket * buckets as u32, buckets)
                .minimum_calls(minimum)
                .failure_rate_threshold(threshold)
                .slow_call_rate_threshold(slow_threshold)
                .slow_call_duration(SLOW)
                .build()
                .unwrap();
            let start = tokio::time::Instant::now();
            // (bucket number, failed, slow) of every recorded call.
            let mut model: Vec<(u64, bool, bool)> = Vec::new();
            for c in calls {
                tokio::time::advance(Duration::from_millis(c.after_ms)).await;
                let now = (tokio::time::Instant::now() - start).as_millis() as u64 / bucket_ms;
                prop_assert!(record(&breaker, c), "a closed breaker admits every call");
                if c.outcome != Outcome::Ignored {
                    model.push((now, c.outcome == Outcome::Failure, c.slow));
                }
                let live = model.iter().filter(|e| now - e.0 < buckets as u64);
                let (n, failed, slow) = live.fold((0, 0, 0), |(n, f, s), e| {
                    (n + 1, f + u64::from(e.1), s + u64::from(e.2))
                });
                let m = breaker.metrics();
                prop_assert_eq!((m.buffered_calls, m.failed_calls, m.slow_calls), (n, failed, slow));
                if c.outcome != Outcome::Ignored
                    && n >= minimum as u64
                    && trips(n, failed, slow, threshold, slow_threshold)
                {
                    prop_assert_eq!(breaker.state(), State::Open);
                    return Ok(());
                }
                prop_assert_eq!(breaker.state(), State::Closed);
            }
            Ok(())
        })?;
    }
}
