//! `PoolConfig` from a configuration file: the values take effect, and bad values are refused
//! with a typed error.

use std::time::Duration;

use taskweave_pool::{ConfigError, JobError, MAX_CAPACITY, PoolBuilder, PoolConfig};

const FULL: &str = r#"
max_concurrency = 3
queue_capacity = 5
key_queue_capacity = 2
job_timeout = "250ms"
fixed_workers = 2
"#;

#[tokio::test(start_paused = true)]
async fn a_full_config_from_toml_takes_effect() {
    let config: PoolConfig = toml::from_str(FULL).unwrap();
    assert_eq!(config.max_concurrency, 3);
    assert_eq!(config.queue_capacity, 5);
    assert_eq!(config.key_queue_capacity, 2);
    assert_eq!(config.job_timeout, Some(Duration::from_millis(250)));
    assert_eq!(config.fixed_workers, Some(2));
    config.validate().unwrap();

    let pool = config.clone().build().unwrap();
    assert_eq!(pool.max_concurrency(), 3);
    assert_eq!(pool.queue_capacity(), 5);
    assert_eq!(pool.key_queue_capacity(), 2);
    // The timeout took effect.
    let slow = pool
        .submit(tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(
        slow.await.unwrap_err(),
        JobError::TimedOut {
            after: Duration::from_millis(250)
        }
    );

    let fixed = PoolBuilder::from_config(config)
        .build_fixed(|ms: u64| tokio::time::sleep(Duration::from_millis(ms)))
        .unwrap();
    assert_eq!(
        (
            fixed.workers(),
            fixed.max_concurrency(),
            fixed.queue_capacity()
        ),
        (2, 3, 5)
    );
    let slow = fixed.submit(1_000).await.unwrap();
    assert!(slow.await.unwrap_err().is_timeout());
}

#[tokio::test]
async fn omitted_fields_take_the_builder_defaults() {
    let config: PoolConfig = toml::from_str("queue_capacity = 7").unwrap();
    let defaults = PoolConfig::default();
    assert_eq!(config.queue_capacity, 7);
    assert_eq!(config.max_concurrency, defaults.max_concurrency);
    assert_eq!(config.key_queue_capacity, defaults.key_queue_capacity);
    assert_eq!((config.job_timeout, config.fixed_workers), (None, None));
    let pool = config.build().unwrap();
    assert_eq!(
        pool.max_concurrency(),
        PoolBuilder::new().build().unwrap().max_concurrency()
    );
}

#[test]
fn a_config_survives_a_round_trip() {
    let config: PoolConfig = toml::from_str(FULL).unwrap();
    let text = toml::to_string(&config).unwrap();
    assert!(text.contains("job_timeout = \"250ms\""), "{text}");
    assert_eq!(toml::from_str::<PoolConfig>(&text).unwrap(), config);
    // Unset options are left out rather than written as something else.
    let text = toml::to_string(&PoolConfig::default()).unwrap();
    assert!(!text.contains("job_timeout") && !text.contains("fixed_workers"));
}

#[tokio::test]
async fn bad_values_are_refused_with_the_builders_typed_error() {
    let bad = |text: &str| toml::from_str::<PoolConfig>(text).unwrap();
    assert_eq!(
        bad("queue_capacity = 0").build().unwrap_err(),
        ConfigError::ZeroQueueCapacity
    );
    assert_eq!(
        bad("max_concurrency = 0").validate(),
        Err(ConfigError::ZeroConcurrency)
    );
    assert_eq!(
        bad("key_queue_capacity = 0").validate(),
        Err(ConfigError::ZeroKeyQueueCapacity)
    );
    assert_eq!(
        bad("job_timeout = \"0s\"").validate(),
        Err(ConfigError::ZeroTimeout)
    );
    assert_eq!(
        bad("max_concurrency = 2\nfixed_workers = 3")
            .build_fixed(|x: u8| async move { x })
            .unwrap_err(),
        ConfigError::WorkersExceedConcurrency {
            workers: 3,
            max_concurrency: 2
        }
    );
    let too_big = format!("queue_capacity = {}", MAX_CAPACITY + 1);
    assert_eq!(
        bad(&too_big).validate(),
        Err(ConfigError::QueueTooLarge {
            requested: MAX_CAPACITY + 1,
            max: MAX_CAPACITY
        })
    );
}

#[test]
fn unknown_fields_bad_durations_and_wrong_types_do_not_deserialise() {
    let unknown = toml::from_str::<PoolConfig>("max_concurency = 4").unwrap_err();
    assert!(unknown.to_string().contains("max_concurency"), "{unknown}");
    let duration = toml::from_str::<PoolConfig>("job_timeout = \"ten seconds\"").unwrap_err();
    assert!(duration.to_string().contains("job_timeout"), "{duration}");
    assert!(toml::from_str::<PoolConfig>("job_timeout = 10").is_err());
    assert!(toml::from_str::<PoolConfig>("queue_capacity = -1").is_err());
}
