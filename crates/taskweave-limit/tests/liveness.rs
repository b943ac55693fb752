//! Liveness at realistic capacity on a multi-thread runtime: with 64 slots and many more
//! callers, and a consumer that holds its permits and pauses, every caller is eventually
//! served and the counters add up. A watchdog turns a stall into a failure.

use std::time::Duration;

use taskweave_limit::{AdaptiveLimit, ConcurrencyLimit, Limiter, Quota, RateLimiter};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::sync::mpsc;

const SLOTS: usize = 64;
const CALLERS: usize = 512;

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Spawns `CALLERS` tasks that each take a permit with `acquire` and hand it to a consumer,
/// which holds a full batch of `SLOTS`, checks that nothing more is admitted meanwhile, pauses
/// until every other caller is queued, then releases the batch.
async fn pausing_consumer<P, A, F>(acquire: A, in_flight: impl Fn() -> usize, waiting: F)
where
    P: Send + 'static,
    A: Fn() -> tokio::task::JoinHandle<P>,
    F: Fn() -> usize,
{
    let (tx, mut rx) = mpsc::channel(CALLERS);
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let handle = acquire();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let permit = handle.await.unwrap();
            assert!(tx.send(permit).await.is_ok(), "consumer alive");
        }));
    }
    drop(tx);
    let mut served = 0;
    while served < CALLERS {
        let mut batch = Vec::with_capacity(SLOTS);
        while batch.len() < SLOTS {
            batch.push(rx.recv().await.expect("a permit"));
        }
        served += batch.len();
        assert_eq!(in_flight(), SLOTS);
        // Paused with every slot held: all the others queue up, none gets through.
        while waiting() < CALLERS - served {
            tokio::task::yield_now().await;
        }
        assert_eq!(in_flight(), SLOTS);
        drop(batch);
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(waiting(), 0);
}

#[test]
fn concurrency_limit_with_a_pausing_consumer() {
    finishes_within(HANG_LIMIT, "concurrency liveness", || {
        multi_thread().block_on(async {
            let limit = ConcurrencyLimit::new(SLOTS).unwrap();
            pausing_consumer(
                || {
                    let l = limit.clone();
                    tokio::spawn(async move { l.acquire().await })
                },
                || limit.in_flight(),
                || limit.metrics().waiting,
            )
            .await;
            let m = limit.metrics();
            assert_eq!(
                (m.admitted, m.rejected, m.in_flight),
                (CALLERS as u64, 0, 0)
            );
            // Every caller after the first batch found the slots taken and waited.
            assert!(m.waited >= (CALLERS - SLOTS) as u64, "{m:?}");
        });
    });
}

#[test]
fn adaptive_limit_with_a_pausing_consumer() {
    finishes_within(HANG_LIMIT, "adaptive liveness", || {
        multi_thread().block_on(async {
            let limit = AdaptiveLimit::builder(Duration::from_secs(60))
                .initial(SLOTS)
                .min(SLOTS)
                .max(SLOTS)
                .build()
                .unwrap();
            pausing_consumer(
                || {
                    let l = limit.clone();
                    tokio::spawn(async move { l.acquire().await })
                },
                || limit.in_flight(),
                || limit.metrics().waiting,
            )
            .await;
            assert_eq!(limit.metrics().admitted, CALLERS as u64);
        });
    });
}

#[test]
fn limiter_with_a_pausing_consumer() {
    finishes_within(HANG_LIMIT, "Limiter liveness", || {
        multi_thread().block_on(async {
            // A fast rate, so that the slots are what the callers queue for.
            let rate = RateLimiter::new(Quota::per_second(1_000_000).with_burst(64)).unwrap();
            let slots = ConcurrencyLimit::new(SLOTS).unwrap();
            let limiter = Limiter::builder()
                .rate(rate.clone())
                .concurrency(slots.clone())
                .build()
                .unwrap();
            pausing_consumer(
                || {
                    let l = limiter.clone();
                    tokio::spawn(async move { l.acquire().await })
                },
                || slots.in_flight(),
                || slots.metrics().waiting + rate.metrics().waiting,
            )
            .await;
            assert_eq!(rate.metrics().admitted, CALLERS as u64);
            assert_eq!(slots.metrics().admitted, CALLERS as u64);
        });
    });
}

#[test]
fn rate_limiter_serves_many_waiters_on_a_multi_thread_runtime() {
    finishes_within(HANG_LIMIT, "rate liveness", || {
        multi_thread().block_on(async {
            let limiter = RateLimiter::new(Quota::per_second(200_000).with_burst(64)).unwrap();
            let (tx, mut rx) = mpsc::channel::<u32>(SLOTS);
            let tasks: Vec<_> = (0..SLOTS as u32)
                .map(|i| {
                    let limiter = limiter.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        for _ in 0..16 {
                            limiter.acquire().await.unwrap();
                            // A bounded channel to a consumer that pauses: the sender blocks.
                            tx.send(i).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut received = 0;
            while rx.recv().await.is_some() {
                received += 1;
                if received % 256 == 0 {
                    // The consumer pauses until every producer is blocked on it or the limiter.
                    for _ in 0..64 {
                        tokio::task::yield_now().await;
                    }
                }
            }
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(received, SLOTS * 16);
            let m = limiter.metrics();
            assert_eq!(
                (m.admitted, m.rejected, m.waiting),
                ((SLOTS * 16) as u64, 0, 0)
            );
        });
    });
}
