//! The lifecycle every taskweave component shares: `abort()` is the only hard stop, and
//! dropping the last handle is a `close()` — accepted work finishes, nothing is aborted.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use taskweave_pool::{JobError, Pool};
use taskweave_testkit::LogCapture;

/// Lets every other task run until it waits.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// What the pool logs, captured on this thread, at `DEBUG` and above.
///
/// Every test here installs one, even those that read no logs (see `LogCapture`).
fn install_logs() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let logs = LogCapture::default();
    let guard = logs.install(tracing::Level::DEBUG);
    (logs, guard)
}

#[tokio::test(start_paused = true)]
async fn abort_cancels_running_queued_and_keyed_jobs_and_refuses_new_ones() {
    let (logs, _guard) = install_logs();
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let running = pool
        .submit(tokio::time::sleep(Duration::from_secs(3600)))
        .await
        .unwrap();
    let queued = pool.submit(async {}).await.unwrap();
    let keyed = pool.keyed::<u8>();
    let head = keyed.submit(1, async {}).await.unwrap();
    let behind = keyed.submit(1, async {}).await.unwrap();
    // The queue is full: this submitter waits for room.
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.submit(async { 9 }).await.map(|_| ()) }
    });
    settle().await;
    assert_eq!(pool.metrics().queued, 3);

    pool.abort();
    assert!(pool.is_closed());
    // Every submitter whose work was discarded is told.
    for handle in [running, queued, head, behind] {
        assert_eq!(handle.await, Err(JobError::Cancelled));
    }
    let refused = waiting.await.unwrap().unwrap_err();
    assert!(refused.is_closed());
    assert_eq!(refused.into_inner().await, 9, "the job is handed back");
    assert!(pool.submit(async {}).await.unwrap_err().is_closed());
    assert!(keyed.try_submit(2, async {}).unwrap_err().is_closed());
    // Counted, logged, and reported by a later shutdown.
    let m = pool.metrics();
    assert_eq!(
        (m.cancelled, m.completed, m.in_flight, m.queued),
        (4, 0, 0, 0)
    );
    assert!(
        logs.text().contains("abort() was called"),
        "{}",
        logs.text()
    );
    pool.abort();
    pool.drain().await;
    let report = pool.shutdown(Duration::from_secs(1)).await;
    assert_eq!((report.aborted.len(), report.never_started.len()), (1, 3));
    assert!(!report.is_clean());
    assert_eq!(
        pool.metrics().cancelled,
        4,
        "a second abort changes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn abort_stops_a_fixed_pool_and_its_streams() {
    // Every test in this binary installs a subscriber: see `install_logs`.
    let _logs = install_logs();
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(8)
        .build_fixed(|ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        })
        .unwrap();
    let running = pool.submit(3_600_000).await.unwrap();
    let queued = pool.submit(1).await.unwrap();
    let stream = tokio::spawn(
        pool.process(futures_util::stream::iter([1u64, 2, 3]))
            .collect::<Vec<_>>(),
    );
    settle().await;
    pool.abort();
    assert!(pool.is_closed());
    assert_eq!(running.await, Err(JobError::Cancelled));
    assert_eq!(queued.await, Err(JobError::Cancelled));
    let items = stream.await.unwrap();
    assert_eq!(items.len(), 3, "one item per input");
    assert!(items.iter().all(|item| item == &Err(JobError::Cancelled)));
    assert!(pool.try_submit(1).unwrap_err().is_closed());
    pool.drain().await;
    let m = pool.metrics();
    assert_eq!(
        (m.cancelled, m.completed, m.in_flight, m.queued),
        (5, 0, 0, 0)
    );
    let report = pool.shutdown(Duration::ZERO).await;
    assert_eq!((report.aborted.len(), report.never_started.len()), (1, 4));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_pool_handle_closes_it_and_accepted_jobs_finish() {
    let (logs, _guard) = install_logs();
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(4)
        .build()
        .unwrap();
    let running = pool
        .submit(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            1
        })
        .await
        .unwrap();
    let queued = pool.submit(async { 2 }).await.unwrap();
    let keyed = pool.keyed::<u8>();
    let first = keyed.submit(1, async { 3 }).await.unwrap();
    let second = keyed.submit(1, async { 4 }).await.unwrap();

    let clone = pool.clone();
    drop(pool);
    drop(clone);
    // A `KeyedPool` is a handle too: the pool stays open for it.
    assert!(!keyed.is_closed());
    assert!(!logs.text().contains("closed"), "{}", logs.text());
    let third = keyed.submit(2, async { 5 }).await.unwrap();

    drop(keyed);
    assert!(
        logs.text().contains("the last handle was dropped"),
        "{}",
        logs.text()
    );
    // Nothing accepted is aborted: every job runs, keyed ones in order.
    assert_eq!(running.await, Ok(1));
    assert_eq!(queued.await, Ok(2));
    assert_eq!(first.await, Ok(3));
    assert_eq!(second.await, Ok(4));
    assert_eq!(third.await, Ok(5));
    assert!(!logs.text().contains("cancelling"), "{}", logs.text());
}

