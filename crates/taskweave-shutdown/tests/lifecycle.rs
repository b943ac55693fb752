//! The taskweave lifecycle on the coordinator: `close`, `abort`, the builder's
//! `cancellation_token`, and dropping the coordinator without running it.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_shutdown::{
    AbortReason, CancellationToken, Cause, Coordinator, Outcome, SpawnErrorKind,
};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::time::{Instant, sleep};

fn builder() -> taskweave_shutdown::Builder {
    Coordinator::builder().signals(false)
}

/// A task that drains for `drain` once its token is cancelled, then completes.
fn draining(
    drain: Duration,
) -> impl FnOnce(CancellationToken) -> std::pin::Pin<Box<dyn Future<Output = io::Result<()>> + Send>>
{
    move |token| {
        Box::pin(async move {
            token.cancelled().await;
            sleep(drain).await;
            Ok(())
        })
    }
}

/// A task that ignores its token.
async fn deaf(_token: CancellationToken) -> io::Result<()> {
    std::future::pending().await
}

#[tokio::test(start_paused = true)]
async fn close_refuses_spawns_and_drains_without_aborting() {
    let coordinator = builder().build().unwrap();
    coordinator
        .spawn("drainer", draining(Duration::from_secs(3)))
        .unwrap();

    coordinator.close();
    coordinator.close(); // idempotent

    assert!(coordinator.is_closed());
    let refused = coordinator.spawn("late", deaf).unwrap_err();
    assert_eq!(refused.kind(), SpawnErrorKind::Closed);
    assert!(refused.is_closed());
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::Requested);
    assert_eq!(
        *report.task("drainer").unwrap().outcome(),
        Outcome::Completed
    );
    assert!(report.is_clean() && !report.was_forced(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_cancellation_token_closes_like_close() {
    let external = CancellationToken::new();
    let coordinator = builder()
        .cancellation_token(external.clone())
        .phase("storage", Duration::from_secs(30))
        .build()
        .unwrap();
    coordinator
        .group("storage")
        .spawn("writer", draining(Duration::from_secs(2)))
        .unwrap();
    let handle = coordinator.handle();
    let run = tokio::spawn(coordinator.run());

    sleep(Duration::from_secs(1)).await;
    assert!(!handle.is_closed());
    external.cancel();
    sleep(Duration::from_millis(1)).await;

    assert!(handle.is_closed(), "the token closes the coordinator");
    let refused = handle.spawn("late", deaf).unwrap_err();
    assert_eq!(refused.kind(), SpawnErrorKind::Closed);
    let report = run.await.unwrap();
    assert_eq!(*report.cause(), Cause::Cancelled);
    let writer = report.task("storage/writer").unwrap();
    assert_eq!(
        *writer.outcome(),
        Outcome::Completed,
        "graceful, never an abort"
    );
    assert_eq!(writer.shutdown_duration(), Some(Duration::from_secs(2)));
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn the_cancellation_token_closes_before_run_is_polled() {
    let external = CancellationToken::new();
    let coordinator = builder()
        .cancellation_token(external.clone())
        .build()
        .unwrap();
    coordinator
        .spawn("drainer", draining(Duration::from_secs(1)))
        .unwrap();

    external.cancel();
    tokio::task::yield_now().await; // the watcher spawned by build() runs

    assert!(coordinator.is_closed());
    assert_eq!(
        coordinator.spawn("late", deaf).unwrap_err().kind(),
        SpawnErrorKind::Closed
    );
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::Cancelled);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_cancellation_token_given_outside_a_runtime_is_watched_by_run() {
    let external = CancellationToken::new();
    let coordinator = builder()
        .cancellation_token(external.clone())
        .build()
        .unwrap();
    let report = finishes_within(HANG_LIMIT, "run with a cancelled token", move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            coordinator
                .spawn("drainer", draining(Duration::from_secs(1)))
                .unwrap();
            tokio::spawn(async move {
                sleep(Duration::from_secs(5)).await;
                external.cancel();
            });
            coordinator.run().await
        })
    });
    assert_eq!(*report.cause(), Cause::Cancelled);
    assert_eq!(report.duration(), Duration::from_secs(1));
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_token_during_shutdown_does_not_cut_the_drain_short() {
    let external = CancellationToken::new();
    let coordinator = builder()
        .cancellation_token(external.clone())
        .build()
        .unwrap();
    coordinator
        .spawn("drainer", draining(Duration::from_secs(10)))
        .unwrap();
    coordinator.close();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        external.cancel();
    });

    let report = coordinator.run().await;

    assert_eq!(*report.cause(), Cause::Requested);
    assert_eq!(report.duration(), Duration::from_secs(10));
    assert!(report.is_clean() && !report.was_forced(), "{report}");
}

