//! Dropping a runtime while limiters have callers running, queued and waiting neither hangs
//! nor panics; the limiters are left clean and keep working on another runtime, and handles
//! created outside resolve with an error instead of hanging.

use std::future::{Future, pending, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use taskweave_limit::{
    AdaptiveLimit, ConcurrencyLimit, KeyedRateLimiter, Limiter, Quota, RateLimiter,
};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Yields on `rt` until `cond` holds (the watchdog bounds it).
fn wait_until(rt: &tokio::runtime::Runtime, mut cond: impl FnMut() -> bool) {
    rt.block_on(async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    });
}

#[test]
fn dropping_the_runtime_with_callers_running_queued_and_waiting() {
    finishes_within(HANG_LIMIT, "runtime teardown", || {
        const N: usize = 64;
        let rt = multi_thread();
        let (rate, slots, adaptive, keyed, both) = rt.block_on(async {
            let rate = RateLimiter::new(Quota::per_hour(1).with_burst(1)).unwrap();
            let slots = ConcurrencyLimit::new(N).unwrap();
            let adaptive = AdaptiveLimit::builder(Duration::from_secs(1))
                .initial(N)
                .build()
                .unwrap();
            let keyed = KeyedRateLimiter::new(Quota::per_hour(1).with_burst(1)).unwrap();
            let both = Limiter::builder()
                .rate(RateLimiter::new(Quota::per_hour(1).with_burst(1)).unwrap())
                .concurrency(ConcurrencyLimit::new(N).unwrap())
                .build()
                .unwrap();
            (rate, slots, adaptive, keyed, both)
        });
        rate.check().unwrap();
        keyed.check_key(&"k").unwrap();
        both.rate().unwrap().check().unwrap();
        let mut handles = Vec::new();
        for _ in 0..N {
            // Running: holds a slot forever.
            let s = slots.clone();
            handles.push(rt.spawn(async move {
                let _p = s.acquire().await.unwrap();
                pending::<()>().await;
            }));
            let a = adaptive.clone();
            handles.push(rt.spawn(async move {
                let _p = a.acquire().await.unwrap();
                pending::<()>().await;
            }));
        }
        wait_until(&rt, || slots.in_flight() == N && adaptive.in_flight() == N);
        for _ in 0..N {
            // Queued behind the running ones, and waiting on the rate limits.
            let s = slots.clone();
            handles.push(rt.spawn(async move { drop(s.acquire().await) }));
            let a = adaptive.clone();
            handles.push(rt.spawn(async move { drop(a.acquire().await) }));
            let r = rate.clone();
            handles.push(rt.spawn(async move {
                let _ = r.acquire().await;
            }));
            let k = keyed.clone();
            handles.push(rt.spawn(async move {
                let _ = k.acquire_key(&"k").await;
            }));
            let b = both.clone();
            handles.push(rt.spawn(async move { drop(b.acquire().await) }));
        }
        wait_until(&rt, || {
            slots.metrics().waiting == N
                && adaptive.metrics().waiting == N
                && rate.metrics().waiting == N
                && both.rate().unwrap().metrics().waiting == N
                && keyed.metrics().waiting == N
        });
        drop(rt);

        // Everything the runtime held is released.
        assert_eq!(
            (slots.in_flight(), slots.metrics().waiting),
            (0, 0),
            "slots"
        );
        assert_eq!(
            (adaptive.in_flight(), adaptive.metrics().waiting),
            (0, 0),
            "adaptive"
        );
        assert_eq!(rate.metrics().waiting, 0);
        assert_eq!(keyed.metrics().waiting, 0);
        let both_rate = both.rate().unwrap().metrics();
        assert_eq!((both_rate.waiting, both_rate.admitted), (0, 1));
        assert_eq!(both.concurrency().unwrap().in_flight(), 0);

        // Handles created outside resolve with an error, and the limiters still work.
        let rt = paused();
        rt.block_on(async {
            for h in handles {
                assert!(h.await.unwrap_err().is_cancelled());
            }
            let held: Vec<_> = (0..N).map(|_| slots.try_acquire().unwrap()).collect();
            drop(held);
            drop(adaptive.acquire().await);
            let start = tokio::time::Instant::now();
            rate.acquire().await.unwrap();
            // The cancelled waiters took nothing: the next permit is an hour after the first.
            assert!(start.elapsed() <= Duration::from_secs(3600));
            keyed.acquire_key(&"k").await.unwrap();
            drop(both.acquire().await);
        });
    });
}

#[test]
fn an_acquire_outliving_its_runtime_completes_on_another() {
    finishes_within(HANG_LIMIT, "acquire moved across runtimes", || {
        let rt = paused();
        let limiter = rt.block_on(async {
            let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
            limiter.check().unwrap();
            limiter
        });
        let mut acquire = pin!(limiter.acquire());
        // First in line: it sleeps on this runtime's timer...
        rt.block_on(poll_fn(|cx| {
            assert!(acquire.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        }));
        // ...which goes away with the runtime.
        drop(rt);
        let rt = paused();
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), acquire)
                .await
                .expect("the acquire completes on the new runtime")
                .expect("the limiter is open");
        });
        assert_eq!(limiter.metrics().admitted, 2);
    });
}
