//! `close`, `drain` and `cancellation_token`: waiters let go at once with `Closed`, later
//! requests refused, permits held stay valid, a drain waits for them.

use std::pin::pin;
use std::time::Duration;

use taskweave_limit::{
    AcquireError, AdaptiveLimit, Closed, ConcurrencyLimit, KeyedRateLimiter, Limited, Limiter,
    Quota, RateLimiter, TryAcquireError,
};
use taskweave_testkit::FreshWakers;
use tokio_util::sync::CancellationToken;

/// Polls `fut` once on a no-op waker.
fn poll_once<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn closing_a_rate_limiter_lets_every_waiter_go_at_once() {
    let limiter = RateLimiter::new(Quota::per_hour(1).with_burst(1)).unwrap();
    limiter.check().unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire().await })
        })
        .collect();
    while limiter.metrics().waiting < 3 {
        tokio::task::yield_now().await;
    }
    let start = tokio::time::Instant::now();
    limiter.close();
    limiter.close(); // idempotent
    assert!(limiter.is_closed());
    for w in waiters {
        assert_eq!(w.await.unwrap(), Err(Closed));
    }
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no waiter waited for the quota"
    );
    let m = limiter.metrics();
    assert_eq!((m.waiting, m.admitted), (0, 1), "{m:?}");
    // Later calls are refused at once; `acquire_n` says so too.
    assert_eq!(limiter.acquire().await, Err(Closed));
    assert_eq!(limiter.acquire_n(1).await, Err(AcquireError::Closed));
    assert_eq!(limiter.acquire_n(0).await, Err(AcquireError::Closed));
}

#[tokio::test(start_paused = true)]
async fn check_ignores_close_but_sees_it_through_is_closed() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(2)).unwrap();
    limiter.close();
    // The hot path is untouched: documented, and callers test `is_closed` themselves.
    assert!(limiter.check().is_ok());
    assert!(limiter.is_closed());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_served_before_the_close_keeps_its_permit() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    limiter.check().unwrap();
    let mut first = pin!(limiter.acquire());
    let mut second = pin!(limiter.acquire());
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    tokio::time::advance(Duration::from_millis(100)).await;
    // The head is served when it is polled; the one behind it is not yet.
    assert_eq!(poll_once(first.as_mut()), std::task::Poll::Ready(Ok(())));
    limiter.close();
    assert_eq!(second.await, Err(Closed));
    assert_eq!(limiter.metrics().admitted, 2);
}

