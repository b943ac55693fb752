//! `BatcherConfig` and `LimitsConfig` load from TOML (durations as "5ms"), build a working
//! batcher, and a bad value is refused by the builder with its typed error.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::{Log, settle};
use taskweave_batch::{Batcher, BatcherConfig, ConfigError, Limits, LimitsConfig};

const FULL: &str = r#"
max_items = 3
max_delay = "250ms"
max_weight = 100
max_buffered_items = 12
max_buffered_weight = 400
max_concurrent_flushes = 2
"#;

#[tokio::test(start_paused = true)]
async fn a_full_config_from_toml_builds_a_batcher_with_those_values() {
    let config: BatcherConfig = toml::from_str(FULL).unwrap();
    assert_eq!(config.max_items, 3);
    assert_eq!(config.max_delay, Duration::from_millis(250));
    assert_eq!(config.max_weight, Some(100));
    assert_eq!(config.max_buffered_items, Some(12));
    assert_eq!(config.max_buffered_weight, Some(400));
    assert_eq!(config.max_concurrent_flushes, 2);

    let log = Log::new();
    let batcher = Batcher::builder()
        .config(config.clone())
        .weigher(|w: &u64| *w)
        .build(log.handler())
        .unwrap();
    // Size: three items close a batch.
    for v in [1, 1, 1] {
        batcher.push(v).await.unwrap();
    }
    settle().await;
    assert_eq!(batcher.metrics().triggers.size, 1);
    // Weight: 60 + 50 would pass 100.
    batcher.push(60).await.unwrap();
    batcher.push(50).await.unwrap();
    settle().await;
    assert_eq!(batcher.metrics().triggers.weight, 1);
    // Delay: the batch holding 50 closes 250 ms after it started.
    tokio::time::sleep(Duration::from_millis(249)).await;
    assert_eq!(batcher.metrics().triggers.delay, 0);
    tokio::time::sleep(Duration::from_millis(2)).await;
    settle().await;
    assert_eq!(batcher.metrics().triggers.delay, 1);
    // Buffer bound: 12 items.
    let gated = Batcher::builder()
        .config(config)
        .weigher(|_: &u64| 1)
        .build(|_: Vec<u64>| std::future::pending::<Result<(), String>>())
        .unwrap();
    for v in 0..12 {
        gated.try_push(v).unwrap();
    }
    assert!(matches!(
        gated.try_push(12),
        Err(taskweave_batch::TrySubmitError::Full(12))
    ));
    batcher.drain().await;
    assert_eq!(log.batches(), vec![vec![1, 1, 1], vec![60], vec![50]]);
    drop(gated.abort());
}

#[test]
fn a_config_round_trips_through_toml_and_missing_fields_take_the_defaults() {
    let config: BatcherConfig = toml::from_str(FULL).unwrap();
    let text = toml::to_string(&config).unwrap();
    assert!(text.contains("max_delay = \"250ms\""), "{text}");
    assert_eq!(toml::from_str::<BatcherConfig>(&text).unwrap(), config);

    let empty: BatcherConfig = toml::from_str("").unwrap();
    assert_eq!(empty, BatcherConfig::default());
    let limits: LimitsConfig = toml::from_str("max_items = 7\nmax_delay = \"2m\"").unwrap();
    assert_eq!(
        (limits.max_items, limits.max_delay, limits.max_weight),
        (7, Duration::from_secs(120), None)
    );
    let built = Limits::<u8>::builder()
        .config(limits.clone())
        .build()
        .unwrap();
    assert_eq!(built.to_config(), limits);
}

#[test]
fn bad_values_are_refused_with_the_builders_typed_error() {
    // A file loads if its shape is right; its values are the builder's to judge, with the same
    // typed error as in code.
    for (text, expected) in [
        ("max_items = 0", ConfigError::ZeroMaxItems),
        (
            "max_concurrent_flushes = 0",
            ConfigError::ZeroConcurrentFlushes,
        ),
        (
            "max_items = 10\nmax_buffered_items = 9",
            ConfigError::BufferSmallerThanBatch {
                max_buffered_items: 9,
                max_items: 10,
            },
        ),
        (
            "max_buffered_weight = 5",
            ConfigError::BufferedWeightWithoutWeigher,
        ),
    ] {
        let config = toml::from_str::<BatcherConfig>(text).unwrap();
        assert_eq!(config.validate(), Err(expected.clone()), "{text}");
        let built = Batcher::<u32>::builder()
            .config(config)
            .build(|_batch: Vec<u32>| async { Ok::<_, Infallible>(()) });
        assert_eq!(built.err(), Some(expected), "{text}");
    }
    let limits = toml::from_str::<LimitsConfig>("max_weight = 0").unwrap();
    assert_eq!(limits.validate(), Err(ConfigError::ZeroMaxWeight));

    // Unknown fields and bad durations are refused too.
    let error = toml::from_str::<BatcherConfig>("max_itmes = 5").unwrap_err();
    assert!(error.to_string().contains("max_itmes"), "{error}");
    let error = toml::from_str::<LimitsConfig>("flush_every = \"1s\"").unwrap_err();
    assert!(error.to_string().contains("flush_every"), "{error}");
    let error = toml::from_str::<BatcherConfig>("max_delay = \"soon\"").unwrap_err();
    assert!(error.to_string().contains("max_delay"), "{error}");
    assert!(toml::from_str::<BatcherConfig>("max_delay = 5").is_err());
}

#[tokio::test]
async fn a_config_made_in_code_is_checked_by_build_with_a_typed_error() {
    let mut config = BatcherConfig::default();
    config.max_items = 0;
    assert_eq!(config.validate(), Err(ConfigError::ZeroMaxItems));
    let error = Batcher::builder()
        .config(config)
        .build(|_: Vec<u8>| async { Ok::<_, String>(()) })
        .unwrap_err();
    assert_eq!(error, ConfigError::ZeroMaxItems);

    // A weight limit from a file needs a weight function, and a weight function a limit.
    let config: BatcherConfig = toml::from_str("max_weight = 10").unwrap();
    let error = Batcher::builder()
        .config(config)
        .build(|_: Vec<u8>| async { Ok::<_, String>(()) })
        .unwrap_err();
    assert_eq!(error, ConfigError::MaxWeightWithoutWeigher);
    let error = Batcher::builder()
        .weigher(|_: &u8| 1)
        .build(|_: Vec<u8>| async { Ok::<_, String>(()) })
        .unwrap_err();
    assert_eq!(error, ConfigError::WeigherWithoutMaxWeight);
}
