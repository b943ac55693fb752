//! Real signals sent to this test process reach the coordinator: the first starts the
//! shutdown, the second aborts it. (Its own test binary: the signals go to the whole process.)
#![cfg(unix)]

use std::io;
use std::process::Command;
use std::time::Duration;

use taskweave_shutdown::{AbortReason, Cause, Coordinator, Outcome, Signal};

fn send(signal: &str) {
    let status = Command::new("kill")
        .args([signal, &std::process::id().to_string()])
        .status()
        .expect("`kill` is available");
    assert!(status.success());
}

#[tokio::test]
async fn sigterm_starts_the_shutdown_and_sigint_then_aborts_it() {
    let coordinator = Coordinator::builder()
        .phase("workers", Duration::from_secs(600))
        .build()
        .unwrap();
    let (cancelled_tx, cancelled_rx) = tokio::sync::oneshot::channel();
    coordinator
        .group("workers")
        .spawn("stubborn", |token| async move {
            token.cancelled().await;
            let _ = cancelled_tx.send(());
            // Ignores the shutdown from here on.
            std::future::pending::<Result<(), io::Error>>().await
        })
        .unwrap();
    let run = tokio::spawn(coordinator.run());
    // run() registers its signal handlers the first time it is polled.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }

    send("-TERM");
    tokio::time::timeout(Duration::from_secs(10), cancelled_rx)
        .await
        .expect("SIGTERM cancelled the workers' token")
        .unwrap();
    send("-INT");
    let report = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("SIGINT aborted the shutdown at once, not after 600 s")
        .unwrap();

    assert_eq!(*report.cause(), Cause::Signal(Signal::Terminate));
    assert!(report.was_forced());
    assert_eq!(
        *report.task("workers/stubborn").unwrap().outcome(),
        Outcome::Aborted(AbortReason::SecondSignal)
    );
}
