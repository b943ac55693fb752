//! The async retry loop, on a paused clock: delays slept, stop reasons, hooks, hints,
//! cancellation and budgets.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use taskweave_backoff::{Backoff, Jitter, RetryBudget, RetryExt, StopReason, retry};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
enum Failure {
    Transient,
    Permanent,
    Throttled(Duration),
}

/// An operation failing with `errors` in order, then succeeding with the attempt number.
fn flaky(
    errors: Vec<Failure>,
) -> (
    Arc<AtomicU32>,
    impl FnMut() -> std::future::Ready<Result<u32, Failure>>,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let op = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        std::future::ready(match errors.get(n as usize) {
            Some(e) => Err(e.clone()),
            None => Ok(n + 1),
        })
    };
    (calls, op)
}

fn exponential(attempts: u32) -> Backoff {
    Backoff::exponential(10 * MS)
        .max_attempts(attempts)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn succeeds_after_sleeping_each_policy_delay() {
    let (calls, op) = flaky(vec![Failure::Transient; 3]);
    let start = Instant::now();
    let value = retry(exponential(5), op).await.unwrap();
    assert_eq!(value, 4);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), 70 * MS, "slept 10 + 20 + 40 ms");
}

#[tokio::test(start_paused = true)]
async fn gives_up_when_attempts_are_exhausted() {
    let (calls, op) = flaky(vec![Failure::Transient; 10]);
    let err = retry(exponential(3), op).await.unwrap_err();
    assert_eq!(err.reason(), StopReason::Exhausted);
    assert_eq!(err.attempts(), 3);
    assert_eq!(err.error(), &Failure::Transient);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        err.to_string(),
        "gave up after 3 attempts (attempts exhausted): Transient"
    );
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[tokio::test(start_paused = true)]
async fn errors_the_predicate_rejects_return_at_once() {
    let (calls, op) = flaky(vec![
        Failure::Transient,
        Failure::Permanent,
        Failure::Transient,
    ]);
    let start = Instant::now();
    let err = retry(exponential(10), op)
        .when(|e| *e == Failure::Transient)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), StopReason::NotRetryable);
    assert_eq!(err.attempts(), 2);
    assert_eq!(err.into_error(), Failure::Permanent);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        start.elapsed(),
        10 * MS,
        "one sleep, before the second attempt"
    );
}

