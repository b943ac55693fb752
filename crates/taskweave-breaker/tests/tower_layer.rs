//! `BreakerLayer` classifies responses like `Breaker::call`, rejects while open, and stacks with
//! tower's `Timeout`, `Buffer` and `ConcurrencyLimit` in either order: its error is `BoxError`,
//! with its own rejection and the inner errors reachable by downcasting.
#![cfg(feature = "tower")]

use std::future::{Future, pending};
use std::pin::Pin;
use std::time::Duration;

use taskweave_breaker::{Breaker, BreakerLayer, Outcome, Rejected, State};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tower::timeout::error::Elapsed;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

#[derive(Debug, PartialEq)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}

impl std::error::Error for Reset {}

/// Runs `test` on a paused current-thread runtime, under the hang watchdog.
fn paused<Fut>(what: &str, test: fn() -> Fut)
where
    Fut: Future<Output = ()> + 'static,
{
    finishes_within(HANG_LIMIT, what, move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(test());
    });
}

/// Trips after 2 failures of 2, stays open 5 s, decides on 1 trial call.
fn breaker() -> Breaker {
    Breaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .wait_duration(Duration::from_secs(5))
        .half_open_calls(1)
        .build()
        .unwrap()
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<&'static str, Reset>> + Send>>;

/// `"hang"` never answers, `"reset"` fails, anything else answers "pong".
fn dependency()
-> impl Service<&'static str, Response = &'static str, Error = Reset, Future = BoxFuture>
+ Clone
+ Send
+ 'static {
    service_fn(|request: &'static str| -> BoxFuture {
        Box::pin(async move {
            match request {
                "hang" => pending().await,
                "reset" => Err(Reset),
                _ => Ok("pong"),
            }
        })
    })
}

/// Drives `service` through a trip by timeouts, a rejection and recovery.
async fn trips_on_timeouts_and_recovers<S>(breaker: &Breaker, mut service: S)
where
    S: Service<&'static str, Response = &'static str, Error = BoxError>,
{
    for _ in 0..2 {
        let error = service
            .ready()
            .await
            .unwrap()
            .call("hang")
            .await
            .unwrap_err();
        assert!(error.is::<Elapsed>(), "a timeout passes through: {error:?}");
    }
    assert_eq!(breaker.state(), State::Open, "timeouts count as failures");

    let error = service
        .ready()
        .await
        .unwrap()
        .call("ping")
        .await
        .unwrap_err();
    let rejected = error
        .downcast_ref::<Rejected>()
        .unwrap_or_else(|| panic!("expected a rejection, got {error:?}"));
    assert_eq!(rejected.state(), State::Open);
    assert!(rejected.retry_after().is_some());
    assert_eq!(breaker.metrics().rejected_calls, 1);

    tokio::time::advance(Duration::from_secs(5)).await;
    let answer = service.ready().await.unwrap().call("ping").await.unwrap();
    assert_eq!(answer, "pong");
    assert_eq!(breaker.state(), State::Closed, "the trial call closed it");
}

