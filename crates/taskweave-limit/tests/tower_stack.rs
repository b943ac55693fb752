//! The layers stack with tower's own: waiting layers push back through `poll_ready` (a bounded
//! `Buffer` in front stays full while the limiter is saturated), they compose with `Timeout`
//! and `ConcurrencyLimit` inside and outside, and every error is a `BoxError` whose type is
//! still reachable with `downcast_ref`.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskweave_limit::{
    Closed, ConcurrencyLimit, ConcurrencyLimitLayer, KeyedRateLimitLayer, KeyedRateLimiter,
    Limited, Quota, RateLimitLayer, RateLimiter,
};
use tower::timeout::error::Elapsed;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

fn echo() -> impl Service<u32, Response = u32, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(|x: u32| async move { Ok::<_, Infallible>(x) })
}

/// Answers after `delay`.
fn slow(
    delay: Duration,
) -> impl Service<u32, Response = u32, Error = Infallible, Future: Send> + Clone + Send {
    service_fn(move |x: u32| async move {
        tokio::time::sleep(delay).await;
        Ok::<_, Infallible>(x)
    })
}

/// Lets the buffer's worker task run.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_saturated_rate_limit_keeps_a_bounded_buffer_full() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    // A buffer of 1: one request in its channel, plus the one its worker is handling.
    let svc = ServiceBuilder::new()
        .buffer(1)
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(echo());
    let start = tokio::time::Instant::now();
    // The burst: admitted at once.
    let first = svc.clone().ready_oneshot().await.unwrap().call(1);
    settle().await;
    // The next one is taken by the buffer's worker, which waits in the limiter's `poll_ready`,
    // and the one after it fills the channel.
    let second = svc.clone().ready_oneshot().await.unwrap().call(2);
    settle().await;
    let third = svc.clone().ready_oneshot().await.unwrap().call(3);
    settle().await;
    // Callers are pushed back; nothing queues behind the limiter but the worker's reservation.
    let mut fourth_svc = svc.clone();
    let mut fourth_ready = pin!(fourth_svc.ready());
    assert!(poll_once(fourth_ready.as_mut()).is_pending());
    tokio::time::advance(Duration::from_millis(50)).await;
    settle().await;
    assert!(poll_once(fourth_ready.as_mut()).is_pending());
    assert_eq!(
        limiter.metrics().waiting,
        1,
        "only the worker's reservation waits"
    );

    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(second.await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // Once the worker has called the second, it takes the third and makes room.
    let fourth = fourth_ready.await.unwrap().call(4);
    assert_eq!(third.await.unwrap(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(fourth.await.unwrap(), 4);
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected, m.waited), (4, 0, 3), "{m:?}");
}

