//! The tower layer: retries a service's failed calls with the policy, predicate, hint, token
//! and budget; its error is a `BoxError` (a `GaveUp` when it gave up, the inner error as it is
//! when it did not retry). Composition with tower's own middleware is in `tower_stack.rs`.
#![cfg(feature = "tower")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use taskweave_backoff::{Backoff, GaveUp, RetryBudget, RetryLayer, StopReason};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::{BoxError, Layer, Service, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, PartialEq)]
enum Error {
    Busy,
    BadRequest,
    SlowDown(Duration),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Error {}

/// The `GaveUp` a retried call ended with: its reason and attempt count.
fn gave_up(err: &BoxError) -> (StopReason, u32) {
    let gave_up = err
        .downcast_ref::<GaveUp>()
        .unwrap_or_else(|| panic!("expected a GaveUp, got {err}"));
    (gave_up.reason(), gave_up.attempts())
}

/// The inner error an error that was not retried passed through as.
fn inner(err: &BoxError) -> &Error {
    err.downcast_ref::<Error>()
        .unwrap_or_else(|| panic!("expected the inner error as it is, got {err}"))
}

/// A service failing `failures` times per request with `error`, then echoing the request.
fn flaky(
    failures: u32,
    error: Error,
) -> (
    Arc<AtomicU32>,
    impl Service<u32, Response = u32, Error = Error, Future: Send> + Clone,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let svc = service_fn(move |req: u32| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let error = error.clone();
        async move { if n < failures { Err(error) } else { Ok(req) } }
    });
    (calls, svc)
}

fn policy(attempts: u32) -> Backoff {
    Backoff::exponential(10 * MS)
        .max_delay(100 * MS)
        .max_attempts(attempts)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn retries_a_failing_service_until_it_answers() {
    let (calls, svc) = flaky(2, Error::Busy);
    let mut svc = RetryLayer::new(policy(5)).layer(svc);
    let start = Instant::now();
    let reply = svc.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(reply, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), 30 * MS);
}

#[tokio::test(start_paused = true)]
async fn the_predicate_and_attempt_limit_decide_when_to_stop() {
    let (_, svc) = flaky(100, Error::Busy);
    let layer =
        RetryLayer::new(policy(4)).when(|e: &BoxError| e.downcast_ref() == Some(&Error::Busy));
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(gave_up(&err), (StopReason::Exhausted, 4));
    let last = err.downcast::<GaveUp>().unwrap().into_error();
    assert_eq!(inner(&last), &Error::Busy);

    // Not retried: the inner error comes back as it is, not wrapped.
    let (calls, svc) = flaky(100, Error::BadRequest);
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert!(err.downcast_ref::<GaveUp>().is_none());
    assert_eq!(inner(&err), &Error::BadRequest);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hint_overrides_the_delay_and_notify_sees_it() {
    let (_, svc) = flaky(2, Error::SlowDown(Duration::from_secs(10)));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let layer = RetryLayer::new(policy(5))
        .retry_after(|e: &BoxError| match e.downcast_ref() {
            Some(Error::SlowDown(after)) => Some(*after),
            _ => None,
        })
        .notify(move |_: &BoxError, attempt, delay| log.lock().unwrap().push((attempt, delay)));
    let start = Instant::now();
    layer.layer(svc).oneshot(3).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, 100 * MS), (2, 100 * MS)],
        "capped at 100 ms"
    );
    assert_eq!(start.elapsed(), 200 * MS);
}

