//! Liveness under load on a multi-thread runtime: queues of 64, many submitters, and a
//! consumer that pauses — stops taking results (or stops letting jobs finish) until the
//! backpressure has reached the producers — then resumes. Every job must get through, in
//! order where order is promised; a lost wake-up shows as a hang, which the watchdog turns into
//! a failure.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use taskweave_pool::{Pool, SubmitError};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::sync::{mpsc, watch};

/// Runs `test` on a fresh 2-worker multi-thread runtime, under the hang watchdog.
fn on_multi_thread<F, Fut>(what: &'static str, test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    finishes_within(HANG_LIMIT, what, move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(test());
    });
}

/// How many producers are blocked right now (waiting for room after a `Full` answer). Once
/// the consumer has paused, a blocked producer stays blocked: it proves the backpressure
/// reached the producers.
#[derive(Clone)]
struct Stalls(Arc<watch::Sender<u64>>);

impl Stalls {
    fn new() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }

    /// Runs `wait` (a producer waiting for room) counted as blocked.
    async fn blocked<T>(&self, wait: impl Future<Output = T>) -> T {
        self.0.send_modify(|n| *n += 1);
        let out = wait.await;
        self.0.send_modify(|n| *n -= 1);
        out
    }

    async fn until_blocked(&self) {
        let mut rx = self.0.subscribe();
        rx.wait_for(|n| *n > 0).await.expect("sender alive");
    }
}

/// The downstream the jobs wait on: open, or paused.
fn downstream() -> (Arc<watch::Sender<bool>>, watch::Receiver<bool>) {
    let (gate, rx) = watch::channel(true);
    (Arc::new(gate), rx)
}

async fn pass(gate: &mut watch::Receiver<bool>) {
    gate.wait_for(|open| *open).await.expect("gate alive");
}

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 2_500;
const TOTAL: u64 = PRODUCERS * PER_PRODUCER;

/// The downstream pauses each time the producers have submitted another this many jobs.
const PAUSE_EVERY: u64 = 1_000;

/// Counts submissions, and pauses the downstream as the count reaches each multiple of
/// `PAUSE_EVERY` while more than `slack` jobs are left (more than can get in once it is
/// paused, so the producers must block). The submitting task closes the gate itself: a
/// separate task woken at the mark may run only after the producers are far past it (in a
/// release build they once submitted everything first, and nothing was ever paused).
#[derive(Clone)]
struct Submitted {
    count: Arc<watch::Sender<u64>>,
    gate: Arc<watch::Sender<bool>>,
    slack: u64,
}

impl Submitted {
    fn new(gate: &Arc<watch::Sender<bool>>, slack: u64) -> Self {
        Self {
            count: Arc::new(watch::Sender::new(0)),
            gate: Arc::clone(gate),
            slack,
        }
    }

    fn one(&self) {
        let mut n = 0;
        self.count.send_modify(|count| {
            *count += 1;
            n = *count;
        });
        if n % PAUSE_EVERY == 0 && TOTAL - n > self.slack {
            self.gate.send_replace(false);
        }
    }
}

/// Each time `submitted` pauses the downstream, waits until a producer is blocked, then
/// resumes; returns the number of pauses once every job is submitted.
async fn pausing_downstream(submitted: Submitted, stalls: Stalls) -> u32 {
    let mut gate = submitted.gate.subscribe();
    let mut count = submitted.count.subscribe();
    let mut pauses = 0;
    loop {
        tokio::select! {
            paused = gate.wait_for(|open| !*open) => {
                paused.expect("gate alive");
            }
            done = count.wait_for(|n| *n == TOTAL) => {
                done.expect("producers alive");
                return pauses;
            }
        }
        // Paused with more than `slack` jobs left: the producers fill what room is left, then
        // block. (A mark reached while already paused pauses nothing more.)
        stalls.until_blocked().await;
        pauses += 1;
        submitted.gate.send_replace(true);
    }
}

