//! Concurrency limits: fixed (permit released on drop) and adaptive (AIMD).

use std::time::Duration;

use taskweave_limit::{AdaptiveLimit, ConcurrencyLimit, TryAcquireError};

fn limit(n: usize) -> ConcurrencyLimit {
    ConcurrencyLimit::new(n).unwrap()
}

#[tokio::test]
async fn permits_are_released_on_drop() {
    let limit = limit(2);
    let a = limit.acquire().await.unwrap();
    let _b = limit.try_acquire().unwrap();
    assert_eq!(
        limit.try_acquire().unwrap_err(),
        TryAcquireError::AtCapacity
    );
    assert_eq!(limit.in_flight(), 2);
    drop(a);
    let _c = limit.try_acquire().unwrap();
    let m = limit.metrics();
    assert_eq!((m.admitted, m.rejected, m.limit, m.in_flight), (3, 1, 2, 2));
}

#[tokio::test(start_paused = true)]
async fn waiters_get_slots_in_order() {
    let limit = limit(1);
    let held = limit.acquire().await.unwrap();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let limit = limit.clone();
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let _p = limit.acquire().await.unwrap();
            order.lock().unwrap().push(i);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }));
        tokio::task::yield_now().await;
    }
    assert_eq!(limit.metrics().waiting, 5);
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(limit.metrics().waiting, 0);
}

fn adaptive() -> AdaptiveLimit {
    AdaptiveLimit::builder(Duration::from_millis(100))
        .initial(4)
        .min(2)
        .max(6)
        .backoff(0.5)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn adaptive_grows_on_fast_success_and_shrinks_on_overload() {
    let limit = adaptive();
    assert_eq!(limit.current_limit(), 4);
    // Fast successes with the limit in use raise it, one at a time, up to max.
    for expected in [5, 6, 6] {
        let permits: Vec<_> = (0..limit.current_limit())
            .map(|_| limit.try_acquire().unwrap())
            .collect();
        assert!(limit.try_acquire().is_err());
        let mut permits = permits.into_iter();
        permits.next().unwrap().success();
        drop(permits);
        assert_eq!(limit.current_limit(), expected);
    }
    // An overload halves it, down to min.
    limit.try_acquire().unwrap().overload();
    assert_eq!(limit.current_limit(), 3);
    limit.try_acquire().unwrap().overload();
    assert_eq!(limit.current_limit(), 2);
    limit.try_acquire().unwrap().overload();
    assert_eq!(limit.current_limit(), 2);
    assert_eq!(limit.metrics().limit, 2);
}

#[tokio::test(start_paused = true)]
async fn slow_success_counts_as_overload() {
    let limit = adaptive();
    let permit = limit.acquire().await.unwrap();
    tokio::time::advance(Duration::from_millis(150)).await;
    permit.success();
    assert_eq!(limit.current_limit(), 2);
}

#[tokio::test(start_paused = true)]
async fn idle_success_does_not_grow_the_limit() {
    let limit = adaptive();
    // One request in flight out of 4: success says nothing about more concurrency.
    limit.acquire().await.unwrap().success();
    assert_eq!(limit.current_limit(), 4);
}

#[tokio::test(start_paused = true)]
async fn shrinking_retires_slots_as_they_are_released() {
    let limit = adaptive();
    let held: Vec<_> = (0..4).map(|_| limit.try_acquire().unwrap()).collect();
    let mut held = held.into_iter();
    // Limit 4 -> 2 while all 4 are in flight: nothing new starts until fewer than 2 run.
    held.next().unwrap().overload();
    assert_eq!(limit.current_limit(), 2);
    assert!(limit.try_acquire().is_err()); // 3 in flight
    drop(held.next());
    assert!(limit.try_acquire().is_err()); // 2 in flight
    drop(held.next());
    let a = limit.try_acquire().unwrap(); // 1 in flight, so a second may start
    assert!(limit.try_acquire().is_err());
    drop(held.next());
    let b = limit.try_acquire().unwrap();
    assert!(limit.try_acquire().is_err());
    assert_eq!(limit.in_flight(), 2);
    drop((a, b));
    assert_eq!(limit.in_flight(), 0);
}
