//! Changing the concurrency limit at run time.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskweave_pool::Pool;

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

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
    pool.set_max_concurrency(nz(4));
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
    pool.set_max_concurrency(nz(1));
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
    pool.set_max_concurrency(nz(6));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 6);
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 6);
    pool.set_max_concurrency(nz(3));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pool.metrics().in_flight <= 3);
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(pool.metrics().completed, 12);
}
