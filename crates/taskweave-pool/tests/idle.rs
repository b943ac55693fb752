//! A parked idle pool consumes no polls: with jobs waiting on events that never come, an input
//! that has nothing to give and a reader waiting on it, an hour of (paused) time passes without
//! anything being polled again. A worker or stream that re-polled itself before parking would
//! show in the counts; one that never parked would keep the runtime busy, so the paused clock
//! would never reach the hour and the watchdog would fail the test.

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt as _;
use taskweave_pool::Pool;
use taskweave_testkit::{HANG_LIMIT, finishes_within};

/// Counts the polls of the future (or stream) it wraps.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F> Counted<F> {
    fn new(inner: F, polls: &Arc<AtomicUsize>) -> Self {
        Self {
            inner: Box::pin(inner),
            polls: Arc::clone(polls),
        }
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

impl<S: futures_core::Stream> futures_core::Stream for Counted<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_mut().poll_next(cx)
    }
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

async fn an_hour_passes() {
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(start.elapsed() >= Duration::from_secs(3600));
}

#[test]
fn an_idle_pool_is_not_polled() {
    finishes_within(HANG_LIMIT, "idle pool", || {
        paused_runtime().block_on(async {
            let pool = Pool::builder()
                .max_concurrency(64)
                .queue_capacity(64)
                .build()
                .unwrap();
            let job_polls: Vec<_> = (0..64).map(|_| Arc::new(AtomicUsize::new(0))).collect();
            let handles: Vec<_> = job_polls
                .iter()
                .map(|polls| {
                    pool.try_submit(Counted::new(pending::<()>(), polls))
                        .unwrap()
                })
                .collect();
            // Handles and a drain waiting on the jobs.
            let waiter_polls = Arc::new(AtomicUsize::new(0));
            let waiter = tokio::spawn(Counted::new(
                async move {
                    for handle in handles {
                        handle.await.ok();
                    }
                },
                &waiter_polls,
            ));
            let drain_polls = Arc::new(AtomicUsize::new(0));
            let p = pool.clone();
            let drain = tokio::spawn(Counted::new(async move { p.drain().await }, &drain_polls));
            an_hour_passes().await;
            for polls in &job_polls {
                assert_eq!(
                    polls.load(Ordering::SeqCst),
                    1,
                    "an idle job was polled again"
                );
            }
            assert_eq!(
                waiter_polls.load(Ordering::SeqCst),
                1,
                "a waiting handle was re-polled"
            );
            assert_eq!(
                drain_polls.load(Ordering::SeqCst),
                1,
                "a waiting drain was re-polled"
            );
            assert!(!drain.is_finished());
            assert_eq!(pool.metrics().in_flight, 64);
            drain.abort();
            waiter.abort();
        });
    });
}

#[test]
fn an_idle_fixed_pool_and_its_stream_are_not_polled() {
    finishes_within(HANG_LIMIT, "idle fixed pool", || {
        paused_runtime().block_on(async {
            let pool = Pool::builder()
                .max_concurrency(64)
                .fixed_workers(4)
                .queue_capacity(64)
                .build_fixed(|polls: Arc<AtomicUsize>| Counted::new(pending::<()>(), &polls))
                .unwrap();
            let job_polls: Vec<_> = (0..32).map(|_| Arc::new(AtomicUsize::new(0))).collect();
            let handles: Vec<_> = job_polls
                .iter()
                .map(|polls| pool.try_submit(Arc::clone(polls)).unwrap())
                .collect();
            // A stream whose input has nothing to give, and a reader waiting on it.
            let input_polls = Arc::new(AtomicUsize::new(0));
            let inputs = Counted::new(
                futures_util::stream::pending::<Arc<AtomicUsize>>(),
                &input_polls,
            );
            let mut results = pool.process(inputs);
            let reader_polls = Arc::new(AtomicUsize::new(0));
            let reader = tokio::spawn(Counted::new(
                async move { results.next().await.is_some() },
                &reader_polls,
            ));
            an_hour_passes().await;
            for polls in &job_polls {
                assert_eq!(
                    polls.load(Ordering::SeqCst),
                    1,
                    "an idle job was polled again"
                );
            }
            assert_eq!(
                input_polls.load(Ordering::SeqCst),
                1,
                "the idle input was polled again"
            );
            assert_eq!(
                reader_polls.load(Ordering::SeqCst),
                1,
                "the waiting reader was re-polled"
            );
            assert!(!reader.is_finished());
            // Parked, the stream holds no room in the queue.
            assert_eq!(pool.metrics().queued, 0);
            for _ in 0..32 {
                drop(pool.try_submit(Arc::new(AtomicUsize::new(0))).unwrap());
            }
            reader.abort();
            drop(handles);
        });
    });
}
