//! The retry service stacked with tower's own middleware — `Timeout`, `Buffer`,
//! `ConcurrencyLimit` — inside and outside it, with the errors downcast at the top: a
//! `GaveUp` for a call it retried and gave up on, tower's `Elapsed` as it is otherwise.
#![cfg(feature = "tower")]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use taskweave_backoff::{Backoff, GaveUp, RetryLayer, StopReason};
use tokio::time::Instant;
use tower::buffer::Buffer;
use tower::limit::ConcurrencyLimit;
use tower::timeout::Timeout;
use tower::timeout::error::Elapsed;
use tower::{BoxError, Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);
const TIMEOUT: Duration = Duration::from_millis(100);

/// A remote whose first `slow` calls hang for an hour (until a timeout drops them) and whose
/// later calls echo the request at once; counts calls and the most ever in flight.
#[derive(Clone)]
struct Remote {
    slow: u32,
    calls: Arc<AtomicU32>,
    in_flight: Arc<AtomicU32>,
    max_in_flight: Arc<AtomicU32>,
}

impl Remote {
    fn new(slow: u32) -> Self {
        Self {
            slow,
            calls: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        }
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Counts a call out of flight when it ends, finished or dropped by a timeout.
struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Service<u32> for Remote {
    type Response = u32;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<u32, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u32) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(Arc::clone(&self.in_flight));
        let slow = n < self.slow;
        Box::pin(async move {
            let _guard = guard;
            if slow {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(request)
        })
    }
}

/// The predicate the guides recommend for a stack with a timeout: classify by downcasting.
fn is_timeout(error: &BoxError) -> bool {
    error.is::<Elapsed>()
}

/// Retries timeouts only, 10 ms apart, at most `attempts` calls.
fn retry_timeouts(attempts: u32) -> RetryLayer<fn(&BoxError) -> bool> {
    let policy = Backoff::constant(10 * MS)
        .max_attempts(attempts)
        .build()
        .unwrap();
    RetryLayer::new(policy).when(is_timeout as fn(&BoxError) -> bool)
}

/// A `GaveUp`'s reason and attempts, after checking that its last error is tower's `Elapsed`.
fn gave_up_on_a_timeout(err: &BoxError) -> (StopReason, u32) {
    let gave_up = err
        .downcast_ref::<GaveUp>()
        .unwrap_or_else(|| panic!("expected a GaveUp, got {err}"));
    assert!(gave_up.error().is::<Elapsed>(), "{gave_up}");
    let source = std::error::Error::source(gave_up).expect("the last error is the source");
    assert!(source.is::<Elapsed>());
    (gave_up.reason(), gave_up.attempts())
}

#[tokio::test(start_paused = true)]
async fn a_call_that_times_out_is_retried_and_then_succeeds() {
    let remote = Remote::new(2);
    let svc = retry_timeouts(5).layer(Timeout::new(remote.clone(), TIMEOUT));
    let start = Instant::now();
    assert_eq!(svc.oneshot(7).await.unwrap(), 7);
    assert_eq!(remote.calls(), 3);
    assert_eq!(start.elapsed(), 2 * (TIMEOUT + 10 * MS));
    assert_eq!(
        remote.in_flight.load(Ordering::SeqCst),
        0,
        "timed-out calls dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn retried_timeouts_give_up_with_elapsed_as_the_last_error() {
    let remote = Remote::new(u32::MAX);
    let svc = retry_timeouts(3).layer(Timeout::new(remote.clone(), TIMEOUT));
    let err = svc.oneshot(7).await.unwrap_err();
    assert_eq!(gave_up_on_a_timeout(&err), (StopReason::Exhausted, 3));
    assert!(
        err.to_string().starts_with("gave up after 3 attempts"),
        "{err}"
    );
    assert_eq!(remote.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_the_predicate_does_not_retry_passes_through_as_it_is() {
    let remote = Remote::new(u32::MAX);
    let policy = Backoff::constant(10 * MS).max_attempts(3).build().unwrap();
    let svc = RetryLayer::new(policy)
        .when(|e: &BoxError| !e.is::<Elapsed>())
        .layer(Timeout::new(remote.clone(), TIMEOUT));
    let err = svc.oneshot(7).await.unwrap_err();
    assert!(err.is::<Elapsed>(), "{err}");
    assert_eq!(remote.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_outside_the_retry_bounds_the_whole_loop() {
    let remote = Remote::new(u32::MAX);
    let policy = Backoff::constant(Duration::from_secs(1))
        .max_attempts(100)
        .build()
        .unwrap();
    // Inner calls time out after 100 ms and are retried a second apart; the outer timeout ends
    // the loop during its third wait.
    let svc = Timeout::new(
        RetryLayer::new(policy).layer(Timeout::new(remote.clone(), TIMEOUT)),
        Duration::from_millis(2500),
    );
    let start = Instant::now();
    let err = svc.oneshot(7).await.unwrap_err();
    assert!(err.is::<Elapsed>(), "the outer timeout's own error: {err}");
    assert_eq!(start.elapsed(), Duration::from_millis(2500));
    assert_eq!(remote.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_retry_outside_a_buffer_retries_through_it() {
    let remote = Remote::new(2);
    let buffered = Buffer::new(Timeout::new(remote.clone(), TIMEOUT), 8);
    let svc = retry_timeouts(5).layer(buffered);
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    assert_eq!(remote.calls(), 3);

    // The buffer hands the inner Elapsed through unchanged, so the retry still recognises it.
    let remote = Remote::new(u32::MAX);
    let svc = retry_timeouts(2).layer(Buffer::new(Timeout::new(remote.clone(), TIMEOUT), 8));
    let err = svc.oneshot(7).await.unwrap_err();
    assert_eq!(gave_up_on_a_timeout(&err), (StopReason::Exhausted, 2));
}

#[tokio::test(start_paused = true)]
async fn a_buffer_outside_the_retry_hands_back_its_errors() {
    let remote = Remote::new(2);
    let svc = Buffer::new(
        retry_timeouts(5).layer(Timeout::new(remote.clone(), TIMEOUT)),
        8,
    );
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    assert_eq!(remote.calls(), 3);

    let remote = Remote::new(u32::MAX);
    let svc = Buffer::new(
        retry_timeouts(2).layer(Timeout::new(remote.clone(), TIMEOUT)),
        8,
    );
    let err = svc.oneshot(7).await.unwrap_err();
    assert_eq!(gave_up_on_a_timeout(&err), (StopReason::Exhausted, 2));
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_limit_inside_the_retry_holds_a_permit_per_attempt() {
    // Two calls through a limit of one: each attempt waits for the permit in `poll_ready`, so
    // the remote never sees two calls at once, and both calls get through.
    let remote = Remote::new(2);
    let svc = retry_timeouts(5).layer(ConcurrencyLimit::new(
        Timeout::new(remote.clone(), TIMEOUT),
        1,
    ));
    let (a, b) = tokio::join!(svc.clone().oneshot(1), svc.clone().oneshot(2));
    assert_eq!((a.unwrap(), b.unwrap()), (1, 2));
    assert_eq!(remote.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(remote.calls(), 4);

    let remote = Remote::new(u32::MAX);
    let svc = retry_timeouts(2).layer(ConcurrencyLimit::new(
        Timeout::new(remote.clone(), TIMEOUT),
        1,
    ));
    let err = svc.oneshot(7).await.unwrap_err();
    assert_eq!(gave_up_on_a_timeout(&err), (StopReason::Exhausted, 2));
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_limit_outside_the_retry_holds_a_permit_for_the_whole_loop() {
    let remote = Remote::new(2);
    let svc = ConcurrencyLimit::new(
        retry_timeouts(5).layer(Timeout::new(remote.clone(), TIMEOUT)),
        1,
    );
    let start = Instant::now();
    let first = svc.clone().oneshot(1);
    let second = async {
        let reply = svc.clone().oneshot(2).await;
        (reply, start.elapsed())
    };
    let (first, (second, second_done)) = tokio::join!(first, second);
    assert_eq!(first.unwrap(), 1);
    assert_eq!(second.unwrap(), 2);
    // The first call's two timeouts and waits run before the second call may start at all.
    assert_eq!(second_done, 2 * (TIMEOUT + 10 * MS));
    assert_eq!(remote.max_in_flight.load(Ordering::SeqCst), 1);

    let remote = Remote::new(u32::MAX);
    let svc = ConcurrencyLimit::new(
        retry_timeouts(2).layer(Timeout::new(remote.clone(), TIMEOUT)),
        1,
    );
    let err = svc.oneshot(7).await.unwrap_err();
    assert_eq!(gave_up_on_a_timeout(&err), (StopReason::Exhausted, 2));
}
