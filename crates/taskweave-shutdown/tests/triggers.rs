//! What starts a shutdown: failures, panics, signals (and a second one), or running out of work.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskweave_shutdown::{AbortReason, Cause, Coordinator, OnFailure, Outcome, Signal};
use tokio::time::sleep;

fn builder() -> taskweave_shutdown::Builder {
    Coordinator::builder().signals(false)
}

/// A task that returns as soon as its token is cancelled.
async fn polite(token: tokio_util::sync::CancellationToken) -> Result<(), io::Error> {
    token.cancelled().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_shuts_everything_down_by_default() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(10))
        .build()
        .unwrap();
    let workers = coordinator.group("workers");
    workers.spawn("steady", polite).unwrap();
    workers
        .spawn("flaky", |_token| async move {
            sleep(Duration::from_secs(3)).await;
            Err::<(), _>(io::Error::other("disk full"))
        })
        .unwrap();
    coordinator.spawn("http", polite).unwrap();

    let report = coordinator.run().await;

    assert_eq!(
        *report.cause(),
        Cause::TaskFailed {
            task: "workers/flaky".into()
        }
    );
    assert_eq!(
        *report.task("workers/flaky").unwrap().outcome(),
        Outcome::Failed("disk full".into())
    );
    // It failed before its phase began, so it has no shutdown duration.
    assert_eq!(
        report.task("workers/flaky").unwrap().shutdown_duration(),
        None
    );
    assert_eq!(
        *report.task("workers/steady").unwrap().outcome(),
        Outcome::Completed
    );
    assert_eq!(*report.task("http").unwrap().outcome(), Outcome::Completed);
    assert!(!report.is_clean());
    assert_eq!(
        format!("{:?}", report.exit_code()),
        format!("{:?}", std::process::ExitCode::FAILURE)
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_with_the_continue_policy_is_logged_and_the_service_keeps_running() {
    let coordinator = builder().build().unwrap();
    let handle = coordinator.handle();
    coordinator
        .task("optional")
        .on_failure(OnFailure::Continue)
        .spawn(|_token| async move { Err::<(), _>("no cache today") })
        .unwrap();
    let still_running_after_failure = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&still_running_after_failure);
    coordinator
        .spawn("main", move |token| async move {
            sleep(Duration::from_secs(5)).await;
            flag.store(!token.is_cancelled(), Ordering::SeqCst);
            handle.close();
            token.cancelled().await;
            Ok::<_, io::Error>(())
        })
        .unwrap();

    let report = coordinator.run().await;

    assert!(still_running_after_failure.load(Ordering::SeqCst));
    assert_eq!(*report.cause(), Cause::Requested);
    let optional = report.task("optional").unwrap();
    assert_eq!(
        *optional.outcome(),
        Outcome::Failed("no cache today".into())
    );
    assert_eq!(optional.on_failure(), OnFailure::Continue);
    assert!(
        report.is_clean(),
        "a tolerated failure keeps the exit clean: {report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_captured_with_its_message_and_shuts_down() {
    let coordinator = builder().build().unwrap();
    coordinator.spawn("steady", polite).unwrap();
    coordinator
        .spawn("buggy", |_token| async move {
            sleep(Duration::from_millis(10)).await;
            let index = 7;
            if index > 3 {
                panic!("index {index} out of range");
            }
            Ok::<_, io::Error>(())
        })
        .unwrap();
    coordinator
        .task("odd-payload")
        .on_failure(OnFailure::Continue)
        .spawn(|_token| async move {
            std::panic::panic_any(42_u32);
            #[allow(unreachable_code)]
            Ok::<_, io::Error>(())
        })
        .unwrap();

    let report = coordinator.run().await;

    assert_eq!(
        *report.cause(),
        Cause::TaskPanicked {
            task: "buggy".into()
        }
    );
    assert_eq!(
        *report.task("buggy").unwrap().outcome(),
        Outcome::Panicked("index 7 out of range".into())
    );
    assert_eq!(
        *report.task("odd-payload").unwrap().outcome(),
        Outcome::Panicked("<non-string panic payload>".into())
    );
    assert_eq!(
        *report.task("steady").unwrap().outcome(),
        Outcome::Completed
    );
    assert!(!report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_signal_starts_the_shutdown_and_a_second_one_aborts_at_once() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(30))
        .build()
        .unwrap();
    let handle = coordinator.handle();
    coordinator
        .group("workers")
        .spawn("stubborn", |_token| {
            std::future::pending::<Result<(), io::Error>>()
        })
        .unwrap();
    coordinator
        .group("workers")
        .spawn("slow", |token| async move {
            token.cancelled().await;
            sleep(Duration::from_secs(20)).await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    // The operator presses Ctrl-C, waits 2 s, and sends SIGTERM — through the same call the
    // coordinator's own signal listener makes.
    tokio::spawn(async move {
        handle.deliver_signal(Signal::Interrupt);
        sleep(Duration::from_secs(2)).await;
        handle.deliver_signal(Signal::Terminate);
    });

    let report = coordinator.run().await;

    assert_eq!(*report.cause(), Cause::Signal(Signal::Interrupt));
    assert!(report.was_forced());
    assert_eq!(
        report.duration(),
        Duration::from_secs(2),
        "not the 30 s grace period"
    );
    for path in ["workers/stubborn", "workers/slow"] {
        let task = report.task(path).unwrap();
        assert_eq!(
            *task.outcome(),
            Outcome::Aborted(AbortReason::SecondSignal),
            "{path}"
        );
        assert_eq!(
            task.shutdown_duration(),
            Some(Duration::from_secs(2)),
            "{path}"
        );
    }
    assert!(!report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_single_signal_gives_a_clean_shutdown() {
    let coordinator = builder().build().unwrap();
    coordinator.spawn("server", polite).unwrap();
    coordinator.deliver_signal(Signal::Terminate);
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::Signal(Signal::Terminate));
    assert!(!report.was_forced());
    assert!(report.is_clean());
    assert_eq!(
        format!("{:?}", report.exit_code()),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
}

#[tokio::test(start_paused = true)]
async fn run_returns_when_every_task_has_finished() {
    let coordinator = builder().build().unwrap();
    let handle = coordinator.handle();
    coordinator
        .spawn("batch", move |_token| async move {
            sleep(Duration::from_secs(1)).await;
            // A follow-up job, spawned from inside; run() must wait for it too.
            handle
                .spawn("follow-up", |_token| async move {
                    sleep(Duration::from_secs(1)).await;
                    Ok::<_, io::Error>(())
                })
                .unwrap();
            Ok::<_, io::Error>(())
        })
        .unwrap();
    let started = tokio::time::Instant::now();
    let report = coordinator.run().await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(*report.cause(), Cause::AllTasksFinished);
    assert_eq!(report.completed_before_shutdown(), 2);
    assert!(report.tasks().is_empty());
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_failure_during_shutdown_is_reported_without_changing_the_cause() {
    let coordinator = builder().build().unwrap();
    coordinator
        .spawn("flusher", |token| async move {
            token.cancelled().await;
            sleep(Duration::from_millis(200)).await;
            Err::<(), _>(io::Error::other("flush failed"))
        })
        .unwrap();
    coordinator.spawn("steady", polite).unwrap();
    coordinator.close();
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::Requested);
    let flusher = report.task("flusher").unwrap();
    assert_eq!(*flusher.outcome(), Outcome::Failed("flush failed".into()));
    assert_eq!(
        flusher.shutdown_duration(),
        Some(Duration::from_millis(200))
    );
    assert!(!report.is_clean());
    assert!(
        report.to_string().contains("flusher: failed: flush failed"),
        "{report}"
    );
}
