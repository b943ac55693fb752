//! Dropping the runtime under a busy pool: jobs running, queued and waiting for their key. No
//! hang, no panic, and every handle made outside the runtime resolves with an error.

use std::future::pending;

use taskweave_pool::{JobHandle, Pool, SubmitError};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Awaits every handle on a fresh runtime: each must resolve, and with an error unless `ok`
/// says the job may have finished before the runtime went away.
fn all_resolve<T: Send + 'static>(handles: Vec<JobHandle<T>>) -> (usize, usize) {
    finishes_within(
        HANG_LIMIT,
        "handles resolving after the teardown",
        move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let (mut ok, mut err) = (0, 0);
                for handle in handles {
                    match handle.await {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            assert!(e.is_cancelled(), "unexpected {e}");
                            err += 1;
                        }
                    }
                }
                (ok, err)
            })
        },
    )
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn dropping_the_runtime_under_a_keyed_chain_does_not_deadlock() {
    keyed_chain_teardown(multi_thread);
}

#[test]
fn dropping_a_current_thread_runtime_under_a_keyed_chain_does_not_deadlock() {
    // What the end of a `#[tokio::test]` or `#[tokio::main(flavor = "current_thread")]` does.
    keyed_chain_teardown(current_thread);
}

fn keyed_chain_teardown(runtime: fn() -> tokio::runtime::Runtime) {
    // One key with a running job and jobs waiting behind it, and free slots: as the runtime
    // drops the running job, the next one of its key is dispatched onto a runtime that is
    // shutting down.
    let (pool, handles) = finishes_within(HANG_LIMIT, "runtime drop, keyed chain", move || {
        let rt = runtime();
        let pool = rt.block_on(async {
            Pool::builder()
                .max_concurrency(8)
                .queue_capacity(64)
                .build()
                .unwrap()
        });
        let keyed = pool.keyed::<u32>();
        let handles: Vec<_> = rt.block_on(async {
            let mut handles = Vec::new();
            for _ in 0..4 {
                handles.push(keyed.submit(7, pending::<u32>()).await.unwrap());
            }
            tokio::task::yield_now().await;
            handles
        });
        drop(rt);
        (pool, handles)
    });
    let (ok, err) = all_resolve(handles);
    assert_eq!((ok, err), (0, 4));
    let m = pool.metrics();
    assert_eq!((m.in_flight, m.queued, m.cancelled), (0, 0, 4));
}

#[test]
fn dropping_the_runtime_resolves_running_queued_and_keyed_jobs() {
    let (pool, handles) = finishes_within(HANG_LIMIT, "runtime drop, busy pool", || {
        let rt = multi_thread();
        let pool = rt.block_on(async {
            Pool::builder()
                .max_concurrency(4)
                .queue_capacity(64)
                .build()
                .unwrap()
        });
        let keyed = pool.keyed::<u32>();
        let handles: Vec<_> = rt.block_on(async {
            let mut handles = Vec::new();
            // Running: every slot taken by a job that never ends.
            for key in 0..2 {
                handles.push(keyed.submit(key, pending::<u32>()).await.unwrap());
            }
            for _ in 0..2 {
                handles.push(pool.submit(pending::<u32>()).await.unwrap());
            }
            // Queued behind them, and waiting behind their key.
            for i in 0..60 {
                handles.push(pool.submit(async move { i }).await.unwrap());
            }
            for key in 0..2 {
                for _ in 0..3 {
                    handles.push(keyed.submit(key, async { 0 }).await.unwrap());
                }
            }
            tokio::task::yield_now().await;
            handles
        });
        assert_eq!(pool.metrics().in_flight, 4);
        drop(rt);
        (pool, handles)
    });
    let total = handles.len();
    let (ok, err) = all_resolve(handles);
    assert_eq!((ok, err), (0, total));
    let m = pool.metrics();
    assert_eq!((m.in_flight, m.queued, m.cancelled), (0, 0, total as u64));
    // The pool knows its runtime is gone: it refuses work instead of accepting it into a void.
    assert!(pool.try_submit(async { 1 }).unwrap_err().is_closed());
}

