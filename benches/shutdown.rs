//! `shutdown/10k-tasks`: spawn 10,000 tasks that wait for cancellation, close the coordinator,
//! and wait until every task has been joined.

use std::convert::Infallible;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use taskweave_benches::{iter_runs, multi_thread, time_spawned, workload_group};
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const TASKS: usize = 10_000;
const GROUP: &str = "shutdown/10k-tasks";

fn ten_thousand_tasks(c: &mut Criterion) {
    let rt = multi_thread(2);
    let mut group = workload_group(c, GROUP, TASKS as u64);

    group.bench_function("baseline: TaskTracker + CancellationToken", |b| {
        iter_runs(b, || {
            time_spawned(&rt, || async {
                let tracker = TaskTracker::new();
                let token = CancellationToken::new();
                for _ in 0..TASKS {
                    let token = token.clone();
                    tracker.spawn(async move { token.cancelled().await });
                }
                token.cancel();
                tracker.close();
                tracker.wait().await;
            })
        });
    });

    group.bench_function("tokio broadcast + JoinSet", |b| {
        iter_runs(b, || {
            time_spawned(&rt, || async {
                let (tx, _) = broadcast::channel::<()>(1);
                let mut set = JoinSet::new();
                for _ in 0..TASKS {
                    let mut rx = tx.subscribe();
                    set.spawn(async move {
                        let _ = rx.recv().await;
                    });
                }
                let _ = tx.send(());
                while let Some(joined) = set.join_next().await {
                    joined.expect("no task panics");
                }
            })
        });
    });

    group.bench_function("tokio-graceful-shutdown", |b| {
        use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};
        iter_runs(b, || {
            time_spawned(&rt, || async {
                let toplevel = Toplevel::new(async |s: &mut SubsystemHandle| {
                    for _ in 0..TASKS {
                        s.start(SubsystemBuilder::new(
                            "task",
                            async |h: &mut SubsystemHandle| {
                                h.on_shutdown_requested().await;
                                Ok::<(), Infallible>(())
                            },
                        ));
                    }
                    s.request_shutdown();
                });
                toplevel
                    .handle_shutdown_requests(Duration::from_secs(60))
                    .await
                    .expect("every subsystem stops cleanly");
            })
        });
    });

    group.bench_function("taskweave: Coordinator", |b| {
        use taskweave_shutdown::Coordinator;
        iter_runs(b, || {
            time_spawned(&rt, || async {
                let coordinator = Coordinator::builder()
                    .signals(false)
                    .build()
                    .expect("the default config is valid");
                for _ in 0..TASKS {
                    coordinator
                        .spawn("task", |token| async move {
                            token.cancelled().await;
                            Ok::<(), Infallible>(())
                        })
                        .expect("the coordinator is running");
                }
                coordinator.close();
                let report = coordinator.run().await;
                assert_eq!(report.tasks().len(), TASKS);
                assert!(report.is_clean());
            })
        });
    });

    group.finish();
}

criterion_group!(benches, ten_thousand_tasks);
criterion_main!(benches);
