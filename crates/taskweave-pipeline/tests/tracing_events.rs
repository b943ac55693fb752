//! State changes and drops are `tracing` events, inside a span naming the stage.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_pipeline::{ErrorPolicy, Flow, StageConfig};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn skips_aborts_and_drops_are_logged_in_the_stages_span() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
