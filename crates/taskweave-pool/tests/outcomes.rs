//! Panic isolation, timeouts, aborts, detaching and blocking jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskweave_pool::{JobError, Pool};

#[tokio::test]
async fn a_panicking_job_is_reported_and_the_pool_keeps_working() {
    let pool = Pool::builder().max_concurrency(2).build().unwrap();
    let boom = pool.submit(async { panic!("kaboom {}", 7) }).await.unwrap();
    let fine = pool.submit(async { 1 + 1 }).await.unwrap();
    let err: JobError = boom.await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("kaboom 7"));
    assert_eq!(fine.await.unwrap(), 2);
    // Still usable after the panic.
    assert_eq!(pool.submit(async { 3 }).await.unwrap().await.unwrap(), 3);
    pool.drain().await;
    let m = pool.metrics();
    assert_eq!((m.completed, m.panicked, m.failed), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn jobs_past_the_timeout_are_dropped_and_reported() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .job_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let slow = pool
        .submit(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "never"
        })
        .await
        .unwrap();
    let quick = pool
        .submit(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            "quick"
        })
        .await
        .unwrap();
    assert_eq!(quick.await.unwrap(), "quick");
    assert_eq!(
        slow.await.unwrap_err(),
        JobError::TimedOut {
            after: Duration::from_secs(1)
        }
    );
    let m = pool.metrics();
    assert_eq!((m.completed, m.timed_out, m.in_flight), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn abort_cancels_running_and_queued_jobs() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(4)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let running = pool
        .submit(tokio::time::sleep(Duration::from_secs(60)))
        .await
        .unwrap();
    let r = Arc::clone(&ran);
    let queued = pool
        .submit(async move { r.store(true, Ordering::SeqCst) })
        .await
        .unwrap();
    queued.abort();
    running.abort();
    assert_eq!(running.await.unwrap_err(), JobError::Cancelled);
    assert_eq!(queued.await.unwrap_err(), JobError::Cancelled);
    pool.drain().await;
    assert!(
        !ran.load(Ordering::SeqCst),
        "an aborted queued job never runs"
    );
    assert_eq!(pool.metrics().cancelled, 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_handle_detaches_the_job() {
    let pool = Pool::builder().max_concurrency(1).build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let handle = pool
        .submit(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            r.store(true, Ordering::SeqCst);
        })
        .await
        .unwrap();
    drop(handle);
    pool.drain().await;
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(pool.metrics().completed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_jobs_count_against_the_limit() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(4)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let blocking = pool
        .submit_blocking(move || rx.recv().is_ok())
        .await
        .unwrap();
    let after = pool.submit(async { "after" }).await.unwrap();
    tokio::task::yield_now().await;
    let m = pool.metrics();
    assert_eq!(
        (m.in_flight, m.queued),
        (1, 1),
        "the async job waits for the blocking one"
    );
    tx.send(()).unwrap();
    assert!(blocking.await.unwrap());
    assert_eq!(after.await.unwrap(), "after");

    let panicking = pool
        .try_submit_blocking(|| -> u8 { panic!("blocking boom") })
        .unwrap();
    assert_eq!(
        panicking.await.unwrap_err().panic_message(),
        Some("blocking boom")
    );
}

/// Submits a blocking job that runs until released, and an async job queued behind it (limit 1).
async fn blocked_pool(
    timeout: Option<Duration>,
) -> (
    Pool,
    taskweave_pool::JobHandle<bool>,
    taskweave_pool::JobHandle<&'static str>,
    std::sync::mpsc::Sender<()>,
) {
    let mut builder = Pool::builder().max_concurrency(1).queue_capacity(4);
    if let Some(timeout) = timeout {
        builder = builder.job_timeout(timeout);
    }
    let pool = builder.build().unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let blocking = pool
        .submit_blocking(move || {
            let _ = started_tx.send(());
            released.recv().is_ok()
        })
        .await
        .unwrap();
    started.await.unwrap();
    let after = pool.submit(async { "after" }).await.unwrap();
    (pool, blocking, after, release)
}

/// The slot of a blocking job whose handle already resolved is still held by its closure.
async fn assert_slot_held_until_the_closure_returns(
    pool: &Pool,
    after: taskweave_pool::JobHandle<&'static str>,
    release: std::sync::mpsc::Sender<()>,
) {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let m = pool.metrics();
    assert_eq!(
        (m.in_flight, m.queued),
        (1, 1),
        "the queued job must wait for the still-running closure"
    );
    assert!(!after.is_finished());
    release.send(()).unwrap();
    assert_eq!(after.await.unwrap(), "after");
    pool.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_blocking_job_keeps_its_slot_until_its_closure_returns() {
    let (pool, blocking, after, release) = blocked_pool(None).await;
    blocking.abort();
    assert_eq!(blocking.await.unwrap_err(), JobError::Cancelled);
    assert_slot_held_until_the_closure_returns(&pool, after, release).await;
    assert_eq!(pool.metrics().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_blocking_job_keeps_its_slot_until_its_closure_returns() {
    let (pool, blocking, after, release) = blocked_pool(Some(Duration::from_secs(1))).await;
    // A running blocking closure holds the paused clock still: move it by hand.
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(matches!(
        blocking.await.unwrap_err(),
        JobError::TimedOut { .. }
    ));
    assert_slot_held_until_the_closure_returns(&pool, after, release).await;
    assert_eq!(pool.metrics().timed_out, 1);
}
