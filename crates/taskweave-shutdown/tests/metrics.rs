//! `metrics()`: what the coordinator has run so far.

use std::io;
use std::time::Duration;

use taskweave_shutdown::{CancellationToken, Coordinator, Metrics, OnFailure};
use tokio::time::sleep;

async fn deaf(_token: CancellationToken) -> io::Result<()> {
    std::future::pending().await
}

#[tokio::test(start_paused = true)]
async fn metrics_count_what_ran_and_how_it_ended() {
    let coordinator = Coordinator::builder()
        .signals(false)
        .grace(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(coordinator.metrics(), Metrics::default());

    coordinator
        .spawn("quick", |_| async { Ok::<_, io::Error>(()) })
        .unwrap();
    coordinator
        .task("failing")
        .on_failure(OnFailure::Continue)
        .spawn(|_| async { Err::<(), _>(io::Error::other("boom")) })
        .unwrap();
    coordinator
        .task("panicking")
        .on_failure(OnFailure::Continue)
        .spawn(|_| async { panic!("kaboom") as io::Result<()> })
        .unwrap();
    coordinator.group("workers").spawn("deaf", deaf).unwrap();
    coordinator.spawn("a/b", deaf).unwrap_err();
    sleep(Duration::from_millis(1)).await; // the first three run and end

    let metrics = coordinator.metrics();
    assert_eq!(metrics.spawned, 4, "{metrics:?}");
    assert_eq!(metrics.running, 1, "{metrics:?}");
    assert_eq!(metrics.finished, 3, "{metrics:?}");
    assert_eq!(metrics.failed, 2, "{metrics:?}");
    assert_eq!(metrics.aborted, 0, "{metrics:?}");
    assert_eq!(metrics.refused, 1, "{metrics:?}");
    assert!(!metrics.closed && !metrics.forced, "{metrics:?}");

    let handle = coordinator.handle();
    coordinator.close();
    handle.spawn("late", deaf).unwrap_err();
    let report = coordinator.run().await;

    assert!(!report.is_clean(), "{report}");
    let metrics = handle.metrics();
    assert_eq!(metrics.running, 0, "{metrics:?}");
    assert_eq!(metrics.finished, 4, "{metrics:?}");
    assert_eq!(
        metrics.aborted, 1,
        "the deaf task, after the grace period: {metrics:?}"
    );
    assert_eq!(metrics.refused, 2, "{metrics:?}");
    assert!(metrics.closed && !metrics.forced, "{metrics:?}");
}

#[tokio::test(start_paused = true)]
async fn a_forced_shutdown_shows_in_the_metrics() {
    let coordinator = Coordinator::builder().signals(false).build().unwrap();
    coordinator.spawn("deaf", deaf).unwrap();
    let handle = coordinator.handle();

    handle.abort();
    coordinator.run().await;

    let metrics = handle.metrics();
    assert!(metrics.closed && metrics.forced, "{metrics:?}");
    assert_eq!((metrics.finished, metrics.aborted), (1, 1), "{metrics:?}");
}
