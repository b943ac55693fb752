//! Ordered stages keep input order whatever each item's delay, at any concurrency.

use std::convert::Infallible;
use std::time::Duration;

use proptest::prelude::*;
use taskweave_pipeline::{Flow, StageConfig};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn ordered_stages_keep_order_under_random_delays(
        delays in proptest::collection::vec((0u64..20, 0u64..20), 1..200),
        concurrency in (1usize..8, 1usize..8),
        buffers in (1usize..16, 1usize..16),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let n = delays.len();
        let out = runtime.block_on(async move {
            let pipeline = Flow::from_iter(delays.into_iter().enumerate())
                .map(
                    StageConfig::new("first").concurrency(concurrency.0).buffer(buffers.0),
                    |(i, (a, b))| async move {
                        tokio::time::sleep(Duration::from_millis(a)).await;
                        Ok::<_, Infallible>((i, b))
                    },
                )
                .map(
                    StageConfig::new("second").concurrency(concurrency.1).buffer(buffers.1),
                    |(i, b)| async move {
                        tokio::time::sleep(Duration::from_millis(b)).await;
                        Ok::<_, Infallible>(i)
                    },
                )
                .build()
                .unwrap();
            let mut out = Vec::new();
            pipeline.run(|i| out.push(i)).await.unwrap();
            out
        });
        prop_assert_eq!(out, (0..n).collect::<Vec<_>>());
    }
}
