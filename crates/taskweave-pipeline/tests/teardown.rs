//! Dropping the runtime under a busy pipeline — items in flight, buffered, a stage stuck, a
//! source blocked on backpressure — neither hangs nor panics, and the handles and outputs
//! created outside the runtime resolve.

use std::time::Duration;

use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

#[test]
fn dropping_the_runtime_mid_flight_resolves_everything() {
    let (mut pipeline, mut dead) = finishes_within(HANG_LIMIT, "building a busy pipeline", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (pipeline, dead) = runtime.block_on(async {
            let mut pipeline = Flow::from_iter(0..100_000u32)
                .map(
                    StageConfig::new("busy").concurrency(8).buffer(64),
                    |n| async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        Ok::<_, std::io::Error>(n)
                    },
                )
                .map(
                    StageConfig::new("stuck")
                        .concurrency(4)
                        .on_error(ErrorPolicy::DeadLetter),
                    |n| async move {
                        if n > 10 {
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, std::io::Error>(n)
                    },
                )
                .dead_letters(4)
                .build()
                .unwrap();
            let dead = pipeline.dead_letters().unwrap();
            while pipeline.metrics().stages[2].in_flight < 4 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (pipeline, dead)
        });
        drop(runtime);
        (pipeline, dead)
    });
    finishes_within(HANG_LIMIT, "reading after the runtime is gone", move || {
        let other = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        other.block_on(async {
            let mut delivered = 0;
            while pipeline.recv().await.is_some() {
                delivered += 1;
            }
            assert!(delivered <= 11);
            assert!(dead.recv().await.is_none());
            // The tasks are gone with their runtime: the handle sees the pipeline finished.
            pipeline.drain().await;
            assert!(pipeline.is_finished());
            let _ = pipeline.finished().await;
            let report = pipeline.shutdown(Duration::from_secs(1)).await;
            assert!(!report.aborted);
        });
    });
}