#[tokio::test(start_paused = true)]
async fn abort_aborts_every_task_in_every_phase_now() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(30))
        .phase("storage", Duration::from_secs(30))
        .build()
        .unwrap();
    coordinator.spawn("deaf", deaf).unwrap();
    coordinator.group("workers").spawn("deaf", deaf).unwrap();
    coordinator
        .group("storage")
        .spawn("drainer", draining(Duration::from_secs(20)))
        .unwrap();
    let handle = coordinator.handle();
    let run = tokio::spawn(coordinator.run());
    sleep(Duration::from_secs(2)).await;
    handle.close();
    sleep(Duration::from_secs(1)).await;

    let aborted_at = Instant::now();
    handle.abort();
    handle.abort(); // idempotent

    assert_eq!(
        handle.spawn("late", deaf).unwrap_err().kind(),
        SpawnErrorKind::Closed
    );
    let report = run.await.unwrap();
    assert_eq!(Instant::now(), aborted_at, "no grace period is waited out");
    assert!(report.was_forced() && !report.is_clean(), "{report}");
    assert_eq!(report.duration(), Duration::from_secs(1));
    for path in ["deaf", "workers/deaf", "storage/drainer"] {
        assert_eq!(
            *report.task(path).unwrap().outcome(),
            Outcome::Aborted(AbortReason::Requested),
            "{report}"
        );
    }
    assert_eq!(handle.metrics().aborted, 3);
}

#[tokio::test(start_paused = true)]
async fn abort_before_run_closes_and_run_reports_at_once() {
    let coordinator = builder().build().unwrap();
    coordinator.spawn("deaf", deaf).unwrap();

    coordinator.abort();

    assert!(coordinator.is_closed());
    let started = Instant::now();
    let report = coordinator.run().await;
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(*report.cause(), Cause::Requested);
    assert!(report.was_forced(), "{report}");
    assert_eq!(
        *report.task("deaf").unwrap().outcome(),
        Outcome::Aborted(AbortReason::Requested)
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_coordinator_without_run_closes_it_and_stops_the_phases_in_order() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(5))
        .phase("storage", Duration::from_secs(5))
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    for group in ["storage", "workers"] {
        let order = Arc::clone(&order);
        coordinator
            .group(group)
            .spawn("drainer", move |token| async move {
                token.cancelled().await;
                order.lock().unwrap().push((group, Instant::now()));
                sleep(Duration::from_secs(1)).await;
                Ok::<_, io::Error>(())
            })
            .unwrap();
    }
    coordinator.group("workers").spawn("deaf", deaf).unwrap();
    let handle = coordinator.handle();
    let dropped_at = Instant::now();

    drop(coordinator);

    assert!(handle.is_closed(), "dropping the coordinator closes it");
    assert_eq!(
        handle.spawn("late", deaf).unwrap_err().kind(),
        SpawnErrorKind::Closed
    );
    // Workers: the drainer ends after 1 s, the deaf task is aborted after the 5 s grace; then
    // storage begins.
    while handle.metrics().running > 0 {
        sleep(Duration::from_millis(100)).await;
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order,
        [
            ("workers", dropped_at),
            ("storage", dropped_at + Duration::from_secs(5))
        ]
    );
    let metrics = handle.metrics();
    assert_eq!((metrics.finished, metrics.aborted), (3, 1), "{metrics:?}");
    assert!(!metrics.forced);
}

#[test]
fn dropping_the_coordinator_outside_a_runtime_cancels_every_token() {
    let coordinator = builder()
        .phase("workers", Duration::from_secs(5))
        .build()
        .unwrap();
    let tokens = [coordinator.token(), coordinator.group("workers").token()];
    let handle = coordinator.handle();

    drop(coordinator);

    assert!(handle.is_closed());
    assert!(tokens.iter().all(CancellationToken::is_cancelled));
}