#[tokio::test(start_paused = true)]
async fn a_full_concurrency_limit_keeps_a_bounded_buffer_full() {
    let slots = ConcurrencyLimit::new(1).unwrap();
    let svc = ServiceBuilder::new()
        .buffer(1)
        .layer(ConcurrencyLimitLayer::new(slots.clone()))
        .service(slow(Duration::from_millis(50)));
    let start = tokio::time::Instant::now();
    let first = svc.clone().ready_oneshot().await.unwrap().call(1);
    settle().await;
    assert_eq!(slots.in_flight(), 1);
    let second = svc.clone().ready_oneshot().await.unwrap().call(2);
    settle().await;
    let third = svc.clone().ready_oneshot().await.unwrap().call(3);
    settle().await;
    let mut fourth_svc = svc.clone();
    let mut fourth_ready = pin!(fourth_svc.ready());
    assert!(poll_once(fourth_ready.as_mut()).is_pending());
    assert_eq!(
        slots.metrics().waiting,
        1,
        "only the worker's reservation waits"
    );
    // The slot goes back as each response is ready, and the next request takes it.
    assert_eq!(first.await.unwrap(), 1);
    assert_eq!(second.await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    let fourth = fourth_ready.await.unwrap().call(4);
    assert_eq!(third.await.unwrap(), 3);
    assert_eq!(fourth.await.unwrap(), 4);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert_eq!(slots.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_limit_outside_a_timeout_passes_elapsed_through() {
    let limiter = RateLimiter::new(Quota::per_second(100)).unwrap();
    let slots = ConcurrencyLimit::new(2).unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .layer(ConcurrencyLimitLayer::new(slots.clone()))
        .timeout(Duration::from_millis(10))
        .service(slow(Duration::from_millis(50)));
    let err = svc.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(err.downcast_ref::<Elapsed>().is_some(), "{err}");
    assert_eq!(slots.in_flight(), 0, "the slot is back after the timeout");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_outside_a_rejecting_limit_passes_limited_through() {
    let limiter = RateLimiter::new(Quota::per_second(2).with_burst(1)).unwrap();
    let svc = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .layer(RateLimitLayer::rejecting(limiter))
        .service(echo());
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    let err = svc.clone().oneshot(2).await.unwrap_err();
    let limited = err.downcast_ref::<Limited>().expect("a Limited error");
    assert_eq!(limited.retry_after(), Some(Duration::from_millis(500)));

    // Keyed too, with tower's ConcurrencyLimit around it.
    let keyed = KeyedRateLimiter::new(Quota::per_second(1)).unwrap();
    let svc = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .concurrency_limit(4)
        .layer(KeyedRateLimitLayer::rejecting(keyed, |r: &u32| *r))
        .service(echo());
    assert_eq!(svc.clone().oneshot(7).await.unwrap(), 7);
    let err = svc.clone().oneshot(7).await.unwrap_err();
    assert!(err.downcast_ref::<Limited>().is_some(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn tower_concurrency_limit_inside_and_outside_a_waiting_rate_limit() {
    // Outside: tower's limit admits, then ours paces.
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let svc = ServiceBuilder::new()
        .concurrency_limit(1)
        .layer(RateLimitLayer::new(limiter))
        .timeout(Duration::from_secs(1))
        .service(echo());
    let start = tokio::time::Instant::now();
    for i in 0..3 {
        assert_eq!(svc.clone().oneshot(i).await.unwrap(), i);
    }
    assert_eq!(start.elapsed(), Duration::from_millis(200));

    // Inside: ours paces, then tower's limit admits.
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let svc = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter))
        .concurrency_limit(1)
        .service(echo());
    let start = tokio::time::Instant::now();
    for i in 0..3 {
        assert_eq!(svc.clone().oneshot(i).await.unwrap(), i);
    }
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn a_closed_limiter_fails_requests_with_closed() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let slots = ConcurrencyLimit::new(1).unwrap();
    let svc = ServiceBuilder::new()
        .buffer(4)
        .layer(RateLimitLayer::new(limiter.clone()))
        .layer(ConcurrencyLimitLayer::new(slots.clone()))
        .service(echo());
    assert_eq!(svc.clone().oneshot(1).await.unwrap(), 1);
    // The next request waits for the rate in the worker's `poll_ready`; closing lets it go.
    let waiting = tokio::spawn(svc.clone().oneshot(2));
    settle().await;
    assert_eq!(limiter.metrics().waiting, 1);
    limiter.close();
    let err: BoxError = waiting.await.unwrap().unwrap_err();
    assert!(err.downcast_ref::<Closed>().is_some(), "{err}");
    // Requests after the close fail the same way, one by one (the service stays usable).
    let err = svc.clone().oneshot(3).await.unwrap_err();
    assert!(err.downcast_ref::<Closed>().is_some(), "{err}");

    slots.close();
    let direct = ConcurrencyLimitLayer::new(slots).layer(echo());
    let err = direct.oneshot(4).await.unwrap_err();
    assert!(err.downcast_ref::<Closed>().is_some(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_call_without_poll_ready_is_decided_at_once() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let mut svc = RateLimitLayer::new(limiter).layer(echo());
    assert_eq!(svc.call(1).await.unwrap(), 1);
    let err = svc.call(2).await.unwrap_err();
    assert!(err.downcast_ref::<Limited>().is_some(), "{err}");

    let slots = ConcurrencyLimit::new(1).unwrap();
    let mut svc = ConcurrencyLimitLayer::new(slots.clone()).layer(echo());
    let held = slots.try_acquire().unwrap();
    let err = svc.call(1).await.unwrap_err();
    assert_eq!(err.downcast_ref::<Limited>(), Some(&Limited::Concurrency));
    drop(held);
}

use tower::Layer as _;

/// The services can sit behind `Buffer` and in `tokio::spawn`: `Send`, and `Sync` too.
#[test]
fn services_are_send_and_sync() {
    fn check<T: Send + Sync>(_: &T) {}
    let limiter = RateLimiter::new(Quota::per_second(1)).unwrap();
    check(&RateLimitLayer::new(limiter).layer(echo()));
    let slots = ConcurrencyLimit::new(1).unwrap();
    check(&ConcurrencyLimitLayer::new(slots).layer(echo()));
}

/// The keyed service cannot push back through `poll_ready` (the key is only known in `call`),
/// so the requests waiting for their keys' rates are bounded instead: one more than
/// `max_waiting` fails at once with `Overloaded`, and a place comes back when a wait ends.
#[tokio::test(start_paused = true)]
async fn a_waiting_keyed_layer_bounds_how_many_requests_wait() {
    use taskweave_limit::{ConfigError, Overloaded};

    let limiter: KeyedRateLimiter<u32> =
        KeyedRateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let layer = KeyedRateLimitLayer::new(limiter.clone(), |req: &u32| *req);
    assert_eq!(
        KeyedRateLimitLayer::new(limiter, |req: &u32| *req)
            .max_waiting(0)
            .unwrap_err(),
        ConfigError::ZeroMaxWaiting
    );
    let mut svc = layer.max_waiting(2).unwrap().layer(echo());

    // Key 7's burst is spent by the first call; the next two wait, the fourth is refused.
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
    let first = svc.ready().await.unwrap().call(7);
    let second = svc.ready().await.unwrap().call(7);
    let refused = svc.ready().await.unwrap().call(7).await.unwrap_err();
    assert_eq!(
        refused.downcast_ref::<Overloaded>().map(|o| o.max_waiting),
        Some(2)
    );
    // Another key that need not wait is not counted against the bound.
    assert_eq!(svc.ready().await.unwrap().call(8).await.unwrap(), 8);

    // When the waits end, their places come back.
    let start = tokio::time::Instant::now();
    assert_eq!(first.await.unwrap(), 7);
    assert_eq!(second.await.unwrap(), 7);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    let third = svc.ready().await.unwrap().call(7);
    let dropped = svc.ready().await.unwrap().call(7);
    drop(dropped);
    let fourth = svc.ready().await.unwrap().call(7);
    assert_eq!(third.await.unwrap(), 7);
    assert_eq!(fourth.await.unwrap(), 7);
}
