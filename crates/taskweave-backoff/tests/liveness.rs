//! Liveness of the retry future: it completes under a waker that changes on every poll without
//! waking itself in a loop, and absurd durations, factors and hints neither panic nor overflow.

use std::time::Duration;

use taskweave_backoff::{Backoff, Jitter, RetryBudget, StopReason, retry, retry_blocking};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};
use tokio_util::sync::CancellationToken;

const MS: Duration = Duration::from_millis(1);

fn failing_then_ok(failures: u32) -> impl FnMut() -> std::future::Ready<Result<u32, &'static str>> {
    let mut calls = 0;
    move || {
        calls += 1;
        std::future::ready(if calls <= failures {
            Err("busy")
        } else {
            Ok(calls)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn sleeping_between_attempts_under_fresh_wakers_polls_once_per_sleep() {
    let policy = Backoff::exponential(10 * MS)
        .max_attempts(6)
        .build()
        .unwrap();
    let (result, polls) = FreshWakers::new(retry(policy, failing_then_ok(5))).await;
    assert_eq!(result, Ok(6));
    // One poll to start and one per elapsed sleep: five sleeps.
    assert!(
        polls <= 6 + 2,
        "{polls} polls for five sleeps: a self-wake spin?"
    );
}

#[tokio::test(start_paused = true)]
async fn pending_attempts_under_fresh_wakers_complete_without_spinning() {
    let policy = Backoff::constant(10 * MS).max_attempts(4).build().unwrap();
    let mut calls = 0;
    let fut = retry(policy, || {
        calls += 1;
        let n = calls;
        async move {
            tokio::time::sleep(5 * MS).await;
            if n < 4 { Err("busy") } else { Ok(n) }
        }
    });
    let (result, polls) = FreshWakers::new(fut).await;
    assert_eq!(result, Ok(4));
    // Four attempts pending once each, three sleeps.
    assert!(polls <= 4 + 3 + 2, "{polls} polls");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_under_fresh_wakers_ends_at_once() {
    let token = CancellationToken::new();
    let policy = Backoff::constant(Duration::from_secs(3600))
        .max_attempts(3)
        .build()
        .unwrap();
    let canceller = {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(50 * MS).await;
            token.cancel();
        })
    };
    let start = tokio::time::Instant::now();
    let fut = retry(policy, || async { Err::<(), _>("down") }).cancellation_token(token);
    let (result, polls) = FreshWakers::new(fut).await;
    let err = result.unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Cancelled, 1));
    assert_eq!(start.elapsed(), 50 * MS);
    assert!(polls <= 3, "{polls} polls");
    canceller.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_longest_delays_neither_panic_nor_overflow() {
    // A delay of `Duration::MAX` (saturating to about 584 years) ends by cancellation.
    let token = CancellationToken::new();
    let policy = Backoff::constant(Duration::MAX)
        .max_attempts(u32::MAX)
        .max_elapsed(Duration::MAX)
        .jitter(Jitter::Equal)
        .build()
        .unwrap();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(86_400)).await;
        cancel.cancel();
    });
    let err = retry(policy, || async { Err::<(), _>("down") })
        .cancellation_token(token)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::Cancelled);

    // Runs the sleep to its end: the paused clock jumps as far as tokio's timer goes.
    let policy = Backoff::exponential(Duration::MAX)
        .factor(f64::MAX)
        .max_attempts(2)
        .build()
        .unwrap();
    let err = retry(policy, || async { Err::<(), _>("down") })
        .await
        .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 2));

    // A server hint of `Duration::MAX` is capped like any other delay.
    let policy = Backoff::constant(MS)
        .max_delay(Duration::from_secs(1))
        .max_attempts(2)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = retry(policy, || async { Err::<(), _>("slow down") })
        .retry_after(|_| Some(Duration::MAX))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[test]
fn absurd_budget_settings_saturate() {
    let budget = RetryBudget::builder()
        .ratio(1e300)
        .capacity(u32::MAX)
        .initial(0)
        .build()
        .unwrap();
    budget.deposit();
    assert_eq!(budget.available(), u32::MAX);
    assert!(budget.try_withdraw());
}

#[test]
fn a_blocking_loop_sleeping_for_ever_wakes_on_cancellation() {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        cancel.cancel();
    });
    let err = finishes_within(
        HANG_LIMIT,
        "blocking retry with a Duration::MAX delay",
        move || {
            let policy = Backoff::constant(Duration::MAX).build().unwrap();
            retry_blocking(policy, || Err::<(), _>("down"))
                .cancellation_token(token)
                .call()
                .unwrap_err()
        },
    );
    assert_eq!(err.reason(), StopReason::Cancelled);
    canceller.join().unwrap();
}
