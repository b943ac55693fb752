//! Liveness at realistic sizes on a multi-thread runtime: thousands of tasks spawned from
//! outside and from inside, racing the trigger, all end and all are accounted for.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskweave_shutdown::{Cause, Coordinator, Group, OnFailure, Outcome, SpawnError};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio_util::sync::CancellationToken;

/// Spawns the `i`-th worker: it completes at once, fails (tolerated), waits for its token, or
/// waits for its token and then drains for a few polls.
fn spawn_worker(workers: &Group, i: u64) -> Result<(), SpawnError> {
    workers
        .task(format!("conn-{i}"))
        .on_failure(OnFailure::Continue)
        .spawn(move |token: CancellationToken| async move {
            match i % 4 {
                0 => Ok(()),
                1 => Err(io::Error::other("bad request")),
                2 => {
                    token.cancelled().await;
                    Ok(())
                }
                _ => {
                    token.cancelled().await;
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    Ok(())
                }
            }
        })
}

#[test]
fn thousands_of_tasks_spawned_from_everywhere_all_end_and_are_all_accounted_for() {
    finishes_within(HANG_LIMIT, "10k tasks on a multi-thread runtime", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let coordinator = Coordinator::builder()
                .signals(false)
                .phase("ingress", Duration::from_secs(10))
                .phase("workers", Duration::from_secs(10))
                .phase("storage", Duration::from_secs(10))
                .max_failure_records(100)
                .build()
                .unwrap();
            let admitted = Arc::new(AtomicU64::new(0));
            for i in 0..4 {
                coordinator
                    .group("storage")
                    .spawn(format!("writer-{i}"), |token| async move {
                        token.cancelled().await;
                        Ok::<_, io::Error>(())
                    })
                    .unwrap();
            }
            admitted.fetch_add(4, Ordering::Relaxed);
            for a in 0..2_u64 {
                let workers = coordinator.group("workers");
                let handle = coordinator.handle();
                let admitted_by_me = Arc::clone(&admitted);
                coordinator
                    .group("ingress")
                    .spawn(format!("acceptor-{a}"), move |token| async move {
                        let mut i = a;
                        loop {
                            match spawn_worker(&workers, i) {
                                Ok(()) => admitted_by_me.fetch_add(1, Ordering::Relaxed),
                                Err(e) if e.is_closed() => break,
                                Err(e) => panic!("{e}"),
                            };
                            i += 2;
                            if i == 10_000 + a {
                                handle.close();
                            }
                            if i % 64 < 2 {
                                tokio::task::yield_now().await;
                            }
                        }
                        token.cancelled().await;
                        Ok::<_, io::Error>(())
                    })
                    .unwrap();
            }
            admitted.fetch_add(2, Ordering::Relaxed);

            let report = coordinator.run().await;

            let admitted = admitted.load(Ordering::Relaxed);
            assert!(admitted >= 5_000, "{admitted} tasks admitted");
            assert_eq!(*report.cause(), Cause::Requested);
            assert!(!report.was_forced());
            assert_eq!(
                report.tasks().len() as u64
                    + report.completed_before_shutdown()
                    + report.failures_not_kept(),
                admitted,
                "every admitted task is accounted for exactly once: {report:.0}"
            );
            assert!(
                report
                    .tasks()
                    .iter()
                    .all(|t| matches!(t.outcome(), Outcome::Completed | Outcome::Failed(_))),
                "nothing was aborted"
            );
            assert!(report.is_clean());
        });
    });
}
