//! Realistic sizes on a multi-thread runtime: everything arrives, nothing hangs, and every
//! future that can wait still finishes when polled with a new waker each time.

use std::convert::Infallible;
use std::time::Duration;

use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};

#[test]
fn a_hundred_thousand_items_through_three_stages_on_two_threads() {
    finishes_within(HANG_LIMIT, "100k items", || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let pipeline = Flow::from_iter(0..100_000u64)
                .map(
                    StageConfig::new("a").concurrency(4).buffer(256),
                    |n| async move {
                        tokio::task::yield_now().await;
                        Ok::<_, Infallible>(n + 1)
                    },
                )
                .filter_map(
                    StageConfig::new("b")
                        .concurrency(4)
                        .unordered()
                        .on_error(ErrorPolicy::Skip),
                    |n| async move {
                        if n % 1_000 == 0 {
                            return Err(std::io::Error::other("every thousandth"));
                        }
                        Ok(Some(n))
                    },
                )
                .map(StageConfig::new("c").concurrency(16), |n| async move {
                    Ok::<_, Infallible>(n * 2)
                })
                .build()
                .unwrap();
            let handle = pipeline.handle();
            let mut sum = 0u64;
            let mut count = 0u64;
            pipeline
                .run(|n| {
                    sum += n;
                    count += 1;
                })
                .await
                .unwrap();
            assert_eq!(count, 100_000 - 100);
            let expected: u64 = (1..=100_000u64)
                .filter(|n| n % 1_000 != 0)
                .map(|n| n * 2)
                .sum();
            assert_eq!(sum, expected);
            let m = handle.metrics();
            assert!(m.reconciles());
            assert_eq!(m.stages[2].skipped, 100);
        });
    });
}

#[tokio::test(start_paused = true)]
async fn waiting_futures_finish_under_waker_churn() {
    let mut pipeline = Flow::from_iter(0..200u32)
        .map(
            StageConfig::new("a")
                .concurrency(3)
                .on_error(ErrorPolicy::DeadLetter),
            |n| async move {
                tokio::time::sleep(Duration::from_millis(u64::from(n % 5))).await;
                if n % 10 == 0 {
                    return Err(std::io::Error::other("tenth"));
                }
                Ok(n)
            },
        )
        .dead_letters(2)
        .output_buffer(2)
        .build()
        .unwrap();
    let mut dead = pipeline.dead_letters().unwrap();
    let handle = pipeline.handle();
    let dead_reader = tokio::spawn(async move {
        let mut n = 0;
        while let (Some(_), _) = FreshWakers::new(dead.recv()).await {
            n += 1;
        }
        n
    });
    let mut out = 0;
    let mut polls = 0;
    loop {
        let (item, p) = FreshWakers::new(pipeline.recv()).await;
        polls += p;
        if item.is_none() {
            break;
        }
        out += 1;
    }
    assert_eq!(out, 180);
    assert_eq!(dead_reader.await.unwrap(), 20);
    // No spin: a few polls per item, not thousands.
    assert!(polls < 10 * 200, "{polls} polls");
    let ((), polls) = FreshWakers::new(handle.drain()).await;
    assert!(polls <= 2, "{polls}");
    let (result, _) = FreshWakers::new(handle.finished()).await;
    result.unwrap();

    // shutdown with a grace that runs out, under churn.
    let stuck = Flow::from_iter(0..10u32)
        .map("stuck", |_n| {
            std::future::pending::<Result<u32, Infallible>>()
        })
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await; // the items enter
    let (report, polls) = FreshWakers::new(stuck.shutdown(Duration::from_millis(5))).await;
    assert!(report.aborted && report.metrics.reconciles(), "{report:#?}");
    assert_eq!(report.metrics.dropped(), 10);
    assert!(polls < 20, "{polls}");
}
