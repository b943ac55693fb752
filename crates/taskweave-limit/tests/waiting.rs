//! `acquire` serves waiters in arrival order, fails fast when it can never succeed, and a
//! dropped `acquire` consumes nothing.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskweave_limit::{AcquireError, Quota, RateLimiter};

fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    // 10/s, burst 4: a request for 4 must not be overtaken by the requests for 1 behind it.
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(4)).unwrap();
    limiter.acquire_n(4).await.unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let sizes = [1, 4, 1, 1, 2, 1, 3];
    let mut tasks = Vec::new();
    for (i, n) in sizes.into_iter().enumerate() {
        let limiter = limiter.clone();
        let order = Arc::clone(&order);
        tasks.push(tokio::spawn(async move {
            limiter.acquire_n(n).await.unwrap();
            order.lock().unwrap().push(i);
        }));
        // Let the task reach the queue before the next one arrives.
        tokio::task::yield_now().await;
    }
    assert_eq!(limiter.metrics().waiting, sizes.len());
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..sizes.len()).collect::<Vec<_>>());
    assert_eq!(limiter.metrics().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_new_arrival_does_not_overtake_the_queue() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(2)).unwrap();
    limiter.acquire_n(2).await.unwrap();
    let mut big = pin!(limiter.acquire_n(2));
    assert!(poll_once(big.as_mut()).is_pending());
    // 100 ms later one permit is free, but the waiter for 2 came first.
    tokio::time::advance(Duration::from_millis(100)).await;
    let mut small = pin!(limiter.acquire());
    assert!(poll_once(small.as_mut()).is_pending());
    big.await.unwrap();
    small.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn larger_than_burst_fails_at_once() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(3)).unwrap();
    let err = limiter.acquire_n(4).await.unwrap_err();
    let AcquireError::ExceedsBurst(exceeds) = err else {
        panic!("expected ExceedsBurst, got {err:?}");
    };
    assert_eq!((exceeds.requested, exceeds.burst), (4, 3));
    assert!(err.to_string().contains("exceeds the burst of 3"));
    assert_eq!(limiter.check_n(4).unwrap_err().retry_after(), None);
}

#[tokio::test(start_paused = true)]
async fn dropped_acquire_consumes_nothing() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    limiter.check().unwrap();
    {
        let mut waiting = pin!(limiter.acquire());
        assert!(poll_once(waiting.as_mut()).is_pending());
        assert_eq!(limiter.metrics().waiting, 1);
    }
    assert_eq!(limiter.metrics().waiting, 0);
    tokio::time::advance(Duration::from_millis(100)).await;
    // The cancelled waiter took nothing: the permit that refilled is still there.
    limiter.check().unwrap();
    assert!(limiter.check().is_err());
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_first_waiter_wakes_the_next() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    limiter.check().unwrap();
    let first = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::task::yield_now().await;
    let second = tokio::spawn({
        let limiter = limiter.clone();
        async move { limiter.acquire().await }
    });
    tokio::task::yield_now().await;
    assert_eq!(limiter.metrics().waiting, 2);
    first.abort();
    let start = tokio::time::Instant::now();
    second.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(limiter.metrics().admitted, 2);
}

#[tokio::test(start_paused = true)]
async fn timeout_around_acquire_is_safe() {
    let limiter = RateLimiter::new(Quota::per_second(1).with_burst(1)).unwrap();
    limiter.check().unwrap();
    let timed_out = tokio::time::timeout(Duration::from_millis(500), limiter.acquire()).await;
    assert!(timed_out.is_err());
    // 500 ms later (1 s after the first permit) the permit is there for someone else.
    tokio::time::advance(Duration::from_millis(500)).await;
    limiter.check().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_being_served_gives_its_permit_back() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(2)).unwrap();
    limiter.acquire_n(2).await.unwrap();
    let mut first = pin!(limiter.acquire());
    {
        let mut second = pin!(limiter.acquire());
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        tokio::time::advance(Duration::from_millis(200)).await;
        // Serving the first waiter serves the second too (both conform now)...
        assert!(poll_once(first.as_mut()).is_ready());
        assert_eq!(limiter.metrics().waiting, 1);
        // ...which is then dropped without ever seeing its permit: the permit comes back.
    }
    assert_eq!(limiter.metrics().waiting, 0);
    limiter.check().unwrap();
    assert!(limiter.check().is_err());
    assert_eq!(limiter.metrics().admitted, 4);
}