#[test]
fn pool_submitters_and_a_pausing_downstream() {
    on_multi_thread("pool liveness", || async {
        let pool = Pool::builder()
            .max_concurrency(8)
            .queue_capacity(64)
            .build()
            .unwrap();
        let (gate, gate_rx) = downstream();
        let (stalls, submitted) = (Stalls::new(), Submitted::new(&gate, 200));
        let (tx, mut rx) = mpsc::unbounded_channel();
        for p in 0..PRODUCERS {
            let (pool, stalls, submitted, tx) =
                (pool.clone(), stalls.clone(), submitted.clone(), tx.clone());
            let gate_rx = gate_rx.clone();
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER {
                    let mut gate = gate_rx.clone();
                    let n = p * PER_PRODUCER + i;
                    let job = async move {
                        pass(&mut gate).await;
                        n
                    };
                    let handle = match pool.try_submit(job) {
                        Ok(handle) => handle,
                        Err(SubmitError::Full(job)) => {
                            stalls.blocked(pool.submit(job)).await.expect("open")
                        }
                        Err(e) => panic!("refused: {e}"),
                    };
                    submitted.one();
                    tx.send((n, handle)).unwrap();
                }
            });
        }
        drop(tx);
        let consumer = tokio::spawn(async move {
            let mut sum = 0;
            while let Some((n, handle)) = rx.recv().await {
                assert_eq!(handle.await.unwrap(), n);
                sum += n;
            }
            sum
        });
        let pauses = pausing_downstream(submitted, stalls).await;
        assert_eq!(consumer.await.unwrap(), TOTAL * (TOTAL - 1) / 2);
        assert!(
            pauses >= 3,
            "the downstream paused the producers {pauses} times"
        );
        pool.drain().await;
        let m = pool.metrics();
        assert_eq!(
            (m.completed, m.failed, m.queued, m.in_flight),
            (TOTAL, 0, 0, 0)
        );
    });
}

#[test]
fn keyed_submitters_keep_their_order_through_pauses() {
    on_multi_thread("keyed liveness", || async {
        let pool = Pool::builder()
            .max_concurrency(8)
            .queue_capacity(64)
            .key_queue_capacity(64)
            .build()
            .unwrap();
        let keyed = pool.keyed::<u64>();
        let (gate, gate_rx) = downstream();
        // Once paused, up to 64 jobs per key (16 keys) still get in behind their keys.
        let (stalls, submitted) = (Stalls::new(), Submitted::new(&gate, 16 * 64 + 200));
        let log: Arc<Mutex<HashMap<u64, Vec<u64>>>> = Arc::default();
        let mut producers = Vec::new();
        for p in 0..PRODUCERS {
            let (keyed, stalls, submitted) = (keyed.clone(), stalls.clone(), submitted.clone());
            let (gate_rx, log) = (gate_rx.clone(), Arc::clone(&log));
            producers.push(tokio::spawn(async move {
                for i in 0..PER_PRODUCER {
                    // Each producer feeds four keys of its own, in turn.
                    let key = p * 4 + i % 4;
                    let (mut gate, log) = (gate_rx.clone(), Arc::clone(&log));
                    let job = async move {
                        pass(&mut gate).await;
                        log.lock().unwrap().entry(key).or_default().push(i);
                    };
                    match keyed.try_submit(key, job) {
                        Ok(handle) => drop(handle),
                        Err(SubmitError::Full(job)) => {
                            let handle = stalls.blocked(keyed.submit(key, job)).await;
                            drop(handle.expect("open"));
                        }
                        Err(e) => panic!("refused: {e}"),
                    }
                    submitted.one();
                }
            }));
        }
        let pauses = pausing_downstream(submitted, stalls).await;
        for producer in producers {
            producer.await.unwrap();
        }
        pool.drain().await;
        assert!(
            pauses >= 3,
            "the downstream paused the producers {pauses} times"
        );
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 16);
        for (key, seqs) in log.iter() {
            let expected: Vec<u64> = (0..PER_PRODUCER).filter(|i| i % 4 == key % 4).collect();
            assert_eq!(seqs, &expected, "key {key} out of order or incomplete");
        }
        assert_eq!(keyed.active_keys(), 0);
        assert_eq!(pool.metrics().completed, TOTAL);
    });
}

#[test]
fn fixed_pool_submitters_and_a_pausing_downstream() {
    on_multi_thread("fixed pool liveness", || async {
        let (gate, gate_rx) = downstream();
        let pool = Pool::builder()
            .max_concurrency(8)
            .fixed_workers(2)
            .queue_capacity(64)
            .build_fixed(move |n: u64| {
                let mut gate = gate_rx.clone();
                async move {
                    pass(&mut gate).await;
                    n
                }
            })
            .unwrap();
        let (stalls, submitted) = (Stalls::new(), Submitted::new(&gate, 200));
        let (tx, mut rx) = mpsc::unbounded_channel();
        for p in 0..PRODUCERS {
            let (pool, stalls, submitted, tx) =
                (pool.clone(), stalls.clone(), submitted.clone(), tx.clone());
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER {
                    let n = p * PER_PRODUCER + i;
                    let handle = match pool.try_submit(n) {
                        Ok(handle) => handle,
                        Err(SubmitError::Full(n)) => {
                            stalls.blocked(pool.submit(n)).await.expect("open")
                        }
                        Err(e) => panic!("refused: {e}"),
                    };
                    submitted.one();
                    tx.send((n, handle)).unwrap();
                }
            });
        }
        drop(tx);
        let consumer = tokio::spawn(async move {
            while let Some((n, handle)) = rx.recv().await {
                assert_eq!(handle.await.unwrap(), n);
            }
        });
        let pauses = pausing_downstream(submitted, stalls).await;
        consumer.await.unwrap();
        assert!(
            pauses >= 3,
            "the downstream paused the producers {pauses} times"
        );
        pool.drain().await;
        let m = pool.metrics();
        assert_eq!(
            (m.completed, m.failed, m.queued, m.in_flight),
            (TOTAL, 0, 0, 0)
        );
    });
}