#[test]
fn try_submit_after_the_runtime_is_gone_neither_hangs_nor_panics() {
    let (pool, keyed_pool) = finishes_within(HANG_LIMIT, "runtime drop, idle pool", || {
        let rt = multi_thread();
        let pool = rt.block_on(async { Pool::builder().max_concurrency(2).build().unwrap() });
        let fixed = rt.block_on(async {
            Pool::builder()
                .max_concurrency(2)
                .build_fixed(|x: u32| async move { x })
                .unwrap()
        });
        drop(rt);
        (pool, fixed)
    });
    let (first, second, fixed) =
        finishes_within(HANG_LIMIT, "try_submit without a runtime", move || {
            let first = pool.try_submit(async { 1 });
            let second = pool.try_submit(async { 2 });
            let fixed = keyed_pool.try_submit(3);
            (first, second, fixed)
        });
    // The first job may be accepted (the pool learns that its runtime is gone by losing it);
    // then its handle says so. From then on the pool refuses work.
    match first {
        Ok(handle) => assert_eq!(all_resolve(vec![handle]), (0, 1)),
        Err(e) => assert!(e.is_closed()),
    }
    assert!(matches!(second, Err(SubmitError::Closed(_))));
    match fixed {
        Ok(handle) => assert_eq!(all_resolve(vec![handle]), (0, 1)),
        Err(e) => assert!(e.is_closed()),
    }
}

#[test]
fn dropping_the_runtime_resolves_every_fixed_pool_handle() {
    let (pool, handles) = finishes_within(HANG_LIMIT, "runtime drop, busy fixed pool", || {
        let rt = multi_thread();
        let pool = rt.block_on(async {
            Pool::builder()
                .max_concurrency(4)
                .fixed_workers(2)
                .queue_capacity(64)
                .build_fixed(|wait: bool| async move {
                    if wait {
                        pending::<()>().await;
                    }
                })
                .unwrap()
        });
        let handles: Vec<_> = rt.block_on(async {
            let mut handles = Vec::new();
            for _ in 0..4 {
                handles.push(pool.submit(true).await.unwrap());
            }
            tokio::task::yield_now().await;
            for _ in 0..64 {
                handles.push(pool.submit(false).await.unwrap());
            }
            handles
        });
        drop(rt);
        (pool, handles)
    });
    let total = handles.len();
    let (ok, err) = all_resolve(handles);
    // Jobs that were queued may have run before the workers were dropped.
    assert_eq!(ok + err, total);
    assert!(err >= 4, "the four jobs that never end were cancelled");
    let m = pool.metrics();
    assert_eq!((m.in_flight, m.queued), (0, 0));
    assert_eq!(m.completed + m.cancelled, total as u64);
    assert!(pool.try_submit(false).unwrap_err().is_closed());
}

#[test]
fn dropping_the_runtime_resolves_a_fixed_pool_stream() {
    use futures_util::StreamExt as _;

    let (pool, results) = finishes_within(HANG_LIMIT, "runtime drop, fixed pool stream", || {
        let rt = multi_thread();
        let pool = rt.block_on(async {
            Pool::builder()
                .max_concurrency(2)
                .fixed_workers(1)
                .queue_capacity(64)
                .build_fixed(|i: u32| async move {
                    if i % 2 == 0 {
                        pending::<()>().await;
                    }
                    i
                })
                .unwrap()
        });
        let mut results = pool.process(futures_util::stream::iter(0..100u32));
        rt.block_on(async {
            // Feed the stream (the first result never comes: input 0 waits forever) until
            // it has jobs running and queued.
            for _ in 0..3 {
                std::future::poll_fn(|cx| {
                    assert!(results.poll_next_unpin(cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
                tokio::task::yield_now().await;
            }
        });
        drop(rt);
        (pool, results)
    });
    let items = finishes_within(HANG_LIMIT, "stream ending after the teardown", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(results.collect::<Vec<_>>())
    });
    // One item per input: finished, cancelled with the runtime, or never queued (closed).
    assert_eq!(items.len(), 100);
    for (i, item) in items.iter().enumerate() {
        if i % 2 == 0 {
            assert!(item.is_err(), "input {i} never finishes");
        }
    }
    assert!(pool.try_submit(1).unwrap_err().is_closed());
}