#[tokio::test(start_paused = true)]
async fn cancellation_ends_the_wait_and_the_budget_is_shared() {
    let token = CancellationToken::new();
    let slow = Backoff::constant(Duration::from_secs(3600))
        .max_attempts(3)
        .build()
        .unwrap();
    let (_, svc) = flaky(100, Error::Busy);
    let call = RetryLayer::new(slow)
        .cancellation_token(token.clone())
        .layer(svc)
        .oneshot(1);
    let task = tokio::spawn(call);
    tokio::time::sleep(MS).await;
    token.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(gave_up(&err), (StopReason::Cancelled, 1));
    assert_eq!(
        inner(err.downcast_ref::<GaveUp>().unwrap().error()),
        &Error::Busy,
        "the error that was being waited out"
    );

    let budget = RetryBudget::builder().capacity(2).build().unwrap();
    let layer = RetryLayer::new(policy(10)).budget(budget.clone());
    let (_, svc) = flaky(100, Error::Busy);
    let err = layer.layer(svc.clone()).oneshot(1).await.unwrap_err();
    assert_eq!(gave_up(&err), (StopReason::BudgetExhausted, 3));
    let err = layer.layer(svc).oneshot(1).await.unwrap_err();
    assert_eq!(gave_up(&err), (StopReason::BudgetExhausted, 1));
    assert_eq!(budget.denied(), 2);
}

#[tokio::test(start_paused = true)]
async fn readiness_errors_are_retried_like_call_errors() {
    /// Not ready (with an error) on every other poll_ready.
    #[derive(Clone)]
    struct Moody {
        polls: Arc<AtomicU32>,
    }
    impl Service<u32> for Moody {
        type Response = u32;
        type Error = Error;
        type Future = std::future::Ready<Result<u32, Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Error>> {
            let n = self.polls.fetch_add(1, Ordering::SeqCst);
            std::task::Poll::Ready(if n % 2 == 1 { Err(Error::Busy) } else { Ok(()) })
        }
        fn call(&mut self, req: u32) -> Self::Future {
            std::future::ready(if req > 0 { Err(Error::Busy) } else { Ok(req) })
        }
    }
    let svc = Moody {
        polls: Arc::new(AtomicU32::new(0)),
    };
    // The first call fails; the retry's readiness check fails too, then the next call fails:
    // three attempts, all counted.
    let err = RetryLayer::new(policy(3))
        .layer(svc)
        .oneshot(1)
        .await
        .unwrap_err();
    assert_eq!(gave_up(&err), (StopReason::Exhausted, 3));
}

#[tokio::test(start_paused = true)]
async fn a_readiness_error_before_any_call_passes_through_as_it_is() {
    #[derive(Clone)]
    struct Broken;
    impl Service<u32> for Broken {
        type Response = u32;
        type Error = Error;
        type Future = std::future::Ready<Result<u32, Error>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Error>> {
            std::task::Poll::Ready(Err(Error::BadRequest))
        }
        fn call(&mut self, req: u32) -> Self::Future {
            std::future::ready(Ok(req))
        }
    }
    let err = RetryLayer::new(policy(3))
        .layer(Broken)
        .oneshot(1)
        .await
        .unwrap_err();
    assert_eq!(inner(&err), &Error::BadRequest);
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_retries_the_service_without_a_timer() {
    let (calls, svc) = flaky(30, Error::Busy);
    let policy = Backoff::constant(Duration::ZERO)
        .max_attempts(31)
        .build()
        .unwrap();
    let mut svc = RetryLayer::new(policy).layer(svc);
    // Off the 1 ms timer grid, where a timer armed for "now" rounds up to the next tick.
    tokio::time::advance(Duration::from_micros(500)).await;
    let start = Instant::now();
    let reply = svc.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(reply, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 31);
    assert_eq!(Instant::now(), start, "a zero delay must not arm a timer");
}

#[tokio::test(start_paused = true)]
async fn the_response_future_completes_under_fresh_wakers_without_spinning() {
    let (calls, svc) = flaky(3, Error::Busy);
    let mut svc = RetryLayer::new(policy(5)).layer(svc);
    let fut = svc.ready().await.unwrap().call(9);
    let (reply, polls) = taskweave_testkit::FreshWakers::new(fut).await;
    assert_eq!(reply.unwrap(), 9);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // One poll to start, one per sleep (three).
    assert!(polls <= 4 + 2, "{polls} polls");
}
