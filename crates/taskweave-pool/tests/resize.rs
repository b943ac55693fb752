//! Changing the concurrency limit at run time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskweave_pool::{ConfigError, MAX_CAPACITY, Pool};

struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

async fn tracked(gauge: Arc<Gauge>, ms: u64) {
    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
    gauge.peak.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    gauge.now.fetch_sub(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn raising_the_limit_starts_queued_jobs_at_once() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(16)
        .build()
        .unwrap();
    let gauge = Arc::new(Gauge {
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    for _ in 0..8 {
        drop(pool.submit(tracked(Arc::clone(&gauge), 100)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 1);
    pool.set_max_concurrency(4).unwrap();
    assert_eq!(pool.max_concurrency(), 4);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let m = pool.metrics();
    assert_eq!((m.in_flight, m.queued, m.max_concurrency), (4, 4, 4));
    pool.drain().await;
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 4);
    assert_eq!(pool.metrics().completed, 8);
}

#[tokio::test(start_paused = true)]
async fn lowering_the_limit_takes_effect_as_jobs_finish() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(16)
        .build()
        .unwrap();
    let gauge = Arc::new(Gauge {
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    for _ in 0..4 {
        drop(pool.submit(tracked(Arc::clone(&gauge), 100)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 4);
    pool.set_max_concurrency(1).unwrap();
    // Running jobs are not interrupted.
    assert_eq!(pool.metrics().in_flight, 4);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(pool.metrics().in_flight, 0);

    gauge.peak.store(0, Ordering::SeqCst);
    for _ in 0..6 {
        drop(pool.submit(tracked(Arc::clone(&gauge), 10)).await.unwrap());
    }
    pool.drain().await;
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 1);
    assert_eq!(pool.metrics().completed, 10);
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_resizes_too() {
    let gauge = Arc::new(Gauge {
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let g = Arc::clone(&gauge);
    let pool = Pool::builder()
        .max_concurrency(2)
        .fixed_workers(2)
        .queue_capacity(32)
        .build_fixed(move |ms: u64| tracked(Arc::clone(&g), ms))
        .unwrap();
    let mut handles = Vec::new();
    for _ in 0..12 {
        handles.push(pool.submit(100).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 2);
    pool.set_max_concurrency(6).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 6);
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 6);
    pool.set_max_concurrency(3).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pool.metrics().in_flight <= 3);
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(pool.metrics().completed, 12);
}

#[tokio::test]
async fn an_invalid_limit_is_a_typed_error_and_changes_nothing() {
    let pool = Pool::builder().max_concurrency(2).build().unwrap();
    assert_eq!(
        pool.set_max_concurrency(0),
        Err(ConfigError::ZeroConcurrency)
    );
    assert_eq!(
        pool.set_max_concurrency(MAX_CAPACITY + 1),
        Err(ConfigError::ConcurrencyTooLarge {
            requested: MAX_CAPACITY + 1,
            max: MAX_CAPACITY
        })
    );
    assert_eq!(pool.max_concurrency(), 2);
    pool.set_max_concurrency(MAX_CAPACITY).unwrap();
    assert_eq!(pool.max_concurrency(), MAX_CAPACITY);

    let fixed = Pool::builder()
        .max_concurrency(2)
        .build_fixed(|x: u8| async move { x })
        .unwrap();
    assert_eq!(
        fixed.set_max_concurrency(0),
        Err(ConfigError::ZeroConcurrency)
    );
    assert!(matches!(
        fixed.set_max_concurrency(usize::MAX),
        Err(ConfigError::ConcurrencyTooLarge { .. })
    ));
    assert_eq!(fixed.max_concurrency(), 2);
    // The pool still works after a refused change.
    assert_eq!(fixed.submit(7).await.unwrap().await, Ok(7));
}