#[tokio::test(start_paused = true)]
async fn closed_waiters_resolve_with_fresh_wakers() {
    let limiter = RateLimiter::new(Quota::per_hour(1).with_burst(1)).unwrap();
    limiter.check().unwrap();
    let closer = limiter.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        closer.close();
    });
    let (out, polls) = FreshWakers::new(limiter.acquire()).await;
    assert_eq!(out, Err(Closed));
    assert!(polls <= 4, "{polls} polls");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_token_closes_every_limiter() {
    let token = CancellationToken::new();
    let rate = RateLimiter::builder()
        .quota(Quota::per_hour(1).with_burst(1))
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let keyed = KeyedRateLimiter::<u32>::builder(Quota::per_hour(1).with_burst(1))
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let slots = ConcurrencyLimit::builder(1)
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let adaptive = AdaptiveLimit::builder(Duration::from_secs(1))
        .initial(1)
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    rate.check().unwrap();
    keyed.check_key(&1).unwrap();
    let slot = slots.acquire().await.unwrap();
    let adaptive_slot = adaptive.acquire().await.unwrap();

    let r = rate.clone();
    let rate_waiter = tokio::spawn(async move { r.acquire().await });
    let k = keyed.clone();
    let keyed_waiter = tokio::spawn(async move { k.acquire_key(&1).await });
    let s = slots.clone();
    let slot_waiter = tokio::spawn(async move { s.acquire().await.map(drop) });
    let a = adaptive.clone();
    let adaptive_waiter = tokio::spawn(async move { a.acquire().await.map(drop) });
    while rate.metrics().waiting + keyed.metrics().waiting + slots.metrics().waiting < 3
        || adaptive.metrics().waiting < 1
    {
        tokio::task::yield_now().await;
    }

    let start = tokio::time::Instant::now();
    token.cancel();
    assert_eq!(rate_waiter.await.unwrap(), Err(Closed));
    assert_eq!(keyed_waiter.await.unwrap(), Err(Closed));
    assert_eq!(slot_waiter.await.unwrap(), Err(Closed));
    assert_eq!(adaptive_waiter.await.unwrap(), Err(Closed));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(rate.is_closed() && keyed.is_closed() && slots.is_closed() && adaptive.is_closed());
    assert_eq!(keyed.metrics().waiting, 0);

    // Permits held stay valid; new requests are refused.
    assert_eq!(slots.in_flight(), 1);
    assert_eq!(slots.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(adaptive.try_acquire().unwrap_err(), TryAcquireError::Closed);
    drop((slot, adaptive_slot));
    assert_eq!((slots.in_flight(), adaptive.in_flight()), (0, 0));
    // A closed limit refuses even with free slots, and counts no rejection.
    assert_eq!(slots.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(slots.metrics().rejected, 0);
}

#[tokio::test(start_paused = true)]
async fn an_already_cancelled_token_builds_a_closed_limiter() {
    let token = CancellationToken::new();
    token.cancel();
    let slots = ConcurrencyLimit::builder(4)
        .cancellation_token(token)
        .build()
        .unwrap();
    assert!(slots.is_closed());
    assert_eq!(slots.acquire().await.unwrap_err(), Closed);
}

#[test]
fn a_limiter_built_with_a_token_outside_a_runtime_closes_when_it_is_cancelled() {
    let token = CancellationToken::new();
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(1))
        .cancellation_token(token.child_token())
        .build()
        .unwrap();
    assert!(!limiter.is_closed());
    token.cancel();
    assert!(limiter.is_closed());
}

#[tokio::test(start_paused = true)]
async fn drain_waits_for_every_permit_handed_out() {
    let slots = ConcurrencyLimit::new(2).unwrap();
    let a = slots.acquire().await.unwrap();
    let b = slots.acquire().await.unwrap();
    let mut drain = pin!(slots.drain());
    assert!(poll_once(drain.as_mut()).is_pending());
    assert!(slots.is_closed(), "drain closes first");
    drop(a);
    assert!(poll_once(drain.as_mut()).is_pending());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(b);
    });
    let start = tokio::time::Instant::now();
    drain.await;
    assert_eq!(start.elapsed(), Duration::from_millis(30));
    assert_eq!(slots.in_flight(), 0);
    // Draining an empty, closed limit returns at once.
    slots.drain().await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_drain_does_not_reopen_the_limit() {
    let slots = ConcurrencyLimit::new(1).unwrap();
    let held = slots.acquire().await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(10), slots.drain()).await;
    assert!(gave_up.is_err());
    assert!(slots.is_closed());
    assert_eq!(slots.try_acquire().unwrap_err(), TryAcquireError::Closed);
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn adaptive_drain_waits_for_reports() {
    let limit = AdaptiveLimit::builder(Duration::from_millis(10))
        .initial(2)
        .build()
        .unwrap();
    let permit = limit.acquire().await.unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        permit.overload();
    });
    let start = tokio::time::Instant::now();
    limit.drain().await;
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    assert_eq!(limit.in_flight(), 0);
    assert!(limit.is_closed());
}

#[tokio::test(start_paused = true)]
async fn a_limiter_closes_and_drains_both_of_its_limits() {
    let token = CancellationToken::new();
    let rate = RateLimiter::new(Quota::per_hour(2).with_burst(2)).unwrap();
    let slots = ConcurrencyLimit::new(4).unwrap();
    let limiter = Limiter::builder()
        .rate(rate.clone())
        .concurrency(slots.clone())
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let held = limiter.acquire().await.unwrap();
    limiter.try_acquire().map(drop).unwrap();
    // The rate is spent: the next one waits, holding a slot, until the token is cancelled.
    let l = limiter.clone();
    let waiter = tokio::spawn(async move { l.acquire().await.map(drop) });
    while rate.metrics().waiting == 0 {
        tokio::task::yield_now().await;
    }
    token.cancel();
    assert_eq!(waiter.await.unwrap(), Err(Closed));
    assert!(limiter.is_closed() && rate.is_closed() && slots.is_closed());
    assert_eq!(limiter.try_acquire().unwrap_err(), Limited::Closed);
    assert_eq!(slots.in_flight(), 1, "only the permit still held");
    let mut drain = pin!(limiter.drain());
    assert!(poll_once(drain.as_mut()).is_pending());
    drop(held);
    drain.await;
}
