//! `pool/100k-jobs`: 100k tiny async jobs (a little arithmetic and one `yield_now`) with at
//! most 64 running at once, every result collected, on a 2-worker multi-thread runtime.
//!
//! Contenders: a `JoinSet` + `Semaphore` spawning one task per job (baseline),
//! `buffer_unordered(64)` on one task, the taskweave `Pool` (default mode, one handle per job)
//! and the taskweave `FixedPool` (fixed workers, results streamed back).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt as _;
use taskweave_benches::{iter_runs, multi_thread, time_spawned, workload_group};
use taskweave_pool::Pool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const JOBS: u64 = 100_000;
const LIMIT: usize = 64;
const QUEUE: usize = 1024;

/// The job: a little arithmetic and one yield.
async fn job(i: u64) -> u64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    tokio::task::yield_now().await;
    x ^ (x >> 29)
}

fn check(sum: u64) {
    black_box(sum);
}

async fn baseline() {
    let semaphore = Arc::new(Semaphore::new(LIMIT));
    let mut set = JoinSet::new();
    let mut sum = 0u64;
    for i in 0..JOBS {
        let permit = Arc::clone(&semaphore)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        set.spawn(async move {
            let out = job(i).await;
            drop(permit);
            out
        });
        // Collect finished results as we go, as a real caller would.
        while let Some(done) = set.try_join_next() {
            sum = sum.wrapping_add(done.expect("jobs do not panic"));
        }
    }
    while let Some(done) = set.join_next().await {
        sum = sum.wrapping_add(done.expect("jobs do not panic"));
    }
    check(sum);
}

async fn buffer_unordered() {
    let sum = futures::stream::iter(0..JOBS)
        .map(job)
        .buffer_unordered(LIMIT)
        .fold(0u64, |acc, x| async move { acc.wrapping_add(x) })
        .await;
    check(sum);
}

async fn taskweave_pool(pool: Pool) {
    let mut handles = Vec::with_capacity(JOBS as usize);
    for i in 0..JOBS {
        let handle = pool.submit(job(i)).await.expect("the pool is open");
        handles.push(handle);
    }
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.await.expect("jobs do not panic"));
    }
    check(sum);
}

async fn taskweave_fixed(pool: taskweave_pool::FixedPool<u64, u64>) {
    let sum = pool
        .process_unordered(futures::stream::iter(0..JOBS))
        .fold(0u64, |acc, x| async move {
            acc.wrapping_add(x.expect("jobs do not panic"))
        })
        .await;
    check(sum);
}

fn bench(c: &mut Criterion) {
    let rt = multi_thread(2);
    let mut group = workload_group(c, "pool/100k-jobs", JOBS);
    group.bench_function("baseline: JoinSet + Semaphore", |b| {
        iter_runs(b, || time_spawned(&rt, baseline));
    });
    group.bench_function("buffer_unordered(64)", |b| {
        iter_runs(b, || time_spawned(&rt, buffer_unordered));
    });
    group.bench_function("taskweave: Pool", |b| {
        iter_runs(b, || {
            let pool = rt.block_on(async {
                Pool::builder()
                    .max_concurrency(LIMIT)
                    .queue_capacity(QUEUE)
                    .build()
                    .expect("a valid configuration")
            });
            time_spawned(&rt, move || taskweave_pool(pool))
        });
    });
    group.bench_function("taskweave: Pool (fixed workers)", |b| {
        iter_runs(b, || {
            let pool = rt.block_on(async {
                Pool::builder()
                    .max_concurrency(LIMIT)
                    .queue_capacity(QUEUE)
                    .build_fixed(job)
                    .expect("a valid configuration")
            });
            time_spawned(&rt, move || taskweave_fixed(pool))
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