#[tokio::test(start_paused = true)]
async fn the_layer_records_classified_responses_and_rejects_while_open() {
    let breaker = Breaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .wait_duration(Duration::from_secs(5))
        .classify(|r: &Result<u16, BoxError>| match r {
            Ok(500..) => Outcome::Failure,
            Ok(404) => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(e) if e.is::<Reset>() => Outcome::Failure,
            Err(_) => Outcome::Ignored,
        })
        .build()
        .unwrap();
    let inner =
        service_fn(|status: u16| async move { if status == 0 { Err(Reset) } else { Ok(status) } });
    let mut svc = BreakerLayer::new(breaker.clone()).layer(inner);

    assert_eq!(svc.ready().await.unwrap().call(200).await.unwrap(), 200);
    assert_eq!(svc.ready().await.unwrap().call(404).await.unwrap(), 404);
    assert_eq!(breaker.metrics().buffered_calls, 1, "the 404 is ignored");
    assert_eq!(svc.ready().await.unwrap().call(503).await.unwrap(), 503);
    assert_eq!(svc.ready().await.unwrap().call(502).await.unwrap(), 502);
    let error = svc.ready().await.unwrap().call(0).await.unwrap_err();
    assert_eq!(
        error.downcast_ref::<Reset>(),
        Some(&Reset),
        "passed through"
    );
    // 3 failures of 4: open.
    assert_eq!(breaker.state(), State::Open);
    let error = svc.ready().await.unwrap().call(200).await.unwrap_err();
    let rejected = error.downcast_ref::<Rejected>().expect("a rejection");
    assert_eq!(rejected.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(svc.breaker().metrics().rejected_calls, 1);

    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(svc.ready().await.unwrap().call(204).await.unwrap(), 204);
    assert_eq!(breaker.state(), State::HalfOpen);
    let _inner: &_ = svc.get_ref();
}

#[tokio::test(start_paused = true)]
async fn inner_errors_are_classified_by_downcast_and_passed_through() {
    let breaker = breaker();
    let mut svc = BreakerLayer::new(breaker.clone()).layer(dependency());
    let error = svc.ready().await.unwrap().call("reset").await.unwrap_err();
    assert_eq!(error.downcast_ref::<Reset>(), Some(&Reset));
    assert!(error.downcast_ref::<Rejected>().is_none());
    assert_eq!(breaker.metrics().failed_calls, 1, "FailOnErr counts it");
}

#[test]
fn a_breaker_around_a_timeout_trips_on_timeouts() {
    paused(
        "a breaker around a timeout trips on timeouts",
        a_breaker_around_a_timeout_trips_on_timeouts_test,
    );
}

async fn a_breaker_around_a_timeout_trips_on_timeouts_test() {
    let breaker = breaker();
    let service = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()))
        .timeout(Duration::from_millis(100))
        .service(dependency());
    trips_on_timeouts_and_recovers(&breaker, service).await;
}

#[test]
fn outside_buffer_and_concurrency_limit() {
    paused(
        "outside buffer and concurrency limit",
        outside_buffer_and_concurrency_limit_test,
    );
}

async fn outside_buffer_and_concurrency_limit_test() {
    // Buffer and ConcurrencyLimit outside the breaker, the timeout inside it.
    let breaker = breaker();
    let service = ServiceBuilder::new()
        .buffer(4)
        .concurrency_limit(2)
        .layer(BreakerLayer::new(breaker.clone()))
        .timeout(Duration::from_millis(100))
        .service(dependency());
    trips_on_timeouts_and_recovers(&breaker, service).await;
}

#[test]
fn inside_buffer_and_concurrency_limit() {
    paused(
        "inside buffer and concurrency limit",
        inside_buffer_and_concurrency_limit_test,
    );
}

async fn inside_buffer_and_concurrency_limit_test() {
    // The breaker outermost, then Buffer, ConcurrencyLimit and the timeout: the breaker sees
    // the timeouts through the buffer's boxed errors.
    let breaker = breaker();
    let service = ServiceBuilder::new()
        .layer(BreakerLayer::new(breaker.clone()))
        .buffer(4)
        .concurrency_limit(2)
        .timeout(Duration::from_millis(100))
        .service(dependency());
    trips_on_timeouts_and_recovers(&breaker, service).await;
}

#[test]
fn a_timeout_outside_the_breaker_cancels_without_recording() {
    paused(
        "a timeout outside the breaker cancels without recording",
        a_timeout_outside_the_breaker_cancels_without_recording_test,
    );
}

async fn a_timeout_outside_the_breaker_cancels_without_recording_test() {
    // A timeout *outside* the breaker drops the breaker's future: a cancelled call records
    // nothing (put the timeout inside to count it), and the timeout's error is returned as is.
    let breaker = breaker();
    let mut service = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .layer(BreakerLayer::new(breaker.clone()))
        .service(dependency());
    for _ in 0..3 {
        let error = service
            .ready()
            .await
            .unwrap()
            .call("hang")
            .await
            .unwrap_err();
        assert!(error.is::<Elapsed>(), "{error:?}");
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().buffered_calls, 0);

    // While the breaker is open, its rejection comes back through the outer timeout.
    breaker.force_open();
    let error = service
        .ready()
        .await
        .unwrap()
        .call("ping")
        .await
        .unwrap_err();
    assert_eq!(
        error.downcast_ref::<Rejected>().map(Rejected::state),
        Some(State::ForcedOpen)
    );
}
