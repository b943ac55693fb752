//! What a signal during shutdown does, and how long the coordinator waits for aborted tasks.

use std::io;
use std::time::Duration;

use taskweave_shutdown::{AbortReason, Cause, Coordinator, ForceOn, Outcome, Report, Signal};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::time::sleep;

fn builder() -> taskweave_shutdown::Builder {
    Coordinator::builder().signals(false)
}

/// Spawns `flaky` (fails after 1 s, starting the shutdown) and `workers/drainer` (takes 10 s
/// to drain once cancelled), then delivers `signals` at the given instants.
fn failure_then_signals(coordinator: &Coordinator, signals: &[(u64, Signal)]) {
    coordinator
        .group("workers")
        .spawn("drainer", |token| async move {
            token.cancelled().await;
            sleep(Duration::from_secs(10)).await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    coordinator
        .spawn("flaky", |_token| async move {
            sleep(Duration::from_secs(1)).await;
            Err::<(), _>(io::Error::other("lost the database"))
        })
        .unwrap();
    let handle = coordinator.handle();
    let signals = signals.to_vec();
    tokio::spawn(async move {
        for (at, signal) in signals {
            tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_secs(at)).await;
            handle.deliver_signal(signal);
        }
    });
}

#[tokio::test(start_paused = true)]
async fn a_first_signal_during_a_shutdown_started_by_a_failure_does_not_skip_the_drain() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(30))
        .build()
        .unwrap();
    // The orchestrator sends its SIGTERM 3 s in, 2 s after the failure started the shutdown.
    failure_then_signals(&coordinator, &[(3, Signal::Terminate)]);

    let report = coordinator.run().await;

    assert_eq!(
        *report.cause(),
        Cause::TaskFailed {
            task: "flaky".into()
        }
    );
    assert!(!report.was_forced(), "{report}");
    let drainer = report.task("workers/drainer").unwrap();
    assert_eq!(*drainer.outcome(), Outcome::Completed, "{report}");
    assert_eq!(drainer.shutdown_duration(), Some(Duration::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_still_forces_a_shutdown_started_by_a_failure() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(30))
        .build()
        .unwrap();
    failure_then_signals(
        &coordinator,
        &[(3, Signal::Terminate), (1, Signal::Interrupt)],
    );

    let report = coordinator.run().await;

    assert!(report.was_forced(), "{report}");
    assert_eq!(report.duration(), Duration::from_secs(3));
    assert_eq!(
        *report.task("workers/drainer").unwrap().outcome(),
        Outcome::Aborted(AbortReason::SecondSignal)
    );
}

/// Runs `coordinator` on a fresh two-worker runtime with a task, `blocked`, that blocks its
/// worker thread (it never reaches an `.await`, so an abort cannot reach it) until `run()` has
/// returned; shutdown starts with two signals (`force`) or with `trigger()`.
fn run_with_a_blocked_task(what: &str, coordinator: Coordinator, force: bool) -> Report {
    finishes_within(HANG_LIMIT, what, move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Declared after the runtime, so dropped before it on any exit: that unblocks the task.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let report = runtime.block_on(async move {
            let (started_tx, started) = tokio::sync::oneshot::channel();
            coordinator
                .spawn("blocked", move |_token| async move {
                    let _ = started_tx.send(());
                    let _ = released.recv();
                    Ok::<_, io::Error>(())
                })
                .unwrap();
            coordinator.spawn("polite", polite).unwrap();
            started.await.unwrap();
            if force {
                coordinator.deliver_signal(Signal::Interrupt);
                coordinator.deliver_signal(Signal::Interrupt);
            } else {
                coordinator.close();
            }
            coordinator.run().await
        });
        drop(release);
        report
    })
}

async fn polite(token: tokio_util::sync::CancellationToken) -> Result<(), io::Error> {
    token.cancelled().await;
    Ok(())
}

