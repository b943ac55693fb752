//! Phases stop in order, each with its own grace period; stragglers are aborted and named.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_shutdown::{AbortReason, Cause, Coordinator, Outcome};
use taskweave_testkit::LogCapture;
use tokio::time::{Instant, sleep};

type Log = Arc<Mutex<Vec<(&'static str, &'static str, Duration)>>>;

fn coordinator() -> Coordinator {
    Coordinator::builder()
        .signals(false)
        .grace(Duration::from_secs(5))
        .phase("ingress", Duration::from_secs(10))
        .phase("workers", Duration::from_secs(30))
        .phase("storage", Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Spawns a task that logs when its token is cancelled and when it is done, taking `work` to
/// finish after the cancellation.
fn spawn_logged(
    group: &taskweave_shutdown::Group,
    name: &'static str,
    work: Duration,
    log: &Log,
    t0: Instant,
) {
    let log = Arc::clone(log);
    group
        .spawn(name, move |token| async move {
            token.cancelled().await;
            log.lock().unwrap().push((name, "cancelled", t0.elapsed()));
            sleep(work).await;
            log.lock().unwrap().push((name, "done", t0.elapsed()));
            Ok::<_, io::Error>(())
        })
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn phases_stop_in_declared_order_after_the_default_phase() {
    let _logs = install_logs();
    let coordinator = coordinator();
    let log: Log = Arc::default();
    let t0 = Instant::now();
    // Spawned in reverse, to show that the order comes from the builder, not from spawning.
    spawn_logged(
        &coordinator.group("storage"),
        "db",
        Duration::from_secs(1),
        &log,
        t0,
    );
    spawn_logged(
        &coordinator.group("workers"),
        "worker",
        Duration::from_secs(2),
        &log,
        t0,
    );
    spawn_logged(
        &coordinator.group("ingress"),
        "http",
        Duration::from_secs(3),
        &log,
        t0,
    );
    spawn_logged(
        &coordinator.handle(),
        "metrics",
        Duration::from_secs(4),
        &log,
        t0,
    );
    spawn_logged(
        &coordinator.group("unplaced"),
        "cache",
        Duration::from_secs(4),
        &log,
        t0,
    );

    coordinator.close();
    let report = coordinator.run().await;

    let secs = |s| Duration::from_secs(s);
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![
            ("metrics", "cancelled", secs(0)),
            ("cache", "cancelled", secs(0)),
            ("metrics", "done", secs(4)),
            ("cache", "done", secs(4)),
            ("http", "cancelled", secs(4)),
            ("http", "done", secs(7)),
            ("worker", "cancelled", secs(7)),
            ("worker", "done", secs(9)),
            ("db", "cancelled", secs(9)),
            ("db", "done", secs(10)),
        ]
    );
    assert_eq!(*report.cause(), Cause::Requested);
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.duration(), secs(10));
    let order: Vec<String> = report.tasks().iter().map(|t| t.path()).collect();
    assert_eq!(
        order,
        [
            "metrics",
            "unplaced/cache",
            "ingress/http",
            "workers/worker",
            "storage/db"
        ]
    );
    for (path, took) in [
        ("metrics", 4),
        ("ingress/http", 3),
        ("workers/worker", 2),
        ("storage/db", 1),
    ] {
        let task = report.task(path).unwrap();
        assert_eq!(*task.outcome(), Outcome::Completed, "{path}");
        assert_eq!(task.shutdown_duration(), Some(secs(took)), "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn nested_groups_are_cancelled_with_their_parent() {
    let _logs = install_logs();
    let coordinator = coordinator();
    let log: Log = Arc::default();
    let t0 = Instant::now();
    let workers = coordinator.group("workers");
    let parsers = workers.group("parsers");
    assert_eq!(parsers.path(), "workers/parsers");
    assert_eq!(parsers.phase(), Some("workers"));
    spawn_logged(&parsers, "p1", Duration::from_secs(1), &log, t0);
    spawn_logged(
        &coordinator.group("ingress"),
        "http",
        Duration::from_secs(2),
        &log,
        t0,
    );

    coordinator.close();
    let report = coordinator.run().await;

    let log = log.lock().unwrap().clone();
    assert_eq!(
        log[2],
        ("p1", "cancelled", Duration::from_secs(2)),
        "{log:?}"
    );
    let p1 = report.task("workers/parsers/p1").unwrap();
    assert_eq!(p1.group(), "workers/parsers");
    assert_eq!(p1.name(), "p1");
    assert_eq!(*p1.outcome(), Outcome::Completed);
}

/// What the coordinator logs at `WARN` and above, captured on this thread.
///
/// Every test here installs one, even those that read no logs (see `LogCapture`).
fn install_logs() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let logs = LogCapture::default();
    let guard = logs.install(tracing::Level::WARN);
    (logs, guard)
}

#[tokio::test(start_paused = true)]
async fn tasks_ignoring_their_token_are_aborted_after_the_grace_period_and_named() {
    let (capture, _default) = install_logs();

    let coordinator = coordinator();
    let workers = coordinator.group("workers");
    workers
        .spawn("db-writer", |_token| async move {
            // Ignores its token.
            std::future::pending::<()>().await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    workers
        .spawn("polite", |token| async move {
            token.cancelled().await;
            sleep(Duration::from_secs(1)).await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    let storage_cancelled_at = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&storage_cancelled_at);
    let t0 = Instant::now();
    coordinator
        .group("storage")
        .spawn("flush", move |token| async move {
            token.cancelled().await;
            *seen.lock().unwrap() = Some(t0.elapsed());
            Ok::<_, io::Error>(())
        })
        .unwrap();

    coordinator.close();
    let report = coordinator.run().await;

    let writer = report.task("workers/db-writer").unwrap();
    assert_eq!(
        *writer.outcome(),
        Outcome::Aborted(AbortReason::GraceExpired {
            grace: Duration::from_secs(30)
        })
    );
    assert_eq!(writer.shutdown_duration(), Some(Duration::from_secs(30)));
    assert_eq!(
        report.task("workers/polite").unwrap().shutdown_duration(),
        Some(Duration::from_secs(1))
    );
    // The next phase waited for the abort, not a moment longer.
    assert_eq!(
        *storage_cancelled_at.lock().unwrap(),
        Some(Duration::from_secs(30))
    );
    assert!(!report.is_clean());
    assert_eq!(
        format!("{:?}", report.exit_code()),
        format!("{:?}", std::process::ExitCode::FAILURE)
    );
    assert!(
        report
            .to_string()
            .contains("workers/db-writer: aborted: still running after 30s"),
        "{report}"
    );

    let logs = capture.text();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(
        logs.contains("still running after 30s: workers/db-writer"),
        "{logs}"
    );
    assert!(!logs.contains("polite"), "{logs}");
}
