//! The stack the guides recommend, over a real `tower::Service`, built with
//! `tower::ServiceBuilder` from the facade's layers:
//!
//! ```text
//! RateLimitLayer (waiting)  ─▶  RetryLayer  ─▶  BreakerLayer  ─▶  TimeoutLayer  ─▶  flaky service
//! outermost: rejections         retries each    sees every         bounds each
//! cost nothing below            failed attempt  attempt            attempt
//! ```
//!
//! Errors, rejections and retries are driven through it, and each error is reached by
//! `downcast_ref` on the `BoxError`: tower's `Elapsed` (through the retry's `GaveUp`), the
//! breaker's `Rejected`. The rate limit's backpressure is seen through `poll_ready`. The same
//! stack then runs behind tower's `Buffer` and under tower's `ConcurrencyLimit`. Time is paused:
//! deterministic, no real sleep; each test runs under a hang watchdog.
#![cfg(all(
    feature = "tower",
    feature = "limit",
    feature = "backoff",
    feature = "breaker"
))]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use taskweave::backoff::{Backoff, GaveUp, RetryLayer, StopReason};
use taskweave::breaker::{Breaker, BreakerLayer, Rejected, State};
use taskweave::limit::{Quota, RateLimitLayer, RateLimiter};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::time::{Instant, sleep, timeout};
use tower::timeout::TimeoutLayer;
use tower::timeout::error::Elapsed;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// The per-attempt timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(100);
/// How long the flaky service takes to answer normally.
const LATENCY: Duration = Duration::from_millis(10);
/// The retry's constant delay.
const RETRY_DELAY: Duration = Duration::from_millis(10);
/// A permit every 100 ms, no burst beyond one.
const RATE_INTERVAL: Duration = Duration::from_millis(100);
const MAX_ATTEMPTS: u32 = 3;

/// Runs `test` on a current-thread runtime with paused time, under the hang watchdog.
fn paused<F: Future<Output = ()> + 'static>(name: &str, test: impl FnOnce() -> F + Send + 'static) {
    finishes_within(HANG_LIMIT, name, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime")
            .block_on(test());
    });
}

/// What a request asks the flaky service to do.
#[derive(Debug, Clone, Copy)]
enum Req {
    /// Answer `id` after [`LATENCY`].
    Ok(u32),
    /// Fail the first attempt with [`Transient`], then answer.
    FailOnce(u32),
    /// Hang past the timeout on the first attempt, then answer.
    SlowOnce(u32),
    /// Hang past the timeout on every attempt.
    AlwaysSlow(u32),
    /// Fail every attempt with [`Transient`].
    Down(u32),
}

impl Req {
    fn id(self) -> u32 {
        match self {
            Req::Ok(id)
            | Req::FailOnce(id)
            | Req::SlowOnce(id)
            | Req::AlwaysSlow(id)
            | Req::Down(id) => id,
        }
    }
}

/// The flaky service's only error.
#[derive(Debug)]
struct Transient;

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("transient failure")
    }
}

impl std::error::Error for Transient {}

/// What the flaky service saw.
#[derive(Debug, Default)]
struct Log {
    /// Attempts per request id.
    attempts: HashMap<u32, u32>,
    /// When each attempt started, in order.
    starts: Vec<(u32, Instant)>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A real `tower::Service` that fails as its requests ask.
#[derive(Clone, Default)]
struct Flaky {
    log: Arc<Mutex<Log>>,
}

impl Flaky {
    fn attempts(&self, id: u32) -> u32 {
        self.log
            .lock()
            .unwrap()
            .attempts
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    fn starts(&self) -> Vec<(u32, Instant)> {
        self.log.lock().unwrap().starts.clone()
    }

    fn max_in_flight(&self) -> usize {
        self.log.lock().unwrap().max_in_flight
    }
}

/// Leaves `in_flight` when the attempt ends, including when the timeout drops it.
struct InFlight(Arc<Mutex<Log>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

impl Service<Req> for Flaky {
    type Response = u32;
    type Error = Transient;
    type Future = Pin<Box<dyn Future<Output = Result<u32, Transient>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Transient>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let attempt = {
            let mut log = self.log.lock().unwrap();
            let attempt = log.attempts.entry(req.id()).or_default();
            *attempt += 1;
            let attempt = *attempt;
            log.starts.push((req.id(), Instant::now()));
            log.in_flight += 1;
            log.max_in_flight = log.max_in_flight.max(log.in_flight);
            attempt
        };
        let guard = InFlight(Arc::clone(&self.log));
        Box::pin(async move {
            let _guard = guard;
            let hang = Duration::from_secs(60);
            match req {
                Req::FailOnce(_) if attempt == 1 => return Err(Transient),
                Req::Down(_) => return Err(Transient),
                Req::SlowOnce(_) if attempt == 1 => sleep(hang).await,
                Req::AlwaysSlow(_) => sleep(hang).await,
                _ => {}
            }
            sleep(LATENCY).await;
            Ok(req.id())
        })
    }
}

fn limiter() -> RateLimiter {
    RateLimiter::builder()
        .quota(Quota::new(1, RATE_INTERVAL))
        .build()
        .expect("valid limiter")
}

/// Opens when at least `threshold` of the last 4 calls failed, and stays open long enough for
/// the tests.
fn breaker(threshold: f64) -> Breaker {
    Breaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(threshold)
        .wait_duration(Duration::from_secs(30))
        .build()
        .expect("valid breaker")
}

/// Retries transient failures and timeouts, never a breaker's rejection.
fn retry_layer() -> RetryLayer<fn(&BoxError) -> bool> {
    let policy = Backoff::constant(RETRY_DELAY)
        .max_attempts(MAX_ATTEMPTS)
        .build()
        .expect("valid policy");
    RetryLayer::new(policy).when((|e: &BoxError| e.is::<Transient>() || e.is::<Elapsed>()) as _)
}

/// limit ─▶ retry ─▶ breaker ─▶ timeout ─▶ `flaky`.
fn stack(
    limiter: &RateLimiter,
    breaker: &Breaker,
    flaky: &Flaky,
) -> impl Service<Req, Response = u32, Error = BoxError, Future: Send> + Clone + Send + 'static {
    ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter.clone()))
        .layer(retry_layer())
        .layer(BreakerLayer::new(breaker.clone()))
        .layer(TimeoutLayer::new(ATTEMPT_TIMEOUT))
        .service(flaky.clone())
}

