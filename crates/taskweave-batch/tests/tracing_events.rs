//! Every flush is reported as a `tracing` event naming its trigger.

mod common;

use std::time::Duration;

use common::{Log, settle};
use taskweave_batch::Batcher;
use taskweave_testkit::LogCapture;

#[tokio::test(start_paused = true)]
async fn each_trigger_is_named_in_a_flush_event() {
    let captured = LogCapture::default();
    let _guard = captured.install(tracing::Level::DEBUG);

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
    batcher.drain().await; // close
    settle().await;

    let output = captured.text();
    let triggers: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("flushing batch"))
        .filter_map(|line| line.split("trigger=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        triggers,
        ["size", "weight", "explicit", "delay", "close"],
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
            counts.close
        ),
        (1, 1, 1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn close_and_abort_are_logged_with_what_they_cut_short() {
    let captured = LogCapture::default();
    let _guard = captured.install(tracing::Level::DEBUG);

    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(Duration::from_secs(3600))
        .build(|_: Vec<u8>| std::future::pending::<Result<(), String>>())
        .unwrap();
    for v in 0..3 {
        batcher.push(v).await.unwrap();
    }
    settle().await;
    batcher.close();
    settle().await;
    assert_eq!(batcher.abort(), vec![2]);
    batcher.drain().await;

    let output = captured.text();
    let closed = output
        .lines()
        .find(|line| line.contains("batcher closed"))
        .unwrap_or_else(|| panic!("{output}"));
    assert!(closed.contains("buffered_items=3"), "{closed}");
    let aborted = output
        .lines()
        .find(|line| line.contains("batcher aborted"))
        .unwrap_or_else(|| panic!("{output}"));
    assert!(aborted.contains("WARN"), "{aborted}");
    assert!(aborted.contains("reason=\"abort() called\""), "{aborted}");
    assert!(aborted.contains("flushing=1"), "{aborted}");
    assert!(aborted.contains("unflushed=1"), "{aborted}");
    assert!(output.contains("flush cancelled"), "{output}");
}