#[tokio::test(start_paused = true)]
async fn a_pool_stream_is_a_handle_that_keeps_the_pool_open() {
    // Every test in this binary installs a subscriber: see `install_logs`.
    let _logs = install_logs();
    let pool = Pool::builder().max_concurrency(2).build().unwrap();
    let stream = pool.process(futures_util::stream::iter(0..4u64), |i| async move {
        tokio::time::sleep(Duration::from_millis(i)).await;
        i
    });
    // Had the pool closed here, the inputs not yet submitted would yield `Closed`.
    drop(pool);
    let results: Vec<_> = stream.collect().await;
    assert_eq!(results, vec![Ok(0), Ok(1), Ok(2), Ok(3)]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_fixed_pool_handle_closes_it_and_accepted_jobs_finish() {
    // Every test in this binary installs a subscriber: see `install_logs`.
    let _logs = install_logs();
    // The handler holds this: once the pool is closed and drained its workers exit and drop it.
    let alive = Arc::new(());
    let pool = {
        let alive = Arc::clone(&alive);
        Pool::builder()
            .max_concurrency(1)
            .queue_capacity(4)
            .build_fixed(move |ms: u64| {
                let _alive = &alive;
                async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    ms
                }
            })
            .unwrap()
    };
    let running = pool.submit(5_000).await.unwrap();
    let queued = pool.submit(1).await.unwrap();
    // A stream is a handle too: the pool stays open (and its workers alive) while it is read.
    let stream = pool.process(futures_util::stream::iter([2u64, 3]));
    drop(pool);
    let results: Vec<_> = stream.collect().await;
    assert_eq!(results, vec![Ok(2), Ok(3)]);
    // Nothing accepted is aborted.
    assert_eq!(running.await, Ok(5_000));
    assert_eq!(queued.await, Ok(1));
    settle().await;
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "closed by the drop of its last handle, the pool's workers exited once drained"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fixed_pool_that_is_never_closed_keeps_its_workers() {
    // Every test in this binary installs a subscriber: see `install_logs`.
    let _logs = install_logs();
    // The counterpart of the test above: the workers do not exit while a handle lives.
    let alive = Arc::new(());
    let pool = {
        let alive = Arc::clone(&alive);
        Pool::builder()
            .max_concurrency(1)
            .build_fixed(move |x: u8| {
                let _alive = &alive;
                async move { x }
            })
            .unwrap()
    };
    assert_eq!(pool.submit(1).await.unwrap().await, Ok(1));
    settle().await;
    assert_eq!(Arc::strong_count(&alive), 2);
    pool.close();
    settle().await;
    assert_eq!(Arc::strong_count(&alive), 1);
}
