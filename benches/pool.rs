//! `pool/100k-jobs`: 100k tiny async jobs (a little arithmetic and one `yield_now`) with at
//! most 64 running at once, every result collected, on a 2-worker multi-thread runtime.
//!
//! The floor is a `JoinSet` + `Semaphore` spawning one task per job. The taskweave `Pool`
//! (default mode, one handle per job) is its direct counterpart. The taskweave `FixedPool`
//! (fixed workers, results streamed back) spawns no task per job; its fair peer is
//! `buffer_unordered(64)`, which runs every job inside one task.

use std::hint::black_box;
use std::sync::Arc;

use futures::StreamExt as _;
use taskweave_benches::{Suite, multi_thread, time_spawned};
use taskweave_pool::Pool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

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

async fn baseline(jobs: u64) {
    let semaphore = Arc::new(Semaphore::new(LIMIT));
    let mut set = JoinSet::new();
    let mut sum = 0u64;
    for i in 0..jobs {
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

async fn buffer_unordered(jobs: u64) {
    let sum = futures::stream::iter(0..jobs)
        .map(job)
        .buffer_unordered(LIMIT)
        .fold(0u64, |acc, x| async move { acc.wrapping_add(x) })
        .await;
    check(sum);
}

async fn taskweave_pool(pool: Pool, jobs: u64) {
    let mut handles = Vec::with_capacity(jobs as usize);
    for i in 0..jobs {
        let handle = pool.submit(job(i)).await.expect("the pool is open");
        handles.push(handle);
    }
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.await.expect("jobs do not panic"));
    }
    check(sum);
}

async fn taskweave_fixed(pool: taskweave_pool::FixedPool<u64, u64>, jobs: u64) {
    let sum = pool
        .process_unordered(futures::stream::iter(0..jobs))
        .fold(0u64, |acc, x| async move {
            acc.wrapping_add(x.expect("jobs do not panic"))
        })
        .await;
    check(sum);
}

fn main() {
    let mut suite = Suite::from_env();
    let jobs = suite.scale(100_000);
    let rt = multi_thread(2);
    suite.group("pool/100k-jobs", jobs, |g| {
        g.floor("JoinSet + Semaphore", || {
            time_spawned(&rt, move || baseline(jobs))
        });
        g.ours("taskweave: Pool", || {
            let pool = rt.block_on(async {
                Pool::builder()
                    .max_concurrency(LIMIT)
                    .queue_capacity(QUEUE)
                    .build()
                    .expect("a valid configuration")
            });
            time_spawned(&rt, move || taskweave_pool(pool, jobs))
        });
        g.ours("taskweave: FixedPool (fixed workers)", || {
            let pool = rt.block_on(async {
                Pool::builder()
                    .max_concurrency(LIMIT)
                    .queue_capacity(QUEUE)
                    .build_fixed(job)
                    .expect("a valid configuration")
            });
            time_spawned(&rt, move || taskweave_fixed(pool, jobs))
        });
        g.peer("buffer_unordered(64)", || {
            time_spawned(&rt, move || buffer_unordered(jobs))
        });
    });
}
