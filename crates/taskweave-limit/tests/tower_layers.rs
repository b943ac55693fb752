//! The `tower` layers are `Clone`, wait in order, or reject with a retry-after.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::time::Duration;

use taskweave_limit::{ConcurrencyLimit, KeyedRateLimiter, Limited, Quota, RateLimiter};
use taskweave_limit::{ConcurrencyLimitLayer, KeyedRateLimitLayer, RateLimitLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

fn echo() -> impl Service<u32, Response = u32, Error = Infallible, Future: Send> + Clone {
    service_fn(|x: u32| async move { Ok::<_, Infallible>(x) })
}

#[tokio::test(start_paused = true)]
async fn rejecting_rate_layer_returns_retry_after() {
    let limiter = RateLimiter::new(Quota::per_second(2).with_burst(1)).unwrap();
    let layer = RateLimitLayer::rejecting(limiter);
    let mut svc = layer.clone().layer(echo());
    assert_eq!(svc.ready().await.unwrap().call(1).await.unwrap(), 1);
    // A clone of the service shares the limit.
    let mut other = svc.clone();
    let err = other.ready().await.unwrap().call(2).await.unwrap_err();
    let limited = err.downcast_ref::<Limited>().expect("a Limited error");
    assert_eq!(limited.retry_after(), Some(Duration::from_millis(500)));
}

#[tokio::test(start_paused = true)]
async fn waiting_rate_layer_paces_calls() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let svc = RateLimitLayer::new(limiter).layer(echo());
    let start = tokio::time::Instant::now();
    for i in 0..5 {
        assert_eq!(svc.clone().oneshot(i).await.unwrap(), i);
    }
    assert_eq!(start.elapsed(), Duration::from_millis(400));
}

#[tokio::test(start_paused = true)]
async fn keyed_layer_limits_each_key() {
    let limiter = KeyedRateLimiter::new(Quota::per_second(1)).unwrap();
    let layer = KeyedRateLimitLayer::rejecting(limiter, |req: &u32| req % 2);
    let svc = layer.layer(echo());
    assert!(svc.clone().oneshot(1).await.is_ok());
    assert!(svc.clone().oneshot(2).await.is_ok());
    let err = svc.clone().oneshot(3).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<Limited>().and_then(Limited::retry_after),
        Some(Duration::from_secs(1))
    );
    // Waiting mode on the same limiter waits for that key only.
    let waiting = KeyedRateLimitLayer::new(
        KeyedRateLimiter::new(Quota::per_second(1)).unwrap(),
        |req: &u32| req % 2,
    )
    .layer(echo());
    let start = tokio::time::Instant::now();
    waiting.clone().oneshot(1).await.unwrap();
    waiting.clone().oneshot(3).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn concurrency_layer_holds_the_slot_until_the_response() {
    let limit = ConcurrencyLimit::new(1).unwrap();
    let slow = service_fn(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, Infallible>(x)
    });
    let rejecting = ConcurrencyLimitLayer::rejecting(limit.clone()).layer(slow);
    let first = tokio::spawn(rejecting.clone().oneshot(1));
    tokio::task::yield_now().await;
    assert_eq!(limit.in_flight(), 1);
    let err = rejecting.clone().oneshot(2).await.unwrap_err();
    assert_eq!(err.downcast_ref::<Limited>(), Some(&Limited::Concurrency));
    assert_eq!(first.await.unwrap().unwrap(), 1);
    assert_eq!(limit.in_flight(), 0);

    let waiting = ConcurrencyLimitLayer::new(limit.clone()).layer(slow);
    let start = tokio::time::Instant::now();
    let a = tokio::spawn(waiting.clone().oneshot(1));
    let b = tokio::spawn(waiting.clone().oneshot(2));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}
