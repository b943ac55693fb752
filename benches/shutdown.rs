//! `shutdown`: from the shutdown trigger until every task has been joined.
//!
//! - `shutdown/10k-waiting`: 10,000 tasks, every one already waiting for cancellation when the
//!   clock starts; the time is from the trigger to the last task joined (spawning is setup).
//! - `shutdown/100x100-tree`: the same with the tasks in 100 groups of 100 (child tokens, nested
//!   subsystems or coordinator groups), the shape of a service with many components.
//!
//! The floor is `CancellationToken` + `TaskTracker`, what tokio-util offers for the job.
//!
//! One shutdown of 10,000 tasks takes a few milliseconds, and how the runtime happens to spread
//! the woken tasks over its two workers moves that by 2x from one shutdown to the next; so each
//! sample is the sum of `SHUTDOWNS_PER_SAMPLE` shutdowns, which keeps the per-round ratios
//! steady enough to compare.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskweave_benches::{Suite, multi_thread, spawned_timing};
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shutdowns timed (and summed) per sample of each contender.
const SHUTDOWNS_PER_SAMPLE: usize = 4;

/// Runs `shutdown` `SHUTDOWNS_PER_SAMPLE` times on `rt`, each in a task of its own, and sums
/// the times they report.
fn summed<Fut>(rt: &tokio::runtime::Runtime, shutdown: impl Fn() -> Fut) -> Duration
where
    Fut: std::future::Future<Output = Duration> + Send + 'static,
{
    (0..SHUTDOWNS_PER_SAMPLE)
        .map(|_| spawned_timing(rt, shutdown()))
        .sum()
}

/// Yields until `started` reaches `tasks`: every task has been polled up to its wait.
async fn all_waiting(started: &AtomicUsize, tasks: usize) {
    while started.load(Ordering::Acquire) < tasks {
        tokio::task::yield_now().await;
    }
}

async fn tracker(groups: usize, per_group: usize) -> Duration {
    let tracker = TaskTracker::new();
    let root = CancellationToken::new();
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..groups {
        let group = root.child_token();
        for _ in 0..per_group {
            let (token, started) = (group.clone(), Arc::clone(&started));
            tracker.spawn(async move {
                started.fetch_add(1, Ordering::Release);
                token.cancelled().await;
            });
        }
    }
    all_waiting(&started, groups * per_group).await;
    let start = Instant::now();
    root.cancel();
    tracker.close();
    tracker.wait().await;
    start.elapsed()
}

async fn broadcast_joinset(groups: usize, per_group: usize) -> Duration {
    let (tx, _) = broadcast::channel::<()>(1);
    let mut set = JoinSet::new();
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..groups * per_group {
        let (mut rx, started) = (tx.subscribe(), Arc::clone(&started));
        set.spawn(async move {
            started.fetch_add(1, Ordering::Release);
            let _ = rx.recv().await;
        });
    }
    all_waiting(&started, groups * per_group).await;
    let start = Instant::now();
    let _ = tx.send(());
    while let Some(joined) = set.join_next().await {
        joined.expect("no task panics");
    }
    start.elapsed()
}

async fn graceful_shutdown(groups: usize, per_group: usize) -> Duration {
    use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};
    let started = Arc::new(AtomicUsize::new(0));
    let trigger = Arc::new(std::sync::Mutex::new(None));
    let (s1, t1) = (Arc::clone(&started), Arc::clone(&trigger));
    let toplevel = Toplevel::new(async move |s: &mut SubsystemHandle| {
        for _ in 0..groups {
            let started = Arc::clone(&s1);
            s.start(SubsystemBuilder::new(
                "group",
                async move |g: &mut SubsystemHandle| {
                    for _ in 0..per_group {
                        let started = Arc::clone(&started);
                        g.start(SubsystemBuilder::new(
                            "task",
                            async move |h: &mut SubsystemHandle| {
                                started.fetch_add(1, Ordering::Release);
                                h.on_shutdown_requested().await;
                                Ok::<(), Infallible>(())
                            },
                        ));
                    }
                    g.on_shutdown_requested().await;
                    Ok::<(), Infallible>(())
                },
            ));
        }
        all_waiting(&s1, groups * per_group).await;
        *t1.lock().expect("not poisoned") = Some(Instant::now());
        s.request_shutdown();
    });
    toplevel
        .handle_shutdown_requests(Duration::from_secs(60))
        .await
        .expect("every subsystem stops cleanly");
    let start = trigger
        .lock()
        .expect("not poisoned")
        .expect("the trigger was recorded");
    start.elapsed()
}

async fn coordinator(groups: usize, per_group: usize) -> Duration {
    use taskweave_shutdown::Coordinator;
    let coordinator = Coordinator::builder()
        .signals(false)
        .build()
        .expect("the default config is valid");
    let started = Arc::new(AtomicUsize::new(0));
    for g in 0..groups {
        let group = if groups == 1 {
            coordinator.handle()
        } else {
            coordinator.group(&format!("g{g}"))
        };
        for _ in 0..per_group {
            let started = Arc::clone(&started);
            group
                .spawn("task", move |token| async move {
                    started.fetch_add(1, Ordering::Release);
                    token.cancelled().await;
                    Ok::<(), Infallible>(())
                })
                .expect("the coordinator is running");
        }
    }
    all_waiting(&started, groups * per_group).await;
    let start = Instant::now();
    coordinator.close();
    let report = coordinator.run().await;
    let elapsed = start.elapsed();
    assert_eq!(report.tasks().len(), groups * per_group);
    assert!(report.is_clean());
    elapsed
}

fn shape(suite: &mut Suite, id: &str, groups: usize, per_group: usize) {
    let rt = multi_thread(2);
    let tasks = (SHUTDOWNS_PER_SAMPLE * groups * per_group) as u64;
    suite.group(id, tasks, |g| {
        g.floor("CancellationToken + TaskTracker", || {
            summed(&rt, || tracker(groups, per_group))
        });
        g.ours("taskweave: Coordinator", || {
            summed(&rt, || coordinator(groups, per_group))
        });
        g.peer("tokio broadcast + JoinSet", || {
            summed(&rt, || broadcast_joinset(groups, per_group))
        });
        g.peer("tokio-graceful-shutdown", || {
            summed(&rt, || graceful_shutdown(groups, per_group))
        });
    });
}

fn main() {
    let mut suite = Suite::from_env();
    shape(&mut suite, "shutdown/10k-waiting", 1, 10_000);
    shape(&mut suite, "shutdown/100x100-tree", 100, 100);
}
