//! Shared helpers for the side-by-side benchmarks in this folder.
//!
//! Every bench file follows the same conventions, which `cargo xtask bench` relies on to build
//! `docs/benchmarks.md`:
//!
//! - a group id is `<bench file>/<workload>`, e.g. `breaker/closed-1-task`;
//! - one criterion iteration runs the whole workload (e.g. 1M calls), and the group declares
//!   `Throughput::Elements(n)` so the report can show time per operation — [`workload_group`]
//!   does both, with flat sampling so that long iterations stay cheap;
//! - the contender whose id starts with `baseline` is the yardstick (raw tokio or a direct
//!   call); ours start with `taskweave`;
//! - facts that are not times (messages lost to lag, achieved rates) go through [`note`].

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, Criterion, SamplingMode, Throughput};

/// A multi-threaded runtime with `workers` worker threads and every driver enabled.
pub fn multi_thread(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// A current-thread runtime with every driver enabled.
pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// Opens the group `id` (`<bench file>/<workload>`) whose every iteration performs `ops`
/// operations, with flat sampling (each sample runs the same number of iterations).
pub fn workload_group<'a>(
    c: &'a mut Criterion,
    id: &str,
    ops: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(id);
    group.throughput(Throughput::Elements(ops));
    group.sampling_mode(SamplingMode::Flat);
    group
}

/// Runs `workload` on `rt` inside a spawned task (not on the `block_on` thread, whose wake-ups
/// take another path) and returns how long the task took.
pub fn time_spawned<F, Fut>(rt: &tokio::runtime::Runtime, workload: F) -> Duration
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let fut = workload();
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            fut.await;
            start.elapsed()
        })
        .await
        .expect("the benchmarked task does not panic")
    })
}

/// Times `iters` runs of `run` for [`Bencher::iter_custom`]: each run builds its own fresh
/// state and returns only the time of the part it measures, so setup stays out of the numbers.
pub fn iter_runs(b: &mut Bencher<'_, WallTime>, mut run: impl FnMut() -> Duration) {
    b.iter_custom(|iters| (0..iters).map(|_| run()).sum());
}

/// Runs `per_task` on `tasks` tasks spawned together (each given its index) and returns how
/// long it took until all of them finished, measured from a spawned task like [`time_spawned`].
pub fn run_tasks<F, Fut>(rt: &tokio::runtime::Runtime, tasks: u64, per_task: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let futs: Vec<Fut> = (0..tasks).map(&per_task).collect();
    time_spawned(rt, move || async move {
        let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
        for h in handles {
            h.await.expect("a bench task does not panic");
        }
    })
}

/// Records a fact about a contender that is not a time (for example "lost 41% of deliveries to
/// lag"). `cargo xtask bench` prints it under the group's table; the latest call wins.
pub fn note(group: &str, contender: &str, text: &str) {
    let Some(dir) = std::env::var_os("TASKWEAVE_BENCH_NOTES").map(PathBuf::from) else {
        return;
    };
    let file: String = format!("{group}--{contender}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let mut f = std::fs::File::create(dir.join(file + ".txt"))?;
        writeln!(f, "{group}\t{contender}\t{text}")
    });
    if let Err(e) = written {
        eprintln!(
            "taskweave-benches: could not record a note in {}: {e}",
            dir.display()
        );
    }
}
