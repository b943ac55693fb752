//! Waker churn: every future of the crate that can wait completes when polled with a brand-new
//! waker every time (so it cannot rely on recognising "its" waker), and is polled only a few
//! times while it waits (so it does not wake itself in a loop).

use std::future::{Future, pending};
use std::time::Duration;

use futures_util::StreamExt as _;
use taskweave_pool::{FixedPool, Pool};
use taskweave_testkit::FreshWakers;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runs `fut` as a task, polled with a fresh waker every time; resolves to its output and the
/// number of polls.
fn spawn_churn<F>(fut: F) -> JoinHandle<(F::Output, usize)>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(FreshWakers::new(fut))
}

/// A gate that jobs wait on until it is opened.
fn gate() -> (watch::Sender<bool>, impl Fn() -> GateJob) {
    let (open, rx) = watch::channel(false);
    (open, move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            rx.wait_for(|open| *open).await.ok();
        })
    })
}

type GateJob = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

// Streams: a reader is polled once per wake-up, and woken once per batch of results (jobs
// finish at a few hundred distinct instants of paused time here), so well under once per item;
// a stream that woke itself in a loop would be polled thousands of times.

/// Lets every other task run until it waits.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// A pool with one slot and a queue of 64, all taken by jobs waiting on the returned gate.
async fn full_pool() -> (Pool, watch::Sender<bool>) {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(64)
        .build()
        .unwrap();
    let (open, job) = gate();
    for _ in 0..65 {
        drop(pool.try_submit(job()).unwrap());
    }
    assert!(pool.try_submit(async {}).unwrap_err().is_full());
    (pool, open)
}

#[tokio::test(start_paused = true)]
async fn pool_submit_waiting_for_room() {
    let (pool, open) = full_pool().await;
    let p = pool.clone();
    let submit = spawn_churn(async move { p.submit(async { 5 }).await.unwrap().await });
    let p = pool.clone();
    let blocking = spawn_churn(async move { p.submit_blocking(|| 6).await.unwrap().await });
    settle().await;
    assert!(!submit.is_finished() && !blocking.is_finished());
    open.send(true).unwrap();
    let (out, polls) = submit.await.unwrap();
    assert_eq!(out.unwrap(), 5);
    assert!(polls <= 4, "submit polled {polls} times");
    let (out, polls) = blocking.await.unwrap();
    assert_eq!(out.unwrap(), 6);
    assert!(polls <= 5, "submit_blocking polled {polls} times");
}

#[tokio::test(start_paused = true)]
async fn keyed_submit_waiting_for_the_queue_and_for_its_key() {
    let (pool, open) = full_pool().await;
    let keyed = pool.keyed::<u8>();
    // Key 1's head waits for room in the shared queue.
    let k = keyed.clone();
    let head = spawn_churn(async move { k.submit(1, async { 1 }).await.unwrap().await });
    settle().await;
    assert!(!head.is_finished());
    open.send(true).unwrap();
    let (out, polls) = head.await.unwrap();
    assert_eq!(out.unwrap(), 1);
    assert!(polls <= 4, "keyed submit polled {polls} times");

    // Key 2 has its one waiting place taken: the next submitter waits behind the key.
    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(64)
        .key_queue_capacity(1)
        .build()
        .unwrap();
    let keyed = pool.keyed::<u8>();
    let (open, job) = gate();
    let first = keyed.try_submit(2, job()).unwrap();
    let second = keyed.try_submit(2, job()).unwrap();
    assert!(keyed.try_submit(2, async {}).unwrap_err().is_full());
    let k = keyed.clone();
    let third = spawn_churn(async move { k.submit(2, async { 3 }).await.unwrap().await });
    settle().await;
    assert!(!third.is_finished());
    open.send(true).unwrap();
    first.await.unwrap();
    second.await.unwrap();
    let (out, polls) = third.await.unwrap();
    assert_eq!(out.unwrap(), 3);
    assert!(
        polls <= 4,
        "keyed submit behind its key polled {polls} times"
    );
}