#[test]
fn a_transient_failure_is_retried_and_succeeds() {
    paused("transient", || async {
        let (limiter, breaker, flaky) = (limiter(), breaker(0.5), Flaky::default());
        let svc = stack(&limiter, &breaker, &flaky);

        assert_eq!(svc.oneshot(Req::FailOnce(1)).await.unwrap(), 1);
        assert_eq!(flaky.attempts(1), 2);
        // The breaker saw each attempt; the limiter admitted the call once, not per attempt.
        let m = breaker.metrics();
        assert_eq!((m.buffered_calls, m.failed_calls), (2, 1), "{m:?}");
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(limiter.metrics().admitted, 1);
    });
}

#[test]
fn a_timed_out_attempt_is_retried_and_a_call_that_always_times_out_gives_up_with_elapsed() {
    paused("timeouts", || async {
        // Only a window of nothing but failures opens it: this test is about the retry.
        let (limiter, breaker, flaky) = (limiter(), breaker(1.0), Flaky::default());
        let svc = stack(&limiter, &breaker, &flaky);

        let start = Instant::now();
        assert_eq!(svc.clone().oneshot(Req::SlowOnce(1)).await.unwrap(), 1);
        assert_eq!(flaky.attempts(1), 2);
        assert_eq!(start.elapsed(), ATTEMPT_TIMEOUT + RETRY_DELAY + LATENCY);

        let err = svc.oneshot(Req::AlwaysSlow(2)).await.unwrap_err();
        let gave_up = err
            .downcast_ref::<GaveUp>()
            .unwrap_or_else(|| panic!("retried, then gave up: {err}"));
        assert_eq!(gave_up.reason(), StopReason::Exhausted);
        assert_eq!(gave_up.attempts(), MAX_ATTEMPTS);
        assert!(gave_up.error().is::<Elapsed>(), "{}", gave_up.error());
        // Also as the error's source, for code that walks the chain.
        let source = std::error::Error::source(gave_up).expect("the last error is the source");
        assert!(source.downcast_ref::<Elapsed>().is_some());
        assert_eq!(flaky.attempts(2), MAX_ATTEMPTS);
    });
}

#[test]
fn failures_open_the_breaker_and_its_rejection_is_reachable_by_downcast() {
    paused("breaker", || async {
        let (limiter, breaker, flaky) = (limiter(), breaker(0.5), Flaky::default());
        let svc = stack(&limiter, &breaker, &flaky);

        // One success, then three failed attempts: 3 failures of 4 calls, over the threshold,
        // so the breaker opens as the last attempt is recorded.
        assert_eq!(svc.clone().oneshot(Req::Ok(1)).await.unwrap(), 1);
        let err = svc.clone().oneshot(Req::Down(2)).await.unwrap_err();
        let gave_up = err.downcast_ref::<GaveUp>().expect("retried, then gave up");
        assert_eq!(gave_up.attempts(), MAX_ATTEMPTS);
        assert_eq!(breaker.state(), State::Open);

        // Open: the call fails fast with the breaker's rejection, passed through as it is (the
        // retry does not retry it), and the service is not called.
        let before = flaky.attempts(3);
        let err = svc.oneshot(Req::Ok(3)).await.unwrap_err();
        let rejected = err
            .downcast_ref::<Rejected>()
            .unwrap_or_else(|| panic!("a rejection: {err}"));
        assert_eq!(rejected.state(), State::Open);
        assert!(
            rejected
                .retry_after()
                .is_some_and(|d| d <= Duration::from_secs(30))
        );
        assert_eq!(flaky.attempts(3), before);
        assert!(breaker.metrics().rejected_calls >= 1);
    });
}

