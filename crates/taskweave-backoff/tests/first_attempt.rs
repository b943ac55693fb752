//! The first attempt runs on the loop's inlined fast path and later attempts on its out-of-line
//! one: both must survive pending attempts, hand over correctly, and refuse a poll after the end.

use std::cell::Cell;
use std::time::Duration;

use taskweave_backoff::{Backoff, StopReason, retry};
use tokio_util::sync::CancellationToken;

const MS: Duration = Duration::from_millis(1);

fn constant(attempts: u32) -> Backoff {
    Backoff::constant(10 * MS)
        .max_attempts(attempts)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn pending_attempts_resume_before_and_after_the_first_failure() {
    let calls = Cell::new(0u32);
    let start = tokio::time::Instant::now();
    let value = retry(constant(3), || {
        calls.set(calls.get() + 1);
        let n = calls.get();
        async move {
            // Each attempt is pending once before it finishes.
            tokio::time::sleep(5 * MS).await;
            if n < 3 { Err("busy") } else { Ok(n) }
        }
    })
    .await
    .unwrap();
    assert_eq!(value, 3);
    assert_eq!(calls.get(), 3);
    // Three attempts of 5 ms and two delays of 10 ms.
    assert_eq!(start.elapsed(), 35 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_first_failure_that_is_not_retried_reports_one_attempt() {
    let err = retry(constant(3), || async {
        tokio::task::yield_now().await;
        Err::<(), _>("bad request")
    })
    .when(|e| *e != "bad request")
    .await
    .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::NotRetryable, 1)
    );
    assert_eq!(err.into_error(), "bad request");
}

#[tokio::test(start_paused = true)]
async fn the_token_and_budget_slots_work_on_the_first_attempt_too() {
    let token = CancellationToken::new();
    token.cancel();
    // Cancelled before the first attempt: it still runs, and its failure is not retried.
    let err = retry(constant(3), || async { Err::<(), _>("down") })
        .cancellation_token(token)
        .await
        .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Cancelled, 1));

    let budget = taskweave_backoff::RetryBudget::builder()
        .ratio(1.0)
        .capacity(1)
        .initial(0)
        .build()
        .unwrap();
    retry(constant(3), || async { Ok::<_, &str>(()) })
        .budget(budget.clone())
        .await
        .unwrap();
    assert_eq!(budget.available(), 1, "a first-attempt success deposits");
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "Retry polled after completion")]
async fn polling_after_a_final_error_panics() {
    let mut fut = std::pin::pin!(retry(constant(1), || async { Err::<(), _>("down") }));
    let err = fut.as_mut().await.unwrap_err();
    assert_eq!(err.reason(), StopReason::Exhausted);
    let _ = fut.as_mut().await;
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "Retry polled after completion")]
async fn polling_after_giving_up_on_a_retry_panics() {
    let mut fut = std::pin::pin!(retry(constant(2), || async { Err::<(), _>("down") }));
    let err = fut.as_mut().await.unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 2));
    let _ = fut.as_mut().await;
}