#[tokio::test(start_paused = true)]
async fn pool_handle_drain_and_shutdown() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(64)
        .build()
        .unwrap();
    let (open, job) = gate();
    let handle = spawn_churn(pool.try_submit(job()).unwrap());
    let queued = spawn_churn(pool.try_submit(job()).unwrap());
    let p = pool.clone();
    let drain = spawn_churn(async move { p.drain().await });
    settle().await;
    assert!(!handle.is_finished() && !drain.is_finished());
    open.send(true).unwrap();
    for task in [handle, queued] {
        let (out, polls) = task.await.unwrap();
        out.unwrap();
        assert!(polls <= 3, "handle polled {polls} times");
    }
    let ((), polls) = drain.await.unwrap();
    assert!(polls <= 3, "drain polled {polls} times");

    let pool = Pool::builder().max_concurrency(1).build().unwrap();
    let stuck = pool.try_submit(pending::<()>()).unwrap();
    let p = pool.clone();
    let shutdown = spawn_churn(async move { p.shutdown(Duration::from_secs(1)).await });
    let (report, polls) = shutdown.await.unwrap();
    assert_eq!(report.aborted, vec![stuck.id()]);
    assert!(polls <= 4, "shutdown polled {polls} times");
    assert!(stuck.await.unwrap_err().is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn pool_streams() {
    let pool = Pool::builder()
        .max_concurrency(8)
        .queue_capacity(64)
        .build()
        .unwrap();
    let job = |i: u64| async move {
        tokio::time::sleep(Duration::from_millis(i % 7)).await;
        i
    };
    let (out, polls) = FreshWakers::new(
        pool.process(futures_util::stream::iter(0..500u64), job)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.len(), 500);
    assert!(out.into_iter().enumerate().all(|(i, r)| r == Ok(i as u64)));
    assert!(polls <= 250, "process polled {polls} times for 500 items");
    let (out, polls) = FreshWakers::new(
        pool.process_unordered(futures_util::stream::iter(0..500u64), job)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.len(), 500);
    assert!(
        polls <= 250,
        "process_unordered polled {polls} times for 500 items"
    );
}

fn fixed(limit: usize, queue: usize) -> FixedPool<u64, u64> {
    Pool::builder()
        .max_concurrency(limit)
        .fixed_workers(1)
        .queue_capacity(queue)
        .build_fixed(|i: u64| async move {
            tokio::time::sleep(Duration::from_millis(i % 7)).await;
            i
        })
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_submit_handle_drain_and_shutdown() {
    let pool = fixed(1, 64);
    // A running job and a full queue: the next submitter waits.
    let first = pool.try_submit(6).unwrap();
    settle().await;
    let mut queued = Vec::new();
    for i in 0..64 {
        queued.push(spawn_churn(pool.try_submit(i).unwrap()));
    }
    let p = pool.clone();
    let submit = spawn_churn(async move { p.submit(100).await.unwrap().await });
    settle().await;
    assert!(!submit.is_finished());
    assert_eq!(first.await.unwrap(), 6);
    let (out, polls) = submit.await.unwrap();
    assert_eq!(out.unwrap(), 100);
    assert!(polls <= 4, "fixed submit polled {polls} times");
    for (i, task) in queued.into_iter().enumerate() {
        let (out, polls) = task.await.unwrap();
        assert_eq!(out.unwrap(), i as u64);
        assert!(polls <= 3, "fixed handle polled {polls} times");
    }
    let p = pool.clone();
    drop(pool.try_submit(5).unwrap());
    let drain = spawn_churn(async move { p.drain().await });
    let ((), polls) = drain.await.unwrap();
    assert!(polls <= 3, "fixed drain polled {polls} times");

    let pool = Pool::builder()
        .max_concurrency(1)
        .build_fixed(|()| pending::<()>())
        .unwrap();
    let stuck = pool.try_submit(()).unwrap();
    let p = pool.clone();
    let shutdown = spawn_churn(async move { p.shutdown(Duration::from_secs(1)).await });
    let (report, polls) = shutdown.await.unwrap();
    assert_eq!(report.aborted, vec![stuck.id()]);
    assert!(polls <= 4, "fixed shutdown polled {polls} times");
}

#[tokio::test(start_paused = true)]
async fn fixed_pool_streams() {
    let pool = fixed(8, 64);
    let ordered = spawn_churn(
        pool.process(futures_util::stream::iter(0..500u64))
            .collect::<Vec<_>>(),
    );
    let (out, polls) = ordered.await.unwrap();
    assert_eq!(out.len(), 500);
    assert!(out.into_iter().enumerate().all(|(i, r)| r == Ok(i as u64)));
    assert!(
        polls <= 250,
        "fixed process polled {polls} times for 500 items"
    );
    let unordered = spawn_churn(
        pool.process_unordered(futures_util::stream::iter(0..500u64))
            .collect::<Vec<_>>(),
    );
    let (out, polls) = unordered.await.unwrap();
    assert_eq!(out.len(), 500);
    assert!(
        polls <= 250,
        "fixed process_unordered polled {polls} times for 500 items"
    );
}
