//! Invariants of the retry loop on a paused clock: attempts never exceed the limit, and no
//! attempt starts after the total time budget.

use std::time::Duration;

use proptest::prelude::*;
use taskweave_backoff::{Backoff, Jitter, StopReason, retry};
use tokio::time::Instant;

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
    fn attempts_never_exceed_the_limit(
        max_attempts in 1u32..30,
        failures in 0u32..40,
        base_ms in 1u64..500,
        seed in any::<u64>(),
    ) {
        let policy = Backoff::exponential(Duration::from_millis(base_ms))
            .max_delay(Duration::from_secs(5))
            .jitter(Jitter::Full)
            .seed(seed)
            .max_attempts(max_attempts)
            .build()
            .unwrap();
        let (calls, result) = paused_runtime().block_on(async {
            let mut calls = 0u32;
            let result = retry(policy, || {
                calls += 1;
                let fail = calls <= failures;
                async move { if fail { Err(calls) } else { Ok(calls) } }
            })
            .await;
            (calls, result)
        });
        prop_assert!(calls <= max_attempts);
        match result {
            Ok(n) => {
                prop_assert!(failures < max_attempts);
                prop_assert_eq!(n, failures + 1);
                prop_assert_eq!(calls, failures + 1);
            }
            Err(e) => {
                prop_assert!(failures >= max_attempts);
                prop_assert_eq!(e.reason(), StopReason::Exhausted);
                prop_assert_eq!(e.attempts(), max_attempts);
                prop_assert_eq!(calls, max_attempts);
            }
        }
    }

    #[test]
    fn no_attempt_starts_after_the_time_budget(
        budget_ms in 1u64..5_000,
        base_ms in 1u64..300,
        work_ms in prop::collection::vec(1u64..200, 1..40),
        hint_ms in prop::option::of(0u64..400),
        seed in any::<u64>(),
    ) {
        let budget = Duration::from_millis(budget_ms);
        let policy = Backoff::exponential(Duration::from_millis(base_ms))
            .max_delay(Duration::from_millis(1_000))
            .jitter(Jitter::Equal)
            .seed(seed)
            .max_attempts(u32::MAX)
            .max_elapsed(budget)
            .build()
            .unwrap();
        let (starts, err) = paused_runtime().block_on(async {
            let start = Instant::now();
            let mut starts = Vec::new();
            let err = retry(policy, || {
                let i = starts.len();
                starts.push(start.elapsed());
                let work = Duration::from_millis(work_ms[i % work_ms.len()]);
                async move {
                    tokio::time::sleep(work).await;
                    Err::<(), _>(i)
                }
            })
            .retry_after(|_| hint_ms.map(Duration::from_millis))
            .await
            .unwrap_err();
            (starts, err)
        });
        prop_assert_eq!(err.reason(), StopReason::TimeBudget);
        prop_assert_eq!(err.attempts() as usize, starts.len());
        for s in starts {
            prop_assert!(s <= budget, "an attempt started at {:?}, past the {:?} budget", s, budget);
        }
    }
}
