//! Dropping the runtime (or `run()`) mid-flight: no hang, no panic, and what lives outside
//! resolves with an error instead of waiting for ever.

use std::io;
use std::time::Duration;

use taskweave_shutdown::{AbortReason, Coordinator, Group, Outcome, SpawnErrorKind};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn coordinator() -> Coordinator {
    Coordinator::builder()
        .signals(false)
        .phase("workers", Duration::from_secs(600))
        .build()
        .unwrap()
}

/// Spawns, on the current runtime, a task that keeps working, one waiting for its token, one
/// draining forever after its token, and one that spawns more work in a loop.
fn spawn_the_usual(coordinator: &Coordinator) {
    let workers = coordinator.group("workers");
    workers
        .spawn("running", |_token| async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            #[allow(unreachable_code)]
            Ok::<_, io::Error>(())
        })
        .unwrap();
    workers
        .spawn("waiting", |token| async move {
            token.cancelled().await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    workers
        .spawn("draining", |token| async move {
            token.cancelled().await;
            std::future::pending::<Result<(), io::Error>>().await
        })
        .unwrap();
    let spawner = workers.clone();
    workers
        .spawn("spawner", move |_token| async move {
            for i in 0_u64.. {
                let spawned = spawner.spawn(format!("job-{i}"), |_token| async move {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok::<_, io::Error>(())
                });
                if spawned.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<_, io::Error>(())
        })
        .unwrap();
}

#[test]
fn dropping_the_runtime_with_run_and_tasks_in_flight_neither_hangs_nor_panics() {
    let handle: Group = finishes_within(HANG_LIMIT, "runtime dropped mid-flight", || {
        let runtime = runtime();
        let coordinator = coordinator();
        let handle = coordinator.handle();
        runtime.block_on(async {
            spawn_the_usual(&coordinator);
            // Shutdown under way: `workers/draining` holds the phase for its 600 s grace.
            coordinator.close();
            tokio::spawn(coordinator.run());
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        drop(runtime);
        handle
    });
    assert!(handle.is_closed());
    let refused = handle
        .spawn("late", |_token| async move { Ok::<_, io::Error>(()) })
        .unwrap_err();
    assert_eq!(refused.kind(), SpawnErrorKind::NoRuntime);
}

#[test]
fn run_awaited_on_another_runtime_resolves_when_the_tasks_runtime_is_dropped() {
    let report = finishes_within(HANG_LIMIT, "tasks' runtime dropped under run()", || {
        let tasks_runtime = runtime();
        let coordinator = coordinator();
        tasks_runtime.block_on(async { spawn_the_usual(&coordinator) });
        coordinator.close();
        let run = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(coordinator.run())
        });
        drop(tasks_runtime);
        run.join().unwrap()
    });
    let draining = report.task("workers/draining").unwrap();
    assert_eq!(*draining.outcome(), Outcome::Aborted(AbortReason::Dropped));
    assert!(!report.is_clean());
}

#[test]
fn a_spawn_after_run_was_dropped_is_refused() {
    finishes_within(HANG_LIMIT, "run() dropped mid-flight", || {
        let runtime = runtime();
        runtime.block_on(async {
            let coordinator = coordinator();
            let handle = coordinator.handle();
            spawn_the_usual(&coordinator);
            let run = tokio::time::timeout(Duration::from_millis(20), coordinator.run());
            assert!(run.await.is_err(), "nothing triggered the shutdown");
            // Nothing supervises new tasks any more: they must be refused, not run unowned.
            assert!(handle.is_closed());
            let refused = handle
                .spawn("orphan", |_token| async move { Ok::<_, io::Error>(()) })
                .unwrap_err();
            assert_eq!(refused.kind(), SpawnErrorKind::Closed);
        });
    });
}
