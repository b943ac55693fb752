//! The fixed-worker pool: queue-full behaviour, panic isolation, timeouts, aborts.

use std::time::Duration;

use taskweave_pool::{JobError, Pool};
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn try_submit_hands_the_input_back_when_full() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .fixed_workers(1)
        .queue_capacity(2)
        .build_fixed(|ms: u64| tokio::time::sleep(Duration::from_millis(ms)))
        .unwrap();
    let running = pool.try_submit(100).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let _q1 = pool.try_submit(1).unwrap();
    let _q2 = pool.try_submit(2).unwrap();
    let full = pool.try_submit(42).unwrap_err();
    assert!(full.is_full());
    assert_eq!(full.into_inner(), 42);
    let m = pool.metrics();
    assert_eq!((m.in_flight, m.queued), (1, 2));
    running.await.unwrap();
    pool.drain().await;
    assert!(pool.try_submit(1).unwrap_err().is_closed());
    assert_eq!(pool.metrics().completed, 3);
}

#[tokio::test(start_paused = true)]
async fn panics_are_contained_and_workers_keep_their_share() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .fixed_workers(2)
        .build_fixed(|n: u32| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(n % 2 == 0, "odd input {n}");
            n
        })
        .unwrap();
    let mut handles = Vec::new();
    for n in 0..8 {
        handles.push(pool.submit(n).await.unwrap());
    }
    for (n, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(v) => assert_eq!(v as usize, n),
            Err(e) => assert_eq!(e.panic_message(), Some(format!("odd input {n}").as_str())),
        }
    }
    // After four panics the pool still runs four jobs at once.
    let mut handles = Vec::new();
    for n in [0, 2, 4, 6, 8, 10] {
        handles.push(pool.submit(n).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 4);
    for h in handles {
        h.await.unwrap();
    }
    let m = pool.metrics();
    assert_eq!((m.completed, m.panicked), (10, 4));
}

#[tokio::test(start_paused = true)]
async fn handler_panics_before_the_future_are_reported_too() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .build_fixed(|n: u32| {
            assert!(n != 0, "zero");
            async move { n }
        })
        .unwrap();
    assert!(pool.submit(0).await.unwrap().await.unwrap_err().is_panic());
    assert_eq!(pool.submit(5).await.unwrap().await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_aborts() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .job_timeout(Duration::from_secs(1))
        .build_fixed(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .unwrap();
    let slow = pool.submit(5_000).await.unwrap();
    let aborted = pool.submit(5_000).await.unwrap();
    let quick = pool.submit(10).await.unwrap();
    aborted.abort();
    assert_eq!(aborted.await.unwrap_err(), JobError::Cancelled);
    assert_eq!(quick.await.unwrap(), 10);
    assert_eq!(
        slow.await.unwrap_err(),
        JobError::TimedOut {
            after: Duration::from_secs(1)
        }
    );
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.timed_out, m.cancelled, m.failed),
        (1, 1, 1, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn the_token_closes_a_fixed_pool_gracefully() {
    let token = CancellationToken::new();
    let pool = Pool::builder()
        .max_concurrency(1)
        .cancellation_token(token.clone())
        .build_fixed(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .unwrap();
    let running = pool.submit(60_000).await.unwrap();
    let queued = pool.submit(1).await.unwrap();
    token.cancel();
    tokio::task::yield_now().await;
    assert!(pool.is_closed());
    assert!(pool.try_submit(2).unwrap_err().is_closed());
    assert_eq!(running.await, Ok(60_000));
    assert_eq!(queued.await, Ok(1));
    pool.drain().await;
    let m = pool.metrics();
    assert_eq!((m.completed, m.cancelled), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn shutdown_resolves_every_item_of_a_running_stream() {
    use futures_util::StreamExt as _;

    let pool = Pool::builder()
        .max_concurrency(2)
        .fixed_workers(1)
        .queue_capacity(4)
        .build_fixed(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .unwrap();
    let inputs = futures_util::stream::iter([1, 60_000, 60_000, 2, 3, 60_000, 4]);
    let reader = tokio::spawn(pool.process(inputs).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = pool.shutdown(Duration::from_secs(1)).await;
    let results = reader.await.unwrap();
    assert_eq!(results.len(), 7, "one item per input");
    // Input 1 finished; the two 60 s jobs then held both slots until the grace period ended
    // (aborted); the other four were still queued (never started).
    assert_eq!(results[0], Ok(1));
    assert!(results[1..].iter().all(|r| r == &Err(JobError::Cancelled)));
    assert_eq!((report.aborted.len(), report.never_started.len()), (2, 4));
    assert_eq!(pool.metrics().cancelled, 6);
}
