//! taskweave-pipeline against a hand-written chain of bounded channels (the floor), the guides'
//! single-task pipeline and round-robin work queue, futures' `buffered` chains, pumps and the
//! pool.
//!
//! - `pipeline/3-stages`: 250k items through three stages of cheap async work, concurrency 4
//!   each.
//! - `pipeline/skewed`: 200 jobs arriving one a millisecond, 1 in 20 taking 50x longer, over 4
//!   workers; total time is timed, p99 item latency (arrival to completion) is noted.
//! - `pipeline/debounce`: 1M events as fast as a channel delivers them, debounced.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use taskweave_benches::{Suite, multi_thread, note, time_spawned};
use taskweave_pipeline::{Flow, StageConfig, StreamOps};
use tokio::sync::mpsc;
use tokio::time::Instant;

const CONCURRENCY: usize = 4;
const BUFFER: usize = 64;

/// One cheap async step, the same in every contender.
async fn step(x: u64) -> u64 {
    black_box(x.wrapping_mul(31).wrapping_add(7))
}

async fn try_step(x: u64) -> Result<u64, Infallible> {
    Ok(step(x).await)
}

fn main() {
    let mut suite = Suite::from_env();
    let rt = multi_thread(2);
    three_stages(&mut suite, &rt);
    skewed(&mut suite, &rt);
    debounce(&mut suite, &rt);
}

fn three_stages(suite: &mut Suite, rt: &tokio::runtime::Runtime) {
    // 250k rather than the 1M: with 11 interleaved rounds of five contenders (pumps
    // alone takes ~5 µs an item) 1M would take minutes; per-item ratios do not change.
    let n = suite.scale(250_000);
    suite.group("pipeline/3-stages", n, |g| {
        g.floor("hand-written mpsc chain", || {
            time_spawned(rt, || async move { assert_eq!(hand_chain(n).await, n) })
        });
        g.ours("taskweave-pipeline", || {
            time_spawned(rt, || async move {
                let stage = |name| {
                    StageConfig::new(name)
                        .concurrency(CONCURRENCY)
                        .buffer(BUFFER)
                };
                let pipeline = Flow::from_iter(0..n)
                    .map(stage("validate"), try_step)
                    .map(stage("transform"), try_step)
                    .map(stage("enrich"), try_step)
                    .build()
                    .expect("valid flow");
                let mut count = 0;
                pipeline.run(|_| count += 1).await.expect("no stage fails");
                assert_eq!(count, n);
            })
        });
        g.peer("guide's single-task Pipeline", || {
            time_spawned(rt, || async move {
                let mut count = 0;
                for x in 0..n {
                    let v = step(x).await;
                    let t = step(v).await;
                    black_box(step(t).await);
                    count += 1;
                }
                assert_eq!(count, n);
            })
        });
        g.peer("futures buffered chain", || {
            time_spawned(rt, || async move {
                let count = futures::stream::iter(0..n)
                    .map(step)
                    .buffered(CONCURRENCY)
                    .map(step)
                    .buffered(CONCURRENCY)
                    .map(step)
                    .buffered(CONCURRENCY)
                    .fold(0u64, |c, _| async move { c + 1 })
                    .await;
                assert_eq!(count, n);
            })
        });
        g.peer("pumps", || {
            time_spawned(rt, || async move {
                use pumps::{Concurrency, Pipeline};
                let conc = || Concurrency::concurrent_ordered(CONCURRENCY);
                let (mut out, handle) = Pipeline::from_iter(0..n)
                    .map(step, conc())
                    .backpressure(BUFFER)
                    .map(step, conc())
                    .backpressure(BUFFER)
                    .map(step, conc())
                    .backpressure(BUFFER)
                    .build();
                let mut count = 0;
                while out.recv().await.is_some() {
                    count += 1;
                }
                let _ = handle.await;
                assert_eq!(count, n);
            })
        });
    });
}

/// The floor: one task per stage, bounded channels between them, no per-stage concurrency.
async fn hand_chain(n: u64) -> u64 {
    let (source, mut rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        for x in 0..n {
            if source.send(x).await.is_err() {
                return;
            }
        }
    });
    for _ in 0..3 {
        let (tx, next) = mpsc::channel(BUFFER);
        let mut input = std::mem::replace(&mut rx, next);
        tokio::spawn(async move {
            while let Some(x) = input.recv().await {
                if tx.send(step(x).await).await.is_err() {
                    return;
                }
            }
        });
    }
    let mut count = 0;
    while rx.recv().await.is_some() {
        count += 1;
    }
    count
}

/// One skewed job: 1 in 20 takes 50 ms, the others 1 ms.
#[derive(Clone, Copy)]
struct Job {
    arrived: Instant,
    long: bool,
}

async fn run_job(job: Job) -> Duration {
    let ms = if job.long { 50 } else { 1 };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    job.arrived.elapsed()
}

/// Sends `n` jobs, one per millisecond, into `tx`.
async fn arrivals(n: u64, tx: mpsc::Sender<Job>) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for i in 0..n {
        tick.tick().await;
        let job = Job {
            arrived: Instant::now(),
            // 1 in 20, spread pseudo-randomly (i % 20 would send every long job to one
            // round-robin worker of 4).
            long: (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 20 == 0,
        };
        if tx.send(job).await.is_err() {
            return;
        }
    }
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort_unstable();
    let rank = (latencies.len() * 99).div_ceil(100).max(1);
    latencies[rank - 1]
}

