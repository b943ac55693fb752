//! A batch closes at max items, at max delay from its first item, at max weight, on flush().

mod common;

use std::time::Duration;

use common::{Log, settle};
use taskweave_batch::{Batcher, FlushTrigger};
use tokio::time::{Instant, advance};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn flushes_at_max_items_without_waiting_for_the_delay() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(3)
        .max_delay(HOUR)
        .build(log.handler())
        .unwrap();
    let start = Instant::now();
    for i in 0..7u32 {
        batcher.push(i).await.unwrap();
    }
    settle().await;
    assert_eq!(log.batches(), vec![vec![0, 1, 2], vec![3, 4, 5]]);
    assert!(log.timed().iter().all(|(at, _)| *at == start));
    let metrics = batcher.metrics();
    assert_eq!(metrics.triggers.size, 2);
    assert_eq!(metrics.buffered_items, 1);
    assert_eq!(metrics.items_flushed, 6);
}

#[tokio::test(start_paused = true)]
async fn flushes_at_max_delay_measured_from_the_first_item() {
    let log = Log::new();
    let delay = Duration::from_millis(10);
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(delay)
        .build(log.handler())
        .unwrap();
    // Idle time before the first item must not count: there is no free-running tick.
    advance(Duration::from_millis(7)).await;
    let first = Instant::now();
    batcher.push(1u32).await.unwrap();
    advance(Duration::from_millis(6)).await;
    batcher.push(2).await.unwrap();
    advance(Duration::from_millis(3)).await;
    settle().await;
    assert!(log.batches().is_empty(), "flushed before the delay ran out");
    advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(log.timed(), vec![(first + delay, vec![1, 2])]);

    // The next batch's clock starts at its own first item.
    advance(Duration::from_millis(4)).await;
    let second = Instant::now();
    batcher.push(3).await.unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(log.timed()[1], (second + delay, vec![3]));
    assert_eq!(batcher.metrics().triggers.delay, 2);
}

#[tokio::test(start_paused = true)]
async fn flushes_at_max_weight() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(HOUR)
        .max_weight(10, |s: &String| s.len() as u64)
        .build(log.handler())
        .unwrap();
    for s in ["aaaa", "bbbb", "cccc", "dddddd"] {
        batcher.push(s.to_owned()).await.unwrap();
    }
    settle().await;
    // "cccc" would have made 12 > 10: it starts the next batch, which "dddddd" fills to 10.
    assert_eq!(
        log.batches(),
        vec![vec!["aaaa", "bbbb"], vec!["cccc", "dddddd"]]
    );
    let metrics = batcher.metrics();
    assert_eq!(metrics.triggers.weight, 2);
    assert_eq!(metrics.buffered_weight, 0);
}

#[tokio::test(start_paused = true)]
async fn an_item_heavier_than_max_weight_is_flushed_alone() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(HOUR)
        .max_weight(10, |w: &u64| *w)
        .build(log.handler())
        .unwrap();
    for w in [3, 25, 2, 4] {
        batcher.push(w).await.unwrap();
    }
    settle().await;
    assert_eq!(log.batches(), vec![vec![3], vec![25]]);
    batcher.flush();
    settle().await;
    assert_eq!(log.batches(), vec![vec![3], vec![25], vec![2, 4]]);
    let triggers = batcher.metrics().triggers;
    assert_eq!((triggers.weight, triggers.explicit), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn explicit_flush_closes_the_open_batch_only_if_it_has_items() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(HOUR)
        .build(log.handler())
        .unwrap();
    batcher.flush();
    batcher.push(1u8).await.unwrap();
    batcher.push(2).await.unwrap();
    batcher.flush();
    batcher.flush();
    settle().await;
    assert_eq!(log.batches(), vec![vec![1, 2]]);
    assert_eq!(batcher.metrics().triggers.get(FlushTrigger::Explicit), 1);
    assert_eq!(batcher.metrics().triggers.total(), 1);
}

#[tokio::test(start_paused = true)]
async fn zero_delay_flushes_as_soon_as_the_flusher_runs() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(100)
        .max_delay(Duration::ZERO)
        .build(log.handler())
        .unwrap();
    let start = Instant::now();
    batcher.push(1u8).await.unwrap();
    batcher.push(2).await.unwrap();
    settle().await;
    assert_eq!(log.timed(), vec![(start, vec![1, 2])]);
}

#[tokio::test(start_paused = true)]
async fn an_unrepresentable_delay_means_never_by_age() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(Duration::MAX)
        .build(log.handler())
        .unwrap();
    for i in 0..3u8 {
        batcher.push(i).await.unwrap();
    }
    tokio::time::sleep(HOUR * 24 * 365).await;
    assert_eq!(log.batches(), vec![vec![0, 1]]);
    batcher.drain().await;
    assert_eq!(log.batches(), vec![vec![0, 1], vec![2]]);

    let limits = taskweave_batch::Limits::builder()
        .max_items(2)
        .max_delay(Duration::MAX)
        .build()
        .unwrap();
    let batches: Vec<Vec<u8>> = futures_util::StreamExt::collect(
        taskweave_batch::BatchedExt::batched(futures_util::stream::iter(0..3u8), limits),
    )
    .await;
    assert_eq!(batches, vec![vec![0, 1], vec![2]]);
}