#[tokio::test(start_paused = true)]
async fn one_round_of_capacity_serves_every_conforming_waiter() {
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(5)).unwrap();
    limiter.acquire_n(5).await.unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire().await.unwrap();
                tokio::time::Instant::now()
            })
        })
        .collect();
    tokio::task::yield_now().await;
    let start = tokio::time::Instant::now();
    // All five conform 500 ms from now; none has to wait for another's wake-up in between.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for t in tasks {
        assert!(t.await.unwrap() - start <= Duration::from_millis(500));
    }
}

#[tokio::test(start_paused = true)]
async fn spin_wait_does_not_hang_on_a_paused_clock() {
    // With the clock paused, yielding cannot make time pass: the waiter must fall back to the
    // timer (which auto-advances) and still be exact.
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(10).with_burst(1))
        .spin_wait(RateLimiter::MAX_SPIN_WAIT)
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    for _ in 0..5 {
        limiter.acquire().await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_millis(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_wait_never_admits_early_on_a_real_clock() {
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(1000).with_burst(1))
        .spin_wait(Duration::from_millis(2))
        .build()
        .unwrap();
    let start = std::time::Instant::now();
    for _ in 0..20 {
        limiter.acquire().await.unwrap();
    }
    // 20 permits at 1 per ms after the first: never sooner than 19 ms.
    assert!(start.elapsed() >= Duration::from_millis(19));
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_one_tick_loses_nothing_on_a_paused_clock() {
    // 100,000/s with a burst of exactly 1 ms: waits are 10 µs, far below the timer's tick, so
    // the head waiter first yields; on a paused clock that cannot make time pass, and it must
    // fall back to the timer without hanging, admitting early or losing capacity.
    let limiter = RateLimiter::new(Quota::per_second(100_000).with_burst(100)).unwrap();
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let mut stamps = Vec::new();
                for _ in 0..1000 {
                    limiter.acquire().await.unwrap();
                    stamps.push(start.elapsed());
                }
                stamps
            })
        })
        .collect();
    let mut stamps = Vec::new();
    for t in tasks {
        stamps.extend(t.await.unwrap());
    }
    stamps.sort_unstable();
    // At most burst + rate·W in any window W = 1 ms.
    for (i, &t) in stamps.iter().enumerate() {
        let in_window = stamps[i..]
            .iter()
            .take_while(|&&u| u - t < Duration::from_millis(1))
            .count();
        assert!(
            in_window <= 200,
            "{in_window} admissions in 1 ms from {t:?}"
        );
    }
    // 2000 permits after a burst of 100, at 100 per ms: exactly 19 ms, nothing lost.
    assert_eq!(start.elapsed(), Duration::from_millis(19));
    assert_eq!(limiter.metrics().admitted, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_waits_never_admit_early_on_a_real_clock() {
    // Waits of 10 µs are spent yielding rather than sleeping: they must still end on time.
    let limiter = RateLimiter::new(Quota::per_second(100_000).with_burst(1)).unwrap();
    let start = std::time::Instant::now();
    for _ in 0..500 {
        limiter.acquire().await.unwrap();
    }
    // 500 permits, one every 10 µs after the first: never sooner than 4.99 ms.
    assert!(start.elapsed() >= Duration::from_micros(4990));
    assert_eq!(limiter.metrics().admitted, 500);
}

#[tokio::test(start_paused = true)]
async fn a_large_burst_sleeps_through_short_waits() {
    // With a burst of 10 ms, a late timer loses nothing, so even a 10 µs wait sleeps: on a
    // paused clock that is one timer tick, and the burst refilled meanwhile is taken at once.
    let limiter = RateLimiter::new(Quota::per_second(100_000).with_burst(1000)).unwrap();
    let start = tokio::time::Instant::now();
    for _ in 0..1001 {
        limiter.acquire().await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_millis(1));
    for _ in 0..100 {
        limiter.acquire().await.unwrap();
    }
    // The 1 ms tick refilled 100 permits, minus the one taken at its end.
    assert_eq!(start.elapsed(), Duration::from_millis(2));
}
