//! The blocking retry loop: same decisions as the async one, and a cancellation token that wakes
//! the sleeping thread.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use taskweave_backoff::{Backoff, RetryBudget, StopReason, retry_blocking};
use tokio_util::sync::CancellationToken;

fn immediate(attempts: u32) -> Backoff {
    Backoff::constant(Duration::ZERO)
        .max_attempts(attempts)
        .build()
        .unwrap()
}

#[test]
fn retries_until_success_and_reports_each_attempt() {
    let mut calls = 0;
    let mut seen = Vec::new();
    let value = retry_blocking(immediate(5), || {
        calls += 1;
        if calls < 4 { Err(calls) } else { Ok("done") }
    })
    .notify(|e, attempt, delay| seen.push((*e, attempt, delay)))
    .call();
    assert_eq!(value, Ok("done"));
    assert_eq!(
        seen,
        [
            (1, 1, Duration::ZERO),
            (2, 2, Duration::ZERO),
            (3, 3, Duration::ZERO)
        ]
    );
}

#[test]
fn stop_reasons_match_the_async_loop() {
    let err = retry_blocking(immediate(3), || Err::<(), _>("down"))
        .call()
        .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 3));

    let err = retry_blocking(immediate(3), || Err::<(), _>("bad input"))
        .when(|e| *e == "down")
        .call()
        .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::NotRetryable, 1)
    );

    let budget = RetryBudget::builder().capacity(1).build().unwrap();
    let err = retry_blocking(immediate(10), || Err::<(), _>("down"))
        .budget(budget)
        .call()
        .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::BudgetExhausted, 2)
    );
}

#[test]
fn a_server_hint_is_capped_by_the_policy() {
    let policy = Backoff::constant(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .max_attempts(3)
        .build()
        .unwrap();
    let started = Instant::now();
    let mut slept = Vec::new();
    let err = retry_blocking(policy, || Err::<(), _>("throttled"))
        .retry_after(|_| Some(Duration::from_secs(3600)))
        .notify(|_, _, delay| slept.push(delay))
        .call()
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(slept, [Duration::ZERO, Duration::ZERO]);
    assert!(started.elapsed() < Duration::from_secs(3600));
}

#[test]
fn cancelling_wakes_a_thread_sleeping_between_attempts() {
    // An hour-long delay: the test can only finish if cancellation cuts the sleep short.
    let policy = Backoff::constant(Duration::from_secs(3600))
        .max_attempts(10)
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let (about_to_sleep, sleeping) = mpsc::channel();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            sleeping.recv().unwrap();
            token.cancel();
        })
    };
    let mut calls = 0;
    let err = retry_blocking(policy, || {
        calls += 1;
        Err::<(), _>("down")
    })
    .notify(|_, _, _| about_to_sleep.send(()).unwrap())
    .cancellation_token(token)
    .call()
    .unwrap_err();
    canceller.join().unwrap();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Cancelled, 1));
    assert_eq!(calls, 1);
}

#[test]
fn an_already_cancelled_token_stops_after_the_first_failure() {
    let token = CancellationToken::new();
    token.cancel();
    let err = retry_blocking(immediate(5), || Err::<(), _>("down"))
        .cancellation_token(token)
        .call()
        .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Cancelled, 1));
}
