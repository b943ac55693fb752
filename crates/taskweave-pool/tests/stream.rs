//! Stream helpers: ordered and completion-order output, bounded read-ahead.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use taskweave_pool::{JobError, Pool};

/// Later inputs finish first, so only an ordering helper keeps input order.
fn delay(i: u64) -> Duration {
    Duration::from_millis(50 - i)
}

#[tokio::test(start_paused = true)]
async fn process_keeps_input_order() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(4)
        .build()
        .unwrap();
    let out: Vec<u64> = pool
        .process(futures_util::stream::iter(0..50u64), |i| async move {
            tokio::time::sleep(delay(i)).await;
            i * 10
        })
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(out, (0..50).map(|i| i * 10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn process_unordered_yields_in_completion_order() {
    let pool = Pool::builder()
        .max_concurrency(8)
        .queue_capacity(8)
        .build()
        .unwrap();
    let out: Vec<u64> = pool
        .process_unordered(futures_util::stream::iter(0..8u64), |i| async move {
            tokio::time::sleep(delay(i)).await;
            i
        })
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(out, (0..8).rev().collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn read_ahead_is_bounded_by_limit_plus_queue() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(3)
        .build()
        .unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let t = Arc::clone(&taken);
    let inputs = futures_util::stream::iter(0..1000u64).inspect(move |_| {
        t.fetch_add(1, Ordering::SeqCst);
    });
    let mut results = Box::pin(pool.process(inputs, |i| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        i
    }));
    for expected in 0..100 {
        assert_eq!(results.next().await.unwrap().unwrap(), expected);
        let consumed = expected as usize + 1;
        assert!(taken.load(Ordering::SeqCst) <= consumed + 5);
    }
    // Stop reading: nothing more is taken.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(taken.load(Ordering::SeqCst) <= 105);
}

#[tokio::test]
async fn a_closed_pool_yields_closed_for_every_input() {
    let pool = Pool::builder().build().unwrap();
    pool.close();
    let out: Vec<_> = pool
        .process(futures_util::stream::iter(0..3), |i| async move { i })
        .collect()
        .await;
    assert_eq!(out, vec![Err(JobError::Closed); 3]);
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_streams_in_order_and_unordered() {
    let pool = Pool::builder()
        .max_concurrency(6)
        .fixed_workers(2)
        .queue_capacity(4)
        .build_fixed(|i: u64| async move {
            tokio::time::sleep(delay(i % 50)).await;
            if i == 13 {
                panic!("unlucky");
            }
            i
        })
        .unwrap();
    let ordered: Vec<_> = pool
        .process(futures_util::stream::iter(0..200u64))
        .collect()
        .await;
    assert_eq!(ordered.len(), 200);
    for (i, r) in ordered.into_iter().enumerate() {
        if i == 13 {
            assert_eq!(r.unwrap_err().panic_message(), Some("unlucky"));
        } else {
            assert_eq!(r.unwrap(), i as u64);
        }
    }
    let mut unordered: Vec<u64> = pool
        .process_unordered(futures_util::stream::iter(20..30u64))
        .map(Result::unwrap)
        .collect()
        .await;
    let first = unordered[0];
    unordered.sort_unstable();
    assert_eq!(unordered, (20..30).collect::<Vec<_>>());
    assert_ne!(first, 20, "the slowest job should not come first");
    // The worker that ran the panicking job kept working.
    assert_eq!(pool.metrics().panicked, 1);
    assert_eq!(pool.metrics().completed, 209);
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_read_ahead_is_bounded() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .fixed_workers(1)
        .queue_capacity(3)
        .build_fixed(|i: u64| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            i
        })
        .unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let t = Arc::clone(&taken);
    let inputs = futures_util::stream::iter(0..1000u64).inspect(move |_| {
        t.fetch_add(1, Ordering::SeqCst);
    });
    let mut results = pool.process(inputs);
    for expected in 0..100 {
        assert_eq!(results.next().await.unwrap().unwrap(), expected);
        assert!(taken.load(Ordering::SeqCst) <= expected as usize + 1 + 5);
    }
    drop(results);
    pool.drain().await;
    let m = pool.metrics();
    // Every taken input either completed or was cancelled with the dropped stream.
    assert_eq!(
        m.completed + m.cancelled,
        taken.load(Ordering::SeqCst) as u64
    );
}

/// A stream of the items sent on the returned sender; pending while the sender is idle.
fn channel_stream<T: Send + 'static>(
    capacity: usize,
) -> (
    tokio::sync::mpsc::Sender<T>,
    impl futures_core::Stream<Item = T> + Send + Unpin,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, Box::pin(stream))
}

#[tokio::test(start_paused = true)]
async fn an_idle_fixed_pool_stream_holds_no_queue_room() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .fixed_workers(2)
        .queue_capacity(64)
        .build_fixed(|i: u64| async move { i })
        .unwrap();
    let (tx, inputs) = channel_stream::<u64>(64);
    let mut results = pool.process(inputs);
    // The input is idle: the stream waits for it.
    let mut next = taskweave_testkit::FreshWakers::new(results.next());
    let waker = std::task::Waker::noop();
    assert!(
        next.poll_once(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    drop(next);
    tokio::task::yield_now().await;
    let m = pool.metrics();
    assert_eq!((m.queued, m.in_flight), (0, 0));
    // Nothing queued, nothing running: the whole queue is free for other submitters.
    let mut handles = Vec::new();
    for i in 0..64 {
        handles.push(
            pool.try_submit(i)
                .expect("the idle stream must not hold queue room"),
        );
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), i as u64);
    }
    // And the stream still works once its input moves.
    tx.send(7).await.unwrap();
    assert_eq!(results.next().await.unwrap().unwrap(), 7);
    drop(tx);
    assert!(results.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_idle_pool_stream_holds_no_queue_room() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(64)
        .build()
        .unwrap();
    let (tx, inputs) = channel_stream::<u64>(64);
    let mut results = Box::pin(pool.process(inputs, |i| async move { i }));
    let mut next = taskweave_testkit::FreshWakers::new(results.next());
    let waker = std::task::Waker::noop();
    assert!(
        next.poll_once(&mut std::task::Context::from_waker(waker))
            .is_pending()
    );
    drop(next);
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for _ in 0..(4 + 64) {
        let mut gate = gate.clone();
        handles.push(
            pool.try_submit(async move {
                gate.wait_for(|open| *open).await.ok();
            })
            .expect("the idle stream must not hold queue room"),
        );
    }
    release.send(true).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    tx.send(7).await.unwrap();
    assert_eq!(results.next().await.unwrap().unwrap(), 7);
}