/// Runs one skewed workload, notes its p99 latency under `contender` and returns the total.
fn skewed_run<F, Fut>(rt: &tokio::runtime::Runtime, contender: &'static str, run: F) -> Duration
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Vec<Duration>> + Send + 'static,
{
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = Arc::clone(&latencies);
    let fut = run();
    let elapsed = time_spawned(rt, move || async move {
        let l = fut.await;
        *out.lock().expect("not poisoned") = l;
    });
    let latencies = std::mem::take(&mut *latencies.lock().expect("not poisoned"));
    let p = p99(latencies);
    note(
        "pipeline/skewed",
        contender,
        &format!(
            "p99 latency {:.1} ms (ideal ≈ 50 ms: the long job itself)",
            p.as_secs_f64() * 1e3
        ),
    );
    elapsed
}

fn skewed(suite: &mut Suite, rt: &tokio::runtime::Runtime) {
    const WORKERS: usize = 4;
    let n = suite.scale(200);
    suite.group("pipeline/skewed", n, |g| {
        g.floor("guide's round-robin work queue", || {
            skewed_run(rt, "guide's round-robin work queue", move || async move {
                let (tx, mut rx) = mpsc::channel(BUFFER);
                tokio::spawn(arrivals(n, tx));
                let (done_tx, mut done) = mpsc::channel(BUFFER);
                let workers: Vec<_> = (0..WORKERS)
                    .map(|_| {
                        let (wtx, mut wrx) = mpsc::channel::<Job>(BUFFER);
                        let done_tx = done_tx.clone();
                        tokio::spawn(async move {
                            while let Some(job) = wrx.recv().await {
                                let _ = done_tx.send(run_job(job).await).await;
                            }
                        });
                        wtx
                    })
                    .collect();
                drop(done_tx);
                tokio::spawn(async move {
                    let mut next = 0;
                    while let Some(job) = rx.recv().await {
                        let _ = workers[next % WORKERS].send(job).await;
                        next += 1;
                    }
                });
                let mut latencies = Vec::with_capacity(n as usize);
                while let Some(l) = done.recv().await {
                    latencies.push(l);
                }
                latencies
            })
        });
        g.ours("taskweave-pipeline", || {
            skewed_run(rt, "taskweave-pipeline", move || async move {
                let (tx, rx) = mpsc::channel(BUFFER);
                tokio::spawn(arrivals(n, tx));
                let pipeline = Flow::from_receiver(rx)
                    .map(
                        StageConfig::new("job").concurrency(WORKERS).unordered(),
                        |job| async move { Ok::<_, Infallible>(run_job(job).await) },
                    )
                    .build()
                    .expect("valid flow");
                let mut latencies = Vec::with_capacity(n as usize);
                pipeline
                    .run(|l| latencies.push(l))
                    .await
                    .expect("no stage fails");
                latencies
            })
        });
        g.peer("taskweave-pool", || {
            skewed_run(rt, "taskweave-pool", move || async move {
                let (tx, mut rx) = mpsc::channel(BUFFER);
                tokio::spawn(arrivals(n, tx));
                let pool = taskweave_pool::Pool::builder()
                    .max_concurrency(WORKERS)
                    .queue_capacity(BUFFER)
                    .build()
                    .expect("valid pool");
                let mut handles = Vec::with_capacity(n as usize);
                while let Some(job) = rx.recv().await {
                    handles.push(pool.submit(run_job(job)).await.expect("the pool is open"));
                }
                let mut latencies = Vec::with_capacity(n as usize);
                for h in handles {
                    latencies.push(h.await.expect("jobs do not panic"));
                }
                latencies
            })
        });
    });
}

fn debounce(suite: &mut Suite, rt: &tokio::runtime::Runtime) {
    const QUIET: Duration = Duration::from_millis(1);
    let n = suite.scale(1_000_000);
    let events = move || {
        let (tx, rx) = mpsc::channel(1_024);
        tokio::spawn(async move {
            for x in 0..n {
                if tx.send(x).await.is_err() {
                    return;
                }
            }
        });
        rx
    };
    suite.group("pipeline/debounce", n, |g| {
        g.floor("hand-written sleep-reset loop", || {
            time_spawned(rt, move || async move {
                let mut rx = events();
                let sleep = tokio::time::sleep(QUIET);
                tokio::pin!(sleep);
                let mut pending = None;
                let mut emitted = Vec::new();
                loop {
                    tokio::select! {
                        biased;
                        x = rx.recv() => match x {
                            Some(x) => {
                                pending = Some(x);
                                sleep.as_mut().reset(Instant::now() + QUIET);
                            }
                            None => break,
                        },
                        () = &mut sleep, if pending.is_some() => emitted.extend(pending.take()),
                    }
                }
                emitted.extend(pending.take());
                assert_eq!(emitted.last(), Some(&(n - 1)));
            })
        });
        g.ours("taskweave-pipeline debounce", || {
            time_spawned(rt, move || async move {
                let mut rx = events();
                let emitted: Vec<u64> = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
                    .debounce(QUIET, None)
                    .collect()
                    .await;
                assert_eq!(emitted.last(), Some(&(n - 1)));
            })
        });
    });
}

use std::future::Future;
