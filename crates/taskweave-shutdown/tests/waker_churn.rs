//! `run()` — the crate's one future that waits — completes when every poll brings a new
//! waker, and is polled a handful of times per event, not in a self-waking loop.

use std::io;
use std::time::Duration;

use taskweave_shutdown::{AbortReason, Cause, Coordinator, Outcome, Signal};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};
use tokio::time::sleep;

fn builder() -> taskweave_shutdown::Builder {
    Coordinator::builder()
        .signals(false)
        .phase("workers", Duration::from_secs(10))
        .phase("storage", Duration::from_secs(10))
}

/// Ten tasks per phase that stop at distinct times, 100 ms apart, after their token.
fn spawn_stoppers(coordinator: &Coordinator) {
    for group in ["workers", "storage"] {
        for i in 0..10_u64 {
            coordinator
                .group(group)
                .spawn(format!("t{i}"), move |token| async move {
                    token.cancelled().await;
                    sleep(Duration::from_millis(100 * i)).await;
                    Ok::<_, io::Error>(())
                })
                .unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn run_waiting_for_a_trigger_then_for_its_phases() {
    let coordinator = builder().build().unwrap();
    spawn_stoppers(&coordinator);
    let handle = coordinator.handle();
    tokio::spawn(async move {
        sleep(Duration::from_secs(3)).await;
        handle.close();
    });
    let (report, polls) = FreshWakers::new(coordinator.run()).await;
    assert_eq!(*report.cause(), Cause::Requested);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.tasks().len(), 20);
    // Woken by the trigger and by each phase going idle, not once per ending task.
    assert!(polls <= 6, "run() polled {polls} times");
}

#[tokio::test(start_paused = true)]
async fn run_waiting_for_every_task_to_finish() {
    let coordinator = builder().build().unwrap();
    for i in 0..20_u64 {
        coordinator
            .group(if i % 2 == 0 { "workers" } else { "storage" })
            .spawn(format!("job-{i}"), move |_token| async move {
                sleep(Duration::from_millis(50 * i)).await;
                Ok::<_, io::Error>(())
            })
            .unwrap();
    }
    let (report, polls) = FreshWakers::new(coordinator.run()).await;
    assert_eq!(*report.cause(), Cause::AllTasksFinished);
    assert_eq!(report.completed_before_shutdown(), 20);
    assert!(polls <= 8, "run() polled {polls} times");
}

#[tokio::test(start_paused = true)]
async fn run_waiting_out_a_grace_period_and_its_aborts() {
    let coordinator = builder().build().unwrap();
    coordinator
        .group("workers")
        .spawn("stubborn", |_token| {
            std::future::pending::<Result<(), io::Error>>()
        })
        .unwrap();
    coordinator.close();
    let (report, polls) = FreshWakers::new(coordinator.run()).await;
    assert_eq!(
        *report.task("workers/stubborn").unwrap().outcome(),
        Outcome::Aborted(AbortReason::GraceExpired {
            grace: Duration::from_secs(10)
        })
    );
    assert!(polls <= 6, "run() polled {polls} times");
}

#[tokio::test(start_paused = true)]
async fn run_forced_by_signals() {
    let coordinator = builder().build().unwrap();
    spawn_stoppers(&coordinator);
    let handle = coordinator.handle();
    tokio::spawn(async move {
        handle.deliver_signal(Signal::Interrupt);
        sleep(Duration::from_millis(250)).await;
        handle.deliver_signal(Signal::Interrupt);
    });
    let (report, polls) = FreshWakers::new(coordinator.run()).await;
    assert!(report.was_forced());
    assert_eq!(report.tasks().len(), 20);
    assert!(polls <= 6, "run() polled {polls} times");
}

#[test]
fn run_on_a_multi_thread_runtime_with_a_thousand_tasks() {
    finishes_within(HANG_LIMIT, "run() with fresh wakers, multi-thread", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let coordinator = builder().build().unwrap();
            for i in 0..1_000_u64 {
                coordinator
                    .group(if i % 2 == 0 { "workers" } else { "storage" })
                    .spawn(format!("t{i}"), |token| async move {
                        token.cancelled().await;
                        tokio::task::yield_now().await;
                        Ok::<_, io::Error>(())
                    })
                    .unwrap();
            }
            coordinator.close();
            let (report, polls) = FreshWakers::new(coordinator.run()).await;
            assert_eq!(report.tasks().len(), 1_000);
            assert!(report.is_clean());
            // Woken as phases go idle (plus spurious wake-ups from the timer), not per task.
            assert!(polls <= 20, "run() polled {polls} times for 1,000 tasks");
        });
    });
}
