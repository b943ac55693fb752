//! Every future of the crate that can wait completes when each poll brings a brand-new waker,
//! and is polled only a handful of times per wait: it never recognises "its own" waker by
//! identity, and never wakes itself in a loop.
//!
//! Each test runs its own paused runtime under a watchdog: under paused time a self-waking
//! future keeps the runtime busy, so the clock never advances and the wait never ends; the
//! watchdog turns that hang into a failure.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use taskweave_limit::{
    AdaptiveLimit, ConcurrencyLimit, KeyedRateLimiter, Limiter, Quota, RateLimiter,
};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};

/// The most polls a future may need for one wait: registering, then being woken once when it
/// is served (plus slack for a wake-up by a neighbour leaving the queue).
const FEW_POLLS: usize = 4;

/// Runs `test` on a fresh current-thread runtime with paused time, under the watchdog.
fn paused<F, Fut>(what: &'static str, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
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

#[test]
fn rate_acquire_waits_without_spinning() {
    paused("rate acquire with fresh wakers", || async {
        let limiter = RateLimiter::new(Quota::per_second(20).with_burst(1)).unwrap();
        limiter.check().unwrap();
        let start = tokio::time::Instant::now();
        let (out, polls) = FreshWakers::new(limiter.acquire()).await;
        out.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        assert!(polls <= FEW_POLLS, "{polls} polls for one 50 ms wait");
    });
}

#[test]
fn rate_acquire_n_behind_other_waiters_waits_without_spinning() {
    paused("queued acquire_n with fresh wakers", || async {
        let limiter = RateLimiter::new(Quota::per_second(100).with_burst(64)).unwrap();
        limiter.acquire_n(64).await.unwrap();
        // 64 waiters ahead, each on its own task, then one that needs 32 at once.
        let ahead: Vec<_> = (0..64)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { FreshWakers::new(limiter.acquire()).await.1 })
            })
            .collect();
        tokio::task::yield_now().await;
        let ((result, polls), _) = tokio::join!(
            FreshWakers::new(limiter.acquire_n(32)),
            tokio::task::yield_now()
        );
        result.unwrap();
        assert!(
            polls <= FEW_POLLS,
            "{polls} polls for the queued acquire_n(32)"
        );
        for task in ahead {
            let polls = task.await.unwrap();
            assert!(polls <= FEW_POLLS, "{polls} polls for a queued acquire");
        }
        assert_eq!(limiter.metrics().waiting, 0);
    });
}

#[test]
fn multi_quota_acquire_waits_without_spinning() {
    paused("multi-quota acquire with fresh wakers", || async {
        let limiter = RateLimiter::builder()
            .quota(Quota::per_second(100).with_burst(1))
            .quota(Quota::per_second(2).with_burst(1))
            .build()
            .unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            let (out, polls) = FreshWakers::new(limiter.acquire()).await;
            out.unwrap();
            assert!(polls <= FEW_POLLS, "{polls} polls");
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    });
}

#[test]
fn concurrency_and_adaptive_acquire_wait_without_spinning() {
    paused("concurrency acquire with fresh wakers", || async {
        let limit = ConcurrencyLimit::new(64).unwrap();
        let held: Vec<_> = (0..64).map(|_| limit.try_acquire().unwrap()).collect();
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(held);
        });
        let (_permit, polls) = FreshWakers::new(limit.acquire()).await;
        assert!(polls <= FEW_POLLS, "{polls} polls");
        releaser.await.unwrap();

        let adaptive = AdaptiveLimit::builder(Duration::from_millis(100))
            .initial(64)
            .max(128)
            .build()
            .unwrap();
        let held: Vec<_> = (0..64).map(|_| adaptive.try_acquire().unwrap()).collect();
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(held);
        });
        let (_permit, polls) = FreshWakers::new(adaptive.acquire()).await;
        assert!(polls <= FEW_POLLS, "{polls} polls");
        releaser.await.unwrap();
    });
}

