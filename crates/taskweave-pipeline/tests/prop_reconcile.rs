//! Items in = items out + filtered + skipped + dead-lettered + failed + dropped, under random
//! errors, timeouts, panics, policies and a close or abort at a random point.

use std::time::Duration;

use proptest::prelude::*;
use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};

#[derive(Debug, Clone, Copy)]
enum Fate {
    Pass(u64),
    Filter,
    Fail,
    Hang,
    Panic,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => (0u64..10).prop_map(Fate::Pass),
        1 => Just(Fate::Filter),
        1 => Just(Fate::Fail),
        1 => Just(Fate::Hang),
        1 => Just(Fate::Panic),
    ]
}

fn policy() -> impl Strategy<Value = ErrorPolicy> {
    prop_oneof![
        Just(ErrorPolicy::Skip),
        Just(ErrorPolicy::DeadLetter),
        Just(ErrorPolicy::Stop)
    ]
}

#[derive(Debug, Clone, Copy)]
enum StopAt {
    Never,
    Close(u64),
    Abort(u64),
    Shutdown(u64, u64),
}

fn stop_at() -> impl Strategy<Value = StopAt> {
    prop_oneof![
        Just(StopAt::Never),
        (0u64..200).prop_map(StopAt::Close),
        (0u64..200).prop_map(StopAt::Abort),
        (0u64..200, 0u64..50).prop_map(|(a, b)| StopAt::Shutdown(a, b)),
    ]
}

async fn act(fate: Fate) -> Result<Option<(Fate, u32)>, std::io::Error> {
    match fate {
        Fate::Pass(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(Some((fate, 0)))
        }
        Fate::Filter => Ok(None),
        Fate::Fail => Err(std::io::Error::other("failed")),
        Fate::Hang => std::future::pending().await,
        Fate::Panic => panic!("a stage panicked"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn counts_reconcile(
        items in proptest::collection::vec((fate(), fate()), 0..150),
        policies in (policy(), policy()),
        unordered in any::<bool>(),
        concurrency in 1usize..6,
        stop in stop_at(),
        read_dead_letters in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let n = items.len() as u64;
        let metrics = runtime.block_on(async move {
            let first = StageConfig::new("first")
                .concurrency(concurrency)
                .timeout(Duration::from_millis(50))
                .on_error(policies.0);
            let first = if unordered { first.unordered() } else { first };
            let second = StageConfig::new("second")
                .concurrency(concurrency)
                .buffer(4)
                .timeout(Duration::from_millis(50))
                .on_error(policies.1);
            let mut pipeline = Flow::from_iter(items)
                .filter_map(first, |(a, b): (Fate, Fate)| async move {
                    Ok::<_, std::io::Error>(act(a).await?.map(|_| b))
                })
                .filter_map(second, |b: Fate| async move { act(b).await })
                .dead_letters(2)
                .output_buffer(2)
                .build()
                .unwrap();
            let dead = pipeline.dead_letters().unwrap();
            let dead_reader = tokio::spawn(async move {
                let mut dead = dead;
                if read_dead_letters {
                    while dead.recv().await.is_some() {}
                }
            });
            let handle = pipeline.handle();
            let reader = tokio::spawn(pipeline.run(drop));
            match stop {
                StopAt::Never => {}
                StopAt::Close(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    handle.close();
                }
                StopAt::Abort(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    handle.abort();
                }
                StopAt::Shutdown(ms, grace) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    let report = handle.shutdown(Duration::from_millis(grace)).await;
                    assert!(report.metrics.dropped() == 0 || !report.is_clean());
                }
            }
            let _ = reader.await.unwrap();
            dead_reader.await.unwrap();
            handle.metrics()
        });
        prop_assert!(metrics.reconciles(), "{:#?}", metrics);
        prop_assert!(metrics.items_in() <= n);
        if matches!(stop, StopAt::Never) {
            // Nothing stopped it early unless a stage under Stop failed: every item entered.
            let stopped = metrics.stages.iter().any(|s| s.failed > 0);
            prop_assert!(stopped || metrics.items_in() == n);
        }
        for s in &metrics.stages {
            prop_assert_eq!(
                s.items_in,
                s.completed + s.filtered + s.skipped + s.dead_lettered + s.failed + s.dropped,
                "{:?}", s
            );
        }
    }
}
