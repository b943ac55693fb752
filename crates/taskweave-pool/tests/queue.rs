//! Queue-full behaviour: `try_submit` hands the job back, `submit` waits for room.

use std::time::Duration;

use taskweave_pool::{ConfigError, MAX_CAPACITY, Pool, SubmitError};
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn try_submit_hands_the_job_back_when_the_queue_is_full() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let (release, gate) = oneshot::channel::<()>();
    let running = pool.try_submit(async move { gate.await.ok() }).unwrap();
    let q1 = pool.try_submit(async { 1 }).unwrap();
    let q2 = pool.try_submit(async { 2 }).unwrap();
    tokio::task::yield_now().await;
    assert_eq!(pool.metrics().in_flight, 1);
    assert_eq!(pool.metrics().queued, 2);

    let rejected = pool.try_submit(async { 3 }).unwrap_err();
    assert!(rejected.is_full());
    // The job comes back intact and still runs when resubmitted.
    let job = rejected.into_inner();
    release.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Some(()));
    assert_eq!(q1.await.unwrap(), 1);
    assert_eq!(q2.await.unwrap(), 2);
    assert_eq!(pool.submit(job).await.unwrap().await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn submit_waits_for_room_then_proceeds() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let slow = pool
        .submit(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            "slow"
        })
        .await
        .unwrap();
    let _queued = pool.submit(async { "queued" }).await.unwrap();

    let pool2 = pool.clone();
    let waiter = tokio::spawn(async move {
        let h = pool2.submit(async { "late" }).await.unwrap();
        (tokio::time::Instant::now(), h.await.unwrap())
    });
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        !waiter.is_finished(),
        "submit must wait while the queue is full"
    );
    assert_eq!(slow.await.unwrap(), "slow");
    let (when, out) = waiter.await.unwrap();
    assert_eq!(out, "late");
    assert!(when - start >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_closed_pool_hands_jobs_back() {
    let pool = Pool::builder().build().unwrap();
    pool.close();
    assert!(pool.is_closed());
    let err = pool.submit(async { 1 }).await.unwrap_err();
    assert!(err.is_closed());
    assert!(matches!(
        pool.try_submit(async { 1 }),
        Err(SubmitError::Closed(_))
    ));
    let keyed = pool.keyed::<u8>();
    assert!(keyed.submit(1, async {}).await.unwrap_err().is_closed());
}

#[tokio::test(start_paused = true)]
async fn waiting_submitters_get_their_job_back_on_close() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(1)
        .build()
        .unwrap();
    let _a = pool
        .submit(tokio::time::sleep(Duration::from_secs(5)))
        .await
        .unwrap();
    let _b = pool.submit(async {}).await.unwrap();
    let p = pool.clone();
    let waiter = tokio::spawn(async move { p.submit(async { 7 }).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(1)).await;
    pool.close();
    let err = waiter.await.unwrap().unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner().await, 7);
}

#[tokio::test]
async fn invalid_configuration_is_a_typed_error() {
    assert_eq!(
        Pool::builder().max_concurrency(0).build().unwrap_err(),
        ConfigError::ZeroConcurrency
    );
    assert_eq!(
        Pool::builder().queue_capacity(0).build().unwrap_err(),
        ConfigError::ZeroQueueCapacity
    );
    assert_eq!(
        Pool::builder()
            .job_timeout(Duration::ZERO)
            .build()
            .unwrap_err(),
        ConfigError::ZeroTimeout
    );
    assert!(matches!(
        Pool::builder()
            .queue_capacity(usize::MAX)
            .build()
            .unwrap_err(),
        ConfigError::QueueTooLarge { .. }
    ));
    let fixed = Pool::builder()
        .max_concurrency(2)
        .fixed_workers(3)
        .build_fixed(|x: u8| async move { x });
    assert!(matches!(
        fixed.unwrap_err(),
        ConfigError::WorkersExceedConcurrency { workers: 3, .. }
    ));
    let zero = Pool::builder()
        .fixed_workers(0)
        .build_fixed(|x: u8| async move { x });
    assert_eq!(zero.unwrap_err(), ConfigError::ZeroWorkers);
    // Would try to allocate state for usize::MAX workers.
    let absurd = Pool::builder()
        .max_concurrency(MAX_CAPACITY)
        .fixed_workers(usize::MAX)
        .build_fixed(|x: u8| async move { x });
    assert!(matches!(
        absurd.unwrap_err(),
        ConfigError::TooManyWorkers {
            requested: usize::MAX,
            ..
        }
    ));
    // Every size has an upper bound, and a typed error above it.
    assert_eq!(
        Pool::builder()
            .max_concurrency(usize::MAX)
            .build()
            .unwrap_err(),
        ConfigError::ConcurrencyTooLarge {
            requested: usize::MAX,
            max: MAX_CAPACITY
        }
    );
    assert!(matches!(
        Pool::builder()
            .max_concurrency(MAX_CAPACITY + 1)
            .build_fixed(|x: u8| async move { x })
            .unwrap_err(),
        ConfigError::ConcurrencyTooLarge { .. }
    ));
    assert_eq!(
        Pool::builder().key_queue_capacity(0).build().unwrap_err(),
        ConfigError::ZeroKeyQueueCapacity
    );
    assert_eq!(
        Pool::builder()
            .key_queue_capacity(MAX_CAPACITY + 1)
            .build()
            .unwrap_err(),
        ConfigError::KeyQueueTooLarge {
            requested: MAX_CAPACITY + 1,
            max: MAX_CAPACITY
        }
    );
    assert!(matches!(
        Pool::builder()
            .queue_capacity(MAX_CAPACITY + 1)
            .build()
            .unwrap_err(),
        ConfigError::QueueTooLarge { .. }
    ));
    // The largest sizes are accepted and allocate nothing up front.
    let big = Pool::builder()
        .max_concurrency(MAX_CAPACITY)
        .queue_capacity(MAX_CAPACITY)
        .key_queue_capacity(MAX_CAPACITY)
        .build()
        .unwrap();
    assert_eq!(big.submit(async { 1 }).await.unwrap().await.unwrap(), 1);
    let keyed = big.keyed::<u8>();
    assert_eq!(
        keyed.submit(1, async { 2 }).await.unwrap().await.unwrap(),
        2
    );
    big.set_max_concurrency(MAX_CAPACITY).unwrap();
    assert_eq!(big.max_concurrency(), MAX_CAPACITY);
    let big_fixed = Pool::builder()
        .max_concurrency(MAX_CAPACITY)
        .queue_capacity(MAX_CAPACITY)
        .fixed_workers(2)
        .build_fixed(|x: u8| async move { x })
        .unwrap();
    assert_eq!(big_fixed.submit(3).await.unwrap().await.unwrap(), 3);
    use futures_util::StreamExt as _;
    let out: Vec<_> = big_fixed
        .process(futures_util::stream::iter(0..100u8))
        .collect()
        .await;
    assert_eq!(out.len(), 100);
    // The messages say what to do.
    assert!(
        ConfigError::ZeroConcurrency
            .to_string()
            .contains("at least 1")
    );
}

#[test]
fn building_outside_a_runtime_is_an_error_not_a_panic() {
    assert_eq!(Pool::builder().build().unwrap_err(), ConfigError::NoRuntime);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = Pool::builder()
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    // Submitted from a plain thread, run on the runtime.
    let handle = pool.try_submit(async { 5 }).unwrap();
    assert_eq!(rt.block_on(handle).unwrap(), 5);
}
