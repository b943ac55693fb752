//! Graceful close, shutdown with a deadline, and the cancellation token: no job is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskweave_pool::{JobError, Pool};
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn drain_runs_everything_queued_and_resolves_every_handle() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(64)
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..50u64 {
        let done = Arc::clone(&done);
        handles.push(
            pool.submit(async move {
                tokio::time::sleep(Duration::from_millis(i % 7)).await;
                done.fetch_add(1, Ordering::SeqCst);
                i
            })
            .await
            .unwrap(),
        );
    }
    // Detached jobs are drained too.
    let d = Arc::clone(&done);
    drop(
        pool.submit(async move {
            d.fetch_add(1, Ordering::SeqCst);
            0
        })
        .await
        .unwrap(),
    );
    pool.drain().await;
    assert_eq!(done.load(Ordering::SeqCst), 51);
    assert!(pool.submit(async { 0 }).await.is_err());
    for (i, h) in handles.into_iter().enumerate() {
        assert!(h.is_finished());
        assert_eq!(h.await.unwrap(), i as u64);
    }
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.failed, m.in_flight, m.queued),
        (51, 0, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_within_grace_is_clean() {
    let pool = Pool::builder().max_concurrency(2).build().unwrap();
    let h = pool
        .submit(tokio::time::sleep(Duration::from_millis(10)))
        .await
        .unwrap();
    let report = pool.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_clean());
    assert!(h.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn shutdown_past_grace_reports_aborted_and_never_started_jobs() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(8)
        .build()
        .unwrap();
    let quick = pool
        .submit(tokio::time::sleep(Duration::from_millis(10)))
        .await
        .unwrap();
    let stuck = pool
        .submit(tokio::time::sleep(Duration::from_secs(3600)))
        .await
        .unwrap();
    let stuck2 = pool
        .submit(tokio::time::sleep(Duration::from_secs(3600)))
        .await
        .unwrap();
    let queued = pool.submit(async { 1 }).await.unwrap();
    let keyed = pool.keyed::<&'static str>();
    let k1 = keyed
        .submit("a", tokio::time::sleep(Duration::from_secs(3600)))
        .await
        .unwrap();
    let k2 = keyed.submit("a", async {}).await.unwrap();

    let report = pool.shutdown(Duration::from_secs(1)).await;
    assert!(quick.await.is_ok());
    let mut aborted = report.aborted.clone();
    aborted.sort();
    assert_eq!(aborted, vec![stuck.id(), stuck2.id()]);
    let mut never = report.never_started.clone();
    never.sort();
    assert_eq!(never, vec![queued.id(), k1.id(), k2.id()]);
    for h in [stuck, stuck2, k1] {
        assert_eq!(h.await.unwrap_err(), JobError::Cancelled);
    }
    assert_eq!(queued.await.unwrap_err(), JobError::Cancelled);
    assert_eq!(k2.await.unwrap_err(), JobError::Cancelled);
    let m = pool.metrics();
    assert_eq!(
        (m.completed, m.cancelled, m.in_flight, m.queued),
        (1, 5, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_cancellation_token_closes_the_pool_gracefully() {
    let token = CancellationToken::new();
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(4)
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let running = pool
        .submit(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            1
        })
        .await
        .unwrap();
    let queued = pool.submit(async { 2 }).await.unwrap();
    let keyed = pool.keyed::<u8>();
    let behind = keyed.submit(7, async { 3 }).await.unwrap();
    token.cancel();
    tokio::task::yield_now().await;
    assert!(pool.is_closed() && keyed.is_closed());
    assert!(pool.submit(async { 0 }).await.unwrap_err().is_closed());
    assert!(keyed.try_submit(7, async { 0 }).unwrap_err().is_closed());
    // Nothing accepted before the token fired is cut short: it all runs to completion.
    assert_eq!(running.await, Ok(1));
    assert_eq!(queued.await, Ok(2));
    assert_eq!(behind.await, Ok(3));
    pool.drain().await;
    let m = pool.metrics();
    assert_eq!((m.completed, m.cancelled), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_token_cancelled_before_build_closes_the_pool_at_once() {
    let token = CancellationToken::new();
    token.cancel();
    let pool = Pool::builder()
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    assert!(pool.is_closed());
    assert!(pool.try_submit(async {}).unwrap_err().is_closed());
    let fixed = Pool::builder()
        .cancellation_token(token)
        .build_fixed(|x: u8| async move { x })
        .unwrap();
    assert!(fixed.is_closed());
    assert!(fixed.try_submit(1).unwrap_err().is_closed());
    fixed.drain().await;
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_shutdown_reports_what_it_cut_short() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .fixed_workers(1)
        .queue_capacity(8)
        .build_fixed(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .unwrap();
    let quick = pool.submit(5).await.unwrap();
    let stuck = pool.submit(1_000_000).await.unwrap();
    let stuck2 = pool.submit(1_000_000).await.unwrap();
    let queued = pool.submit(1).await.unwrap();
    let report = pool.shutdown(Duration::from_secs(1)).await;
    assert_eq!(quick.await.unwrap(), 5);
    let mut aborted = report.aborted.clone();
    aborted.sort();
    assert_eq!(aborted, vec![stuck.id(), stuck2.id()]);
    assert_eq!(report.never_started, vec![queued.id()]);
    assert_eq!(stuck.await.unwrap_err(), JobError::Cancelled);
    assert_eq!(queued.await.unwrap_err(), JobError::Cancelled);
    assert_eq!(pool.metrics().cancelled, 3);
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_drain_loses_nothing() {
    let pool = Pool::builder()
        .max_concurrency(3)
        .queue_capacity(4)
        .build_fixed(|i: u32| async move {
            tokio::time::sleep(Duration::from_millis(u64::from(i % 5))).await;
            i * 2
        })
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..40 {
        handles.push(pool.submit(i).await.unwrap());
    }
    pool.drain().await;
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), i as u32 * 2);
    }
    assert!(pool.submit(1).await.unwrap_err().is_closed());
    assert_eq!(pool.metrics().completed, 40);
}
