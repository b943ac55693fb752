//! Invalid configuration is a typed error, never a panic.

use std::time::Duration;

use taskweave_batch::{Batcher, ConfigError, Limits};

fn ok(_: Vec<u8>) -> std::future::Ready<Result<(), String>> {
    std::future::ready(Ok(()))
}

#[tokio::test]
async fn invalid_settings_are_rejected_with_a_typed_error() {
    let cases: Vec<(taskweave_batch::BatcherBuilder<u8>, ConfigError)> = vec![
        (Batcher::builder().max_items(0), ConfigError::ZeroMaxItems),
        (
            Batcher::builder().max_weight(0, |_: &u8| 1),
            ConfigError::ZeroMaxWeight,
        ),
        (
            Batcher::builder().max_concurrent_flushes(0),
            ConfigError::ZeroConcurrentFlushes,
        ),
        (
            Batcher::builder().max_items(10).max_buffered_items(9),
            ConfigError::BufferSmallerThanBatch {
                max_buffered_items: 9,
                max_items: 10,
            },
        ),
        (
            Batcher::builder()
                .max_weight(100, |_: &u8| 1)
                .max_buffered_weight(99),
            ConfigError::WeightBufferSmallerThanBatch {
                max_buffered_weight: 99,
                max_weight: 100,
            },
        ),
        (
            Batcher::builder().max_buffered_weight(99),
            ConfigError::BufferedWeightWithoutWeigher,
        ),
    ];
    for (builder, expected) in cases {
        let error = builder.build(ok).unwrap_err();
        assert_eq!(error, expected);
        assert!(!error.to_string().is_empty());
    }
    let limits = Limits::<u8>::builder().max_items(0).build();
    assert_eq!(limits.unwrap_err(), ConfigError::ZeroMaxItems);
}

#[test]
fn building_outside_a_runtime_is_an_error() {
    let error = Batcher::builder().build(ok).unwrap_err();
    assert_eq!(error, ConfigError::NoRuntime);
    assert!(error.to_string().contains("runtime"));
}

#[tokio::test]
async fn defaults_are_documented_values() {
    let limits = Limits::<u8>::builder().build().unwrap();
    assert_eq!(limits.max_items(), taskweave_batch::DEFAULT_MAX_ITEMS);
    assert_eq!(limits.max_delay(), Duration::from_millis(10));
    assert_eq!(limits.max_weight(), None);
    let batcher = Batcher::builder().build(ok).unwrap();
    assert_eq!(batcher.metrics(), taskweave_batch::Metrics::default());
}

#[tokio::test(start_paused = true)]
async fn shared_limits_configure_the_batcher() {
    let limits = Limits::builder()
        .max_items(2)
        .max_delay(Duration::from_secs(60))
        .max_weight(100, |_: &u8| 1)
        .build()
        .unwrap();
    let batcher = Batcher::builder().limits(limits.clone()).build(ok).unwrap();
    batcher.push(1).await.unwrap();
    batcher.push(2).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(batcher.metrics().triggers.size, 1);
    // The weight limit came along: its default buffer bound is 4 x max_weight.
    let too_small = Batcher::builder()
        .limits(limits)
        .max_items(1)
        .max_buffered_weight(50)
        .build(ok);
    assert_eq!(
        too_small.unwrap_err(),
        ConfigError::WeightBufferSmallerThanBatch {
            max_buffered_weight: 50,
            max_weight: 100
        }
    );
}

#[tokio::test]
async fn absurd_sizes_are_rejected_with_a_typed_error_above_their_documented_bound() {
    use taskweave_batch::{
        MAX_BUFFERED_ITEMS_LIMIT, MAX_CONCURRENT_FLUSHES_LIMIT, MAX_ITEMS_LIMIT,
    };
    let cases: Vec<(taskweave_batch::BatcherBuilder<u8>, ConfigError)> = vec![
        (
            Batcher::builder().max_items(usize::MAX),
            ConfigError::MaxItemsTooLarge {
                max_items: usize::MAX,
                limit: MAX_ITEMS_LIMIT,
            },
        ),
        (
            Batcher::builder().max_items(MAX_ITEMS_LIMIT + 1),
            ConfigError::MaxItemsTooLarge {
                max_items: MAX_ITEMS_LIMIT + 1,
                limit: MAX_ITEMS_LIMIT,
            },
        ),
        (
            Batcher::builder().max_buffered_items(usize::MAX),
            ConfigError::BufferTooLarge {
                max_buffered_items: usize::MAX,
                limit: MAX_BUFFERED_ITEMS_LIMIT,
            },
        ),
        (
            Batcher::builder().max_concurrent_flushes(usize::MAX),
            ConfigError::TooManyConcurrentFlushes {
                max_concurrent_flushes: usize::MAX,
                limit: MAX_CONCURRENT_FLUSHES_LIMIT,
            },
        ),
    ];
    for (builder, expected) in cases {
        let error = builder.build(ok).unwrap_err();
        assert_eq!(error, expected);
        assert!(error.to_string().contains("limit"), "{error}");
    }
    assert_eq!(
        Limits::<u8>::builder()
            .max_items(usize::MAX)
            .build()
            .unwrap_err(),
        ConfigError::MaxItemsTooLarge {
            max_items: usize::MAX,
            limit: MAX_ITEMS_LIMIT
        }
    );
    // At the bounds, with the largest weights and delays: builds, allocates nothing in
    // proportion, and works.
    let batcher = Batcher::builder()
        .max_items(MAX_ITEMS_LIMIT)
        .max_buffered_items(MAX_BUFFERED_ITEMS_LIMIT)
        .max_concurrent_flushes(MAX_CONCURRENT_FLUSHES_LIMIT)
        .max_weight(u64::MAX, |_: &u8| u64::MAX)
        .max_buffered_weight(u64::MAX)
        .max_delay(Duration::MAX)
        .build(ok)
        .unwrap();
    let ticket = batcher.submit(1).await.unwrap();
    drop(batcher.submit(2).await.unwrap());
    batcher.drain().await;
    assert!(ticket.await.is_ok());
    assert_eq!(batcher.metrics().items_flushed, 2);
}
