//! Every flush is reported as a `tracing` event naming its trigger.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Log, settle};
use taskweave_batch::Batcher;

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
async fn each_trigger_is_named_in_a_flush_event() {
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

    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(Duration::from_millis(10))
        .max_weight(10, |w: &u64| *w)
        .build(log.handler())
        .unwrap();
    batcher.push(1).await.unwrap();
    batcher.push(1).await.unwrap(); // size
    batcher.push(9).await.unwrap();
    batcher.push(5).await.unwrap(); // weight (9 + 5 > 10)
    batcher.flush(); // explicit
    batcher.push(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await; // delay
    batcher.push(1).await.unwrap();
    batcher.shutdown().await; // shutdown
    settle().await;

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let triggers: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("flushing batch"))
        .filter_map(|line| line.split("trigger=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        triggers,
        ["size", "weight", "explicit", "delay", "shutdown"],
        "{output}"
    );
    assert!(output.contains("batcher drained"), "{output}");
    let counts = batcher.metrics().triggers;
    assert_eq!(
        (
            counts.size,
            counts.weight,
            counts.explicit,
            counts.delay,
            counts.shutdown
        ),
        (1, 1, 1, 1, 1)
    );
}
