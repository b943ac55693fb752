//! The outcome counters never lag the handles: by the time a handle resolves (and wakes its
//! task), its job is already counted. Run on a multi-thread runtime, where the worker and the
//! awaiting task are on different threads.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use taskweave_pool::{JobError, JobHandle, Metrics, Pool};
use tokio::sync::oneshot;

/// A waker that takes a metrics snapshot at the moment it is woken, then wakes the task.
struct Snapshot {
    read: Arc<dyn Fn() -> Metrics + Send + Sync>,
    seen: Arc<Mutex<Vec<Metrics>>>,
    task: Waker,
}

impl Wake for Snapshot {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.seen.lock().unwrap().push((self.read)());
        self.task.wake_by_ref();
    }
}

/// Polls `handle` once with a snapshot waker.
fn poll_observed<T>(
    handle: &mut JobHandle<T>,
    cx: &mut Context<'_>,
    read: &Arc<dyn Fn() -> Metrics + Send + Sync>,
    seen: &Arc<Mutex<Vec<Metrics>>>,
) -> Poll<Result<T, JobError>> {
    let waker = Waker::from(Arc::new(Snapshot {
        read: Arc::clone(read),
        seen: Arc::clone(seen),
        task: cx.waker().clone(),
    }));
    Pin::new(handle).poll(&mut Context::from_waker(&waker))
}

/// Awaits `handle` with snapshot wakers, starting the job (through `start`) only once the
/// handle is waiting; returns the result and the metrics seen when the handle was woken.
async fn await_observed<T>(
    mut handle: JobHandle<T>,
    start: impl FnOnce(&JobHandle<T>),
    read: Arc<dyn Fn() -> Metrics + Send + Sync>,
) -> (Result<T, JobError>, Vec<Metrics>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let first = poll_fn(|cx| Poll::Ready(poll_observed(&mut handle, cx, &read, &seen))).await;
    assert!(
        first.is_pending(),
        "the job cannot finish before it is started"
    );
    start(&handle);
    let result = poll_fn(|cx| poll_observed(&mut handle, cx, &read, &seen)).await;
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_counts_each_job_before_its_handle_resolves() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(64)
        .build()
        .unwrap();
    let p = pool.clone();
    let read: Arc<dyn Fn() -> Metrics + Send + Sync> = Arc::new(move || p.metrics());
    for i in 0..200u64 {
        let (tx, rx) = oneshot::channel::<u64>();
        let handle = pool.submit(async move { rx.await.unwrap() }).await.unwrap();
        let (result, seen) =
            await_observed(handle, move |_| tx.send(i).unwrap(), Arc::clone(&read)).await;
        assert_eq!(result.unwrap(), i);
        assert!(!seen.is_empty());
        for m in seen {
            assert_eq!(
                m.completed,
                i + 1,
                "job {i} not counted when its handle woke"
            );
        }
    }
    // An aborted job is counted before its handle says `Cancelled`.
    let handle = pool.submit(std::future::pending::<()>()).await.unwrap();
    let (result, seen) = await_observed(handle, JobHandle::abort, Arc::clone(&read)).await;
    assert!(result.unwrap_err().is_cancelled());
    assert!(!seen.is_empty());
    for m in seen {
        assert_eq!(
            m.cancelled, 1,
            "the abort was not counted when the handle woke"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_pool_counts_each_job_before_its_handle_resolves() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .fixed_workers(2)
        .queue_capacity(64)
        .build_fixed(|rx: oneshot::Receiver<u64>| async move { rx.await.unwrap() })
        .unwrap();
    let p = pool.clone();
    let read: Arc<dyn Fn() -> Metrics + Send + Sync> = Arc::new(move || p.metrics());
    for i in 0..200u64 {
        let (tx, rx) = oneshot::channel::<u64>();
        let handle = pool.submit(rx).await.unwrap();
        let (result, seen) =
            await_observed(handle, move |_| tx.send(i).unwrap(), Arc::clone(&read)).await;
        assert_eq!(result.unwrap(), i);
        for m in seen {
            assert_eq!(
                m.completed,
                i + 1,
                "job {i} not counted when its handle woke"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_agree_with_every_resolved_handle() {
    let pool = Pool::builder()
        .max_concurrency(8)
        .queue_capacity(64)
        .build()
        .unwrap();
    let fixed = Pool::builder()
        .max_concurrency(8)
        .queue_capacity(64)
        .build_fixed(|i: u64| async move {
            tokio::task::yield_now().await;
            i
        })
        .unwrap();
    for round in 1..=20u64 {
        let mut handles = Vec::new();
        let mut fixed_handles = Vec::new();
        for i in 0..200u64 {
            handles.push(
                pool.submit(async move {
                    tokio::task::yield_now().await;
                    i
                })
                .await
                .unwrap(),
            );
            fixed_handles.push(fixed.submit(i).await.unwrap());
        }
        for h in handles {
            h.await.unwrap();
        }
        for h in fixed_handles {
            h.await.unwrap();
        }
        assert_eq!(pool.metrics().completed, round * 200);
        assert_eq!(fixed.metrics().completed, round * 200);
    }
}
