//! `build()` refuses what cannot work, with a typed error, and never panics.

use std::time::Duration;

use taskweave_pipeline::{
    ConfigError, ErrorPolicy, Flow, MAX_BUFFER, MAX_CONCURRENCY, StageConfig,
};

fn flow(stage: StageConfig) -> Flow<u32> {
    Flow::from_iter(0..1u32).map(stage, |n| async move { Ok::<_, std::io::Error>(n) })
}

#[tokio::test]
async fn out_of_range_values_are_refused() {
    let cases = [
        StageConfig::new("s").concurrency(0),
        StageConfig::new("s").concurrency(MAX_CONCURRENCY + 1),
        StageConfig::new("s").buffer(0),
        StageConfig::new("s").buffer(MAX_BUFFER + 1),
        StageConfig::new("s").buffer(usize::MAX),
        StageConfig::new("s").timeout(Duration::ZERO),
        StageConfig::new("s").on_error(ErrorPolicy::DeadLetter),
    ];
    for stage in cases {
        let err = flow(stage.clone()).build().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Concurrency { .. }
                    | ConfigError::Buffer { .. }
                    | ConfigError::ZeroTimeout { .. }
                    | ConfigError::NoDeadLetterOutput { .. }
            ),
            "{stage:?}: {err}"
        );
        assert!(err.to_string().contains("`s`"), "{err}");
    }
    assert!(matches!(
        flow("s".into()).output_buffer(0).build(),
        Err(ConfigError::Buffer { .. })
    ));
    assert!(matches!(
        flow("s".into()).dead_letters(MAX_BUFFER + 1).build(),
        Err(ConfigError::Buffer { .. })
    ));
    assert!(matches!(
        flow("s".into()).source_buffer(0).build(),
        Err(ConfigError::Buffer { .. })
    ));
    // The bounds themselves are fine.
    let ok = StageConfig::new("s").concurrency(MAX_CONCURRENCY).buffer(1);
    flow(ok).build().unwrap().run(drop).await.unwrap();
}

#[test]
fn building_outside_a_runtime_is_an_error() {
    assert_eq!(
        flow("s".into()).build().unwrap_err(),
        ConfigError::NoRuntime
    );
}

#[tokio::test]
async fn too_many_stages_are_refused() {
    let mut f = Flow::from_iter(0..1u32);
    for _ in 0..=taskweave_pipeline::MAX_STAGES {
        f = f.map("s", |n| async move { Ok::<_, std::io::Error>(n) });
    }
    assert_eq!(f.build().unwrap_err(), ConfigError::TooManyStages);
}