#[test]
fn after_a_forced_shutdown_a_task_that_ignores_its_abort_is_reported_not_waited_for() {
    let coordinator = builder()
        .abort_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let report = run_with_a_blocked_task("forced shutdown, blocked task", coordinator, true);
    assert!(report.was_forced());
    assert!(!report.is_clean());
    let blocked = report.task("blocked").unwrap();
    assert_eq!(
        *blocked.outcome(),
        Outcome::Abandoned(AbortReason::SecondSignal),
        "{report}"
    );
    assert!(blocked.outcome().is_aborted() && blocked.outcome().is_abandoned());
    // The polite task saw its token cancelled and was aborted at once: it ended one way or
    // the other, and was not abandoned.
    let polite = report.task("polite").unwrap().outcome();
    assert!(
        matches!(
            polite,
            Outcome::Completed | Outcome::Aborted(AbortReason::SecondSignal)
        ),
        "{report}"
    );
    assert!(report.to_string().contains("1 abandoned"), "{report}");
}

#[test]
fn after_the_grace_period_a_task_that_ignores_its_abort_is_reported_not_waited_for() {
    let grace = Duration::from_millis(50);
    let coordinator = builder()
        .grace(grace)
        .abort_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let report = run_with_a_blocked_task("grace expired, blocked task", coordinator, false);
    assert!(!report.was_forced());
    assert!(!report.is_clean());
    assert_eq!(
        *report.task("blocked").unwrap().outcome(),
        Outcome::Abandoned(AbortReason::GraceExpired { grace }),
        "{report}"
    );
    // Normally done long before the grace period is over; on a loaded machine, maybe not.
    assert!(
        matches!(
            report.task("polite").unwrap().outcome(),
            Outcome::Completed | Outcome::Aborted(AbortReason::GraceExpired { .. })
        ),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_policy_can_force_on_any_signal_during_shutdown() {
    let coordinator = builder()
        .force_on(ForceOn::AnySignalDuringShutdown)
        .phase("workers", Duration::from_secs(30))
        .build()
        .unwrap();
    failure_then_signals(&coordinator, &[(3, Signal::Terminate)]);

    let report = coordinator.run().await;

    assert!(report.was_forced(), "{report}");
    assert_eq!(report.duration(), Duration::from_secs(2));
    assert_eq!(
        *report.task("workers/drainer").unwrap().outcome(),
        Outcome::Aborted(AbortReason::SecondSignal)
    );
}

#[tokio::test(start_paused = true)]
async fn the_policy_can_let_every_drain_run_to_its_end() {
    let coordinator = builder()
        .force_on(ForceOn::Never)
        .phase("workers", Duration::from_secs(30))
        .build()
        .unwrap();
    // Started by a signal this time; three more do not cut the drain short.
    coordinator
        .group("workers")
        .spawn("drainer", |token| async move {
            token.cancelled().await;
            sleep(Duration::from_secs(10)).await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    let handle = coordinator.handle();
    tokio::spawn(async move {
        for _ in 0..4 {
            handle.deliver_signal(Signal::Interrupt);
            sleep(Duration::from_secs(1)).await;
        }
    });

    let report = coordinator.run().await;

    assert_eq!(*report.cause(), Cause::Signal(Signal::Interrupt));
    assert!(!report.was_forced());
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.task("workers/drainer").unwrap().shutdown_duration(),
        Some(Duration::from_secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_force_every_phase_is_stopped_within_one_abort_wait() {
    // Aborted tasks end at their next poll, so nothing is abandoned and nothing waits: the
    // abort wait bounds the shutdown only when a thread is blocked (see the tests above).
    let coordinator = builder()
        .phase("ingress", Duration::from_secs(30))
        .phase("storage", Duration::from_secs(30))
        .build()
        .unwrap();
    for group in ["ingress", "storage"] {
        coordinator
            .group(group)
            .spawn("stubborn", |_token| {
                std::future::pending::<Result<(), io::Error>>()
            })
            .unwrap();
    }
    coordinator.deliver_signal(Signal::Interrupt);
    coordinator.deliver_signal(Signal::Interrupt);
    let report = coordinator.run().await;
    assert!(report.was_forced());
    assert_eq!(report.duration(), Duration::ZERO);
    for path in ["ingress/stubborn", "storage/stubborn"] {
        assert_eq!(
            *report.task(path).unwrap().outcome(),
            Outcome::Aborted(AbortReason::SecondSignal),
            "{path}"
        );
    }
}
