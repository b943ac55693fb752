//! State changes and drops are `tracing` events, inside a span naming the stage.

use std::time::Duration;

use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};
use taskweave_testkit::LogCapture;

#[tokio::test(start_paused = true)]
async fn skips_aborts_and_drops_are_logged_in_the_stages_span() {
    let captured = LogCapture::default();
    let _guard = captured.install(tracing::Level::DEBUG);

    let mut pipeline = Flow::from_iter(0..100u32)
        .map(
            StageConfig::new("parse").on_error(ErrorPolicy::Skip),
            |n| async move {
                if n == 1 {
                    return Err(std::io::Error::other("bad input"));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(n)
            },
        )
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    pipeline.abort();
    while pipeline.recv().await.is_some() {}

    let text = captured.text();
    for expected in [
        "pipeline started",
        "pipeline_stage{stage=parse}",
        "item skipped",
        "bad input",
        "pipeline aborted",
        "stage aborted: items dropped",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
}