#[tokio::test(start_paused = true)]
async fn notify_sees_error_attempt_and_delay_before_each_sleep() {
    let (_, op) = flaky(vec![Failure::Transient; 3]);
    let seen = RefCell::new(Vec::new());
    retry(exponential(5), op)
        .notify(|e, attempt, delay| seen.borrow_mut().push((e.clone(), attempt, delay)))
        .await
        .unwrap();
    assert_eq!(
        seen.into_inner(),
        [
            (Failure::Transient, 1, 10 * MS),
            (Failure::Transient, 2, 20 * MS),
            (Failure::Transient, 3, 40 * MS),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_hint_overrides_the_delay_but_stays_capped() {
    let policy = Backoff::exponential(10 * MS)
        .max_delay(500 * MS)
        .max_attempts(5)
        .build()
        .unwrap();
    let (_, op) = flaky(vec![
        Failure::Throttled(300 * MS),
        Failure::Transient,
        Failure::Throttled(Duration::from_secs(60)),
    ]);
    let slept = RefCell::new(Vec::new());
    let start = Instant::now();
    retry(policy, op)
        .retry_after(|e| match e {
            Failure::Throttled(after) => Some(*after),
            _ => None,
        })
        .notify(|_, _, delay| slept.borrow_mut().push(delay))
        .await
        .unwrap();
    // The hint replaces the policy's 10 ms, the policy's own 20 ms follows, and the 60 s hint is
    // clamped to the 500 ms cap.
    assert_eq!(slept.into_inner(), [300 * MS, 20 * MS, 500 * MS]);
    assert_eq!(start.elapsed(), 820 * MS);
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_sleep_ends_the_wait_at_once() {
    let policy = Backoff::constant(Duration::from_secs(3600))
        .max_attempts(10)
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let (calls, op) = flaky(vec![Failure::Transient; 10]);
    let start = Instant::now();
    let task = tokio::spawn(retry(policy, op).cancellation_token(token.clone()));
    tokio::time::sleep(Duration::from_secs(5)).await;
    token.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.reason(), StopReason::Cancelled);
    assert_eq!(err.attempts(), 1);
    assert_eq!(err.into_error(), Failure::Transient);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(5),
        "did not wait out the hour"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_after_cancellation_is_not_retried() {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let mut calls = 0;
    let err = retry(exponential(10), || {
        calls += 1;
        // The token fires while the first attempt runs.
        cancel.cancel();
        async { Err::<(), _>(Failure::Transient) }
    })
    .cancellation_token(token)
    .await
    .unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Cancelled, 1));
    assert_eq!(calls, 1);
}

#[tokio::test(start_paused = true)]
async fn the_time_budget_stops_before_a_sleep_that_would_overrun_it() {
    let policy = Backoff::constant(100 * MS)
        .max_attempts(100)
        .max_elapsed(Duration::from_millis(450))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = retry(policy, || async {
        tokio::time::sleep(20 * MS).await;
        Err::<(), _>(Failure::Transient)
    })
    .await
    .unwrap_err();
    // Attempts start at 0, 120, 240, 360 ms; after the 4th fails at 380 ms a 100 ms sleep would
    // end at 480 ms, past the 450 ms budget.
    assert_eq!((err.reason(), err.attempts()), (StopReason::TimeBudget, 4));
    assert_eq!(start.elapsed(), 380 * MS);
}

#[tokio::test(start_paused = true)]
async fn a_shared_budget_bounds_retries_across_calls() {
    let budget = RetryBudget::builder()
        .ratio(0.5)
        .capacity(3)
        .initial(2)
        .build()
        .unwrap();
    let policy = Backoff::constant(MS).max_attempts(10).build().unwrap();
    let down = || async { Err::<(), _>(Failure::Transient) };

    let err = retry(policy, down)
        .budget(budget.clone())
        .await
        .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::BudgetExhausted, 3)
    );
    let err = retry(policy, down)
        .budget(budget.clone())
        .await
        .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::BudgetExhausted, 1)
    );
    assert_eq!(budget.denied(), 2);

    // Two successful calls earn one retry back.
    for _ in 0..2 {
        retry(policy, || async { Ok::<_, Failure>(()) })
            .budget(budget.clone())
            .await
            .unwrap();
    }
    let err = retry(policy, down)
        .budget(budget.clone())
        .await
        .unwrap_err();
    assert_eq!(
        (err.reason(), err.attempts()),
        (StopReason::BudgetExhausted, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_error_does_not_spend_the_budget() {
    let budget = RetryBudget::builder().capacity(1).build().unwrap();
    let err = retry(exponential(3), || async {
        Err::<(), _>(Failure::Permanent)
    })
    .when(|e| *e == Failure::Transient)
    .budget(budget.clone())
    .await
    .unwrap_err();
    assert_eq!(err.reason(), StopReason::NotRetryable);
    assert_eq!(budget.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_extension_trait_retries_an_async_fn() {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    async fn twice_busy() -> Result<u32, Failure> {
        match CALLS.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Err(Failure::Transient),
            n => Ok(n + 1),
        }
    }
    let policy = Backoff::decorrelated(MS)
        .max_delay(50 * MS)
        .jitter(Jitter::Full)
        .seed(9)
        .max_attempts(5)
        .build()
        .unwrap();
    assert_eq!(twice_busy.retry(policy).await, Ok(3));
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_retry() {
    let policy = Backoff::default();
    let single = Backoff::exponential(MS).max_attempts(1).build().unwrap();
    let (calls, op) = flaky(vec![Failure::Transient]);
    let err = retry(single, op).await.unwrap_err();
    assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 1));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (_, op) = flaky(vec![Failure::Transient]);
    assert_eq!(retry(policy, op).await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn the_error_reports_its_source_and_maps() {
    let err = retry(exponential(2), || async {
        Err::<(), _>(std::io::Error::other("disk on fire"))
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up after 2 attempts (attempts exhausted): disk on fire"
    );
    let source = std::error::Error::source(&err).expect("the last error is the source");
    assert_eq!(source.to_string(), "disk on fire");
    let mapped = err.map_err(|e| e.kind());
    assert_eq!(mapped.error(), &std::io::ErrorKind::Other);
    assert_eq!(
        (mapped.reason(), mapped.attempts()),
        (StopReason::Exhausted, 2)
    );
}

#[test]
fn retry_futures_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let fut = retry(exponential(2), || async { Ok::<_, std::io::Error>(1) });
    assert_send(&fut);
}