/// A stream of what a producer task sends on a channel of 64; the producer records a stall
/// whenever the channel is full.
fn produced_inputs(
    stalls: Stalls,
    sent: Arc<AtomicU64>,
) -> impl futures_core::Stream<Item = u64> + Send + Unpin + 'static {
    let (tx, rx) = mpsc::channel::<u64>(64);
    tokio::spawn(async move {
        for i in 0..TOTAL {
            match tx.try_send(i) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(i)) => {
                    stalls.blocked(tx.send(i)).await.unwrap();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => panic!("reader gone"),
            }
            sent.fetch_add(1, Ordering::SeqCst);
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Reads `results` to the end, pausing (not polling) every 1000 items while the producer has
/// plenty left, until the producer stalls; returns the items and the number of pauses.
async fn read_with_pauses<S, T>(
    mut results: S,
    stalls: Stalls,
    sent: Arc<AtomicU64>,
) -> (Vec<T>, u32)
where
    S: futures_core::Stream<Item = T> + Unpin,
{
    let mut out = Vec::new();
    let mut pauses = 0;
    while let Some(item) = results.next().await {
        out.push(item);
        // Not polling `results` while paused: the stream stops reading its input.
        if out.len() % 1_000 == 0 && TOTAL - sent.load(Ordering::SeqCst) > 200 {
            stalls.until_blocked().await;
            pauses += 1;
        }
    }
    (out, pauses)
}

#[test]
fn pool_streams_with_a_pausing_reader() {
    on_multi_thread("pool stream liveness", || async {
        let pool = Pool::builder()
            .max_concurrency(8)
            .queue_capacity(64)
            .build()
            .unwrap();
        for ordered in [true, false] {
            let (stalls, sent) = (Stalls::new(), Arc::new(AtomicU64::new(0)));
            let inputs = produced_inputs(stalls.clone(), Arc::clone(&sent));
            let job = |i: u64| async move {
                tokio::task::yield_now().await;
                i
            };
            let (out, pauses) = if ordered {
                let results = Box::pin(pool.process(inputs, job));
                read_with_pauses(results, stalls, sent).await
            } else {
                let results = Box::pin(pool.process_unordered(inputs, job));
                read_with_pauses(results, stalls, sent).await
            };
            let mut out: Vec<u64> = out.into_iter().map(Result::unwrap).collect();
            if ordered {
                assert_eq!(out, (0..TOTAL).collect::<Vec<_>>());
            }
            out.sort_unstable();
            assert_eq!(out, (0..TOTAL).collect::<Vec<_>>());
            assert!(pauses >= 3, "the reader paused the producer {pauses} times");
        }
    });
}

#[test]
fn fixed_pool_streams_with_a_pausing_reader() {
    on_multi_thread("fixed pool stream liveness", || async {
        let pool = Pool::builder()
            .max_concurrency(8)
            .fixed_workers(2)
            .queue_capacity(64)
            .build_fixed(|i: u64| async move {
                tokio::task::yield_now().await;
                i
            })
            .unwrap();
        for ordered in [true, false] {
            let (stalls, sent) = (Stalls::new(), Arc::new(AtomicU64::new(0)));
            let inputs = produced_inputs(stalls.clone(), Arc::clone(&sent));
            let results = if ordered {
                pool.process(inputs)
            } else {
                pool.process_unordered(inputs)
            };
            let (out, pauses) = read_with_pauses(results, stalls, sent).await;
            let mut out: Vec<u64> = out.into_iter().map(Result::unwrap).collect();
            if ordered {
                assert_eq!(out, (0..TOTAL).collect::<Vec<_>>());
            }
            out.sort_unstable();
            assert_eq!(out, (0..TOTAL).collect::<Vec<_>>());
            assert!(pauses >= 3, "the reader paused the producer {pauses} times");
        }
        pool.drain().await;
        assert_eq!(pool.metrics().completed, 2 * TOTAL);
    });
}