#[test]
fn the_rate_limit_holds_calls_back_in_poll_ready() {
    paused("rate limit", || async {
        let (limiter, breaker, flaky) = (limiter(), breaker(0.5), Flaky::default());
        let mut svc = stack(&limiter, &breaker, &flaky);
        let start = Instant::now();

        // The first permit is free; the next one is 100 ms away, and `poll_ready` says so.
        svc.ready().await.unwrap().call(Req::Ok(0)).await.unwrap();
        assert!(
            timeout(RATE_INTERVAL / 2, svc.ready()).await.is_err(),
            "ready before its slot"
        );
        for id in 1..5 {
            svc.ready().await.unwrap().call(Req::Ok(id)).await.unwrap();
        }
        let starts = flaky.starts();
        assert_eq!(starts.len(), 5);
        for (n, (id, at)) in starts.into_iter().enumerate() {
            assert_eq!(id as usize, n);
            let slot = RATE_INTERVAL * n as u32;
            assert!(at - start >= slot, "call {n} started at {:?}", at - start);
        }
        assert!(limiter.metrics().waited >= 4, "{:?}", limiter.metrics());
    });
}

#[test]
fn the_stack_works_behind_buffer() {
    paused("buffer", || async {
        // Only 4 failures in a row open it: the order in which the concurrent calls below are
        // recorded does not matter.
        let (limiter, breaker, flaky) = (limiter(), breaker(1.0), Flaky::default());
        let svc = ServiceBuilder::new()
            .buffer(8)
            .service(stack(&limiter, &breaker, &flaky));
        let start = Instant::now();

        // Concurrent callers through the buffer: all succeed, one slot apart, the transient
        // ones after a retry.
        let calls: Vec<_> = (0..4)
            .map(|id| {
                let req = if id % 2 == 0 {
                    Req::Ok(id)
                } else {
                    Req::FailOnce(id)
                };
                tokio::spawn(svc.clone().oneshot(req))
            })
            .collect();
        for (id, call) in (0..).zip(calls) {
            assert_eq!(call.await.unwrap().unwrap(), id);
        }
        assert!(start.elapsed() >= RATE_INTERVAL * 3);
        assert_eq!((flaky.attempts(1), flaky.attempts(3)), (2, 2));

        // Errors keep their types through the buffer. Three failed attempts: given up.
        let err = svc.clone().oneshot(Req::Down(10)).await.unwrap_err();
        let gave_up = err
            .downcast_ref::<GaveUp>()
            .unwrap_or_else(|| panic!("{err}"));
        assert_eq!(gave_up.attempts(), MAX_ATTEMPTS);
        assert!(gave_up.error().is::<Transient>());
        assert_eq!(breaker.state(), State::Closed);
        // The fourth failure in a row opens the breaker; its retry is rejected, not retried.
        let err = svc.clone().oneshot(Req::Down(11)).await.unwrap_err();
        assert!(err.downcast_ref::<Rejected>().is_some(), "{err}");
        assert_eq!(flaky.attempts(11), 1);
        assert_eq!(breaker.state(), State::Open);
        let err = svc.oneshot(Req::Ok(12)).await.unwrap_err();
        assert!(err.downcast_ref::<Rejected>().is_some(), "{err}");
        assert_eq!(flaky.attempts(12), 0);
    });
}

#[test]
fn the_stack_works_under_concurrency_limit() {
    paused("concurrency limit", || async {
        // A generous rate, so that the concurrency limit is what holds calls back.
        let limiter = RateLimiter::builder()
            .quota(Quota::per_second(1_000).with_burst(100))
            .build()
            .expect("valid limiter");
        // Half the attempts time out: only a window of nothing but failures opens it.
        let (breaker, flaky) = (breaker(1.0), Flaky::default());
        let svc = ServiceBuilder::new()
            .buffer(16)
            .concurrency_limit(2)
            .service(stack(&limiter, &breaker, &flaky));

        let calls: Vec<_> = (0..6)
            .map(|id| tokio::spawn(svc.clone().oneshot(Req::SlowOnce(id))))
            .collect();
        for (id, call) in (0..).zip(calls) {
            assert_eq!(call.await.unwrap().unwrap(), id);
        }
        // Every call was retried once after its timeout, never more than two at a time.
        assert!((0..6).all(|id| flaky.attempts(id) == 2));
        assert_eq!(flaky.max_in_flight(), 2);
    });
}
