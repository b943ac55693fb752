//! Dropping the runtime under running retry loops: no hang, no panic, every loop's state is
//! dropped, and the handles held outside the runtime resolve with an error.

use std::sync::Arc;
use std::time::Duration;

use taskweave_backoff::{Backoff, Jitter, RetryBudget, retry};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio_util::sync::CancellationToken;

#[test]
fn dropping_the_runtime_mid_retry_drops_every_loop_and_cancels_their_handles() {
    let (handles, alive) =
        finishes_within(HANG_LIMIT, "runtime teardown under retry loops", || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            // Counts the loops' captured state still alive: one reference per loop plus ours.
            let alive = Arc::new(());
            let budget = RetryBudget::builder().capacity(1000).build().unwrap();
            let token = CancellationToken::new();
            let policy = Backoff::exponential(Duration::from_secs(60))
                .jitter(Jitter::Full)
                .max_attempts(10)
                .seed(1)
                .build()
                .unwrap();
            let (started_tx, mut started_rx) = tokio::sync::mpsc::channel::<()>(256);
            let mut handles = Vec::new();
            for i in 0..96 {
                let alive = Arc::clone(&alive);
                let started = started_tx.clone();
                let budget = budget.clone();
                let token = token.clone();
                handles.push(runtime.spawn(async move {
                    retry(policy, move || {
                        let alive = Arc::clone(&alive);
                        let started = started.clone();
                        async move {
                            let _ = started.try_send(());
                            let _alive = alive;
                            let result: Result<(), &str> = match i % 3 {
                                // Fails at once, then sleeps a long delay.
                                0 => Err("down"),
                                // Hangs mid-attempt.
                                1 => std::future::pending().await,
                                // Immediate failures spin through their attempts, then sleep.
                                _ => {
                                    tokio::task::yield_now().await;
                                    Err("busy")
                                }
                            };
                            result
                        }
                    })
                    .budget(budget)
                    .cancellation_token(token)
                    .await
                }));
            }
            runtime.block_on(async {
                for _ in 0..96 {
                    started_rx.recv().await.unwrap();
                }
            });
            drop(runtime);
            (handles, alive)
        });
    assert_eq!(
        Arc::strong_count(&alive),
        1,
        "a retry loop outlived its runtime"
    );
    let outside = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    finishes_within(HANG_LIMIT, "join handles of a dropped runtime", move || {
        outside.block_on(async {
            for handle in handles {
                let err = handle.await.unwrap_err();
                assert!(err.is_cancelled(), "{err}");
            }
        });
    });
}