#[test]
fn limiter_acquire_waits_without_spinning() {
    paused("Limiter acquire with fresh wakers", || async {
        let limiter = Limiter::builder()
            .rate(RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap())
            .concurrency(ConcurrencyLimit::new(64).unwrap())
            .build()
            .unwrap();
        let first = limiter.acquire().await.unwrap();
        let start = tokio::time::Instant::now();
        // Waits for the rate (the slot is free).
        let (second, polls) = FreshWakers::new(limiter.acquire()).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        // One wait for the rate: a few polls, with the slot taken on the first.
        assert!(polls <= FEW_POLLS, "{polls} polls");
        drop((first, second));
    });
}

#[test]
fn keyed_acquire_waits_without_spinning() {
    paused("keyed acquire with fresh wakers", || async {
        let limiter = KeyedRateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
        limiter.check_key(&7u64).unwrap();
        let start = tokio::time::Instant::now();
        let (out, polls) = FreshWakers::new(limiter.acquire_key(&7)).await;
        out.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert!(polls <= FEW_POLLS, "{polls} polls");
    });
}

#[cfg(feature = "tower")]
#[test]
fn waiting_layers_wait_without_spinning() {
    use taskweave_limit::{ConcurrencyLimitLayer, KeyedRateLimitLayer, RateLimitLayer};
    use tower::{Layer, ServiceExt, service_fn};

    paused("waiting tower layers with fresh wakers", || async {
        let echo = service_fn(|x: u32| async move { Ok::<_, Infallible>(x) });

        let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
        let svc = RateLimitLayer::new(limiter).layer(echo);
        for i in 0..3 {
            let (out, polls) = FreshWakers::new(svc.clone().oneshot(i)).await;
            assert_eq!(out.unwrap(), i);
            assert!(polls <= FEW_POLLS, "rate layer: {polls} polls");
        }

        let keyed = KeyedRateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
        let svc = KeyedRateLimitLayer::new(keyed, |_: &u32| 0u8).layer(echo);
        for i in 0..3 {
            let (out, polls) = FreshWakers::new(svc.clone().oneshot(i)).await;
            assert_eq!(out.unwrap(), i);
            assert!(polls <= FEW_POLLS, "keyed layer: {polls} polls");
        }

        let limit = ConcurrencyLimit::new(64).unwrap();
        let slow = service_fn(|x: u32| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, Infallible>(x)
        });
        let svc = ConcurrencyLimitLayer::new(limit.clone()).layer(slow);
        let held: Vec<_> = (0..64)
            .map(|i| tokio::spawn(svc.clone().oneshot(i)))
            .collect();
        while limit.in_flight() < 64 {
            tokio::task::yield_now().await;
        }
        let (out, polls) = FreshWakers::new(svc.clone().oneshot(99)).await;
        assert_eq!(out.unwrap(), 99);
        // Waiting for a slot, then the inner service's own 10 ms sleep.
        assert!(polls <= 2 * FEW_POLLS, "concurrency layer: {polls} polls");
        for h in held {
            h.await.unwrap().unwrap();
        }
    });
}

#[test]
fn drain_waits_for_the_last_permit_without_spinning() {
    paused("drain", || async {
        let slots = taskweave_limit::ConcurrencyLimit::new(4).unwrap();
        let held: Vec<_> = take_all(&slots).await;
        tokio::spawn(async move {
            for permit in held {
                tokio::time::sleep(Duration::from_millis(10)).await;
                drop(permit);
            }
        });
        let ((), polls) = FreshWakers::new(slots.drain()).await;
        assert_eq!(slots.in_flight(), 0);
        // One wake per permit returned, and the first poll.
        assert!(polls <= 6, "{polls} polls for 4 permits");
    });
}

/// Takes every slot of `slots`.
async fn take_all(
    slots: &taskweave_limit::ConcurrencyLimit,
) -> Vec<taskweave_limit::ConcurrencyPermit> {
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(slots.acquire().await.unwrap());
    }
    held
}
