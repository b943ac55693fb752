//! debounce, throttle, sample, timeout_each and batch, exact to the millisecond in paused time.

use std::time::Duration;

use futures_util::StreamExt;
use taskweave_pipeline::ops::Edge;
use taskweave_pipeline::{StreamOps, TimedOut};
use tokio::sync::mpsc;
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// Sends `(at_ms, value)` events on a paused clock; the stream ends after the last.
fn events(script: Vec<(u64, u32)>) -> impl futures_util::Stream<Item = u32> {
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let start = Instant::now();
        for (at, v) in script {
            tokio::time::sleep_until(start + MS * at as u32).await;
            tx.send(v).await.unwrap();
        }
    });
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Collects `(ms since start, item)`.
async fn timeline<S: futures_util::Stream>(s: S) -> Vec<(u128, S::Item)> {
    let start = Instant::now();
    s.map(|item| (start.elapsed().as_millis(), item))
        .collect()
        .await
}

#[tokio::test(start_paused = true)]
async fn debounce_emits_the_last_item_after_a_quiet_period() {
    let s = events(vec![(0, 1), (5, 2), (9, 3), (30, 4), (100, 5)]);
    let out = timeline(s.debounce(10 * MS, None)).await;
    // 3 at 9 + 10; 4 at 30 + 10; 5 when the stream ends, right after it arrives.
    assert_eq!(out, [(19, 3), (40, 4), (100, 5)]);
}

#[tokio::test(start_paused = true)]
async fn debounce_with_max_wait_emits_during_a_never_ending_burst() {
    let script = (0..10).map(|i| (i * 4, i as u32)).collect();
    let mut debounced = events(script).debounce(10 * MS, Some(15 * MS));
    let start = Instant::now();
    let mut out = Vec::new();
    while let Some(v) = debounced.next().await {
        out.push((start.elapsed().as_millis(), v));
    }
    // Bursts every 4 ms never go quiet for 10 ms: max_wait cuts one at 15 ms after its first
    // item (0 → 15: latest is 3 at 12), then (16 → 31: latest 7 at 28); 9 goes when the
    // stream ends, right after it arrives at 36.
    assert_eq!(out, [(15, 3), (31, 7), (36, 9)]);
    assert_eq!(debounced.dropped(), 7);
}

#[tokio::test(start_paused = true)]
async fn throttle_leading_trailing_and_both() {
    let script = || vec![(0, 1), (3, 2), (6, 3), (12, 4), (25, 5)];
    let leading = timeline(events(script()).throttle(10 * MS, Edge::Leading)).await;
    assert_eq!(leading, [(0, 1), (12, 4), (25, 5)]);
    let trailing = timeline(events(script()).throttle(10 * MS, Edge::Trailing)).await;
    // Window 0-10 ends with 3; the next window opens at 10 and 4 arrives in it (ends at 20);
    // 5 arrives at 25 in a new window, flushed when the stream ends.
    assert_eq!(trailing, [(10, 3), (20, 4), (25, 5)]);
    let both = timeline(events(script()).throttle(10 * MS, Edge::Both)).await;
    assert_eq!(both, [(0, 1), (10, 3), (20, 4), (25, 5)]);
}

#[tokio::test(start_paused = true)]
async fn sample_emits_the_latest_item_at_each_tick() {
    let s = events(vec![(1, 1), (4, 2), (12, 3), (35, 4), (36, 5), (50, 6)]);
    let mut sampled = s.sample(10 * MS);
    let start = Instant::now();
    let mut out = Vec::new();
    while let Some(v) = sampled.next().await {
        out.push((start.elapsed().as_millis(), v));
    }
    // Ticks at 10, 20, 30, 40, 50: 2 at 10, 3 at 20, nothing at 30, 5 at 40, then 6 at the end.
    assert_eq!(out, [(10, 2), (20, 3), (40, 5), (50, 6)]);
    assert_eq!(sampled.dropped(), 2);
}

#[tokio::test(start_paused = true)]
async fn timeout_each_reports_each_gap_and_carries_on() {
    let s = events(vec![(5, 1), (30, 2), (35, 3)]);
    let out = timeline(s.timeout_each(10 * MS)).await;
    let late = Err(TimedOut { after: 10 * MS });
    assert_eq!(
        out,
        [(5, Ok(1)), (15, late), (25, late), (30, Ok(2)), (35, Ok(3))]
    );
}

#[tokio::test(start_paused = true)]
async fn batch_cuts_on_size_or_on_the_age_of_the_oldest_item() {
    let s = events(vec![
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
        (20, 5),
        (28, 6),
        (40, 7),
    ]);
    let out = timeline(s.batch(3, 10 * MS)).await;
    // [1,2,3] full at 2; [4] aged out at 13; [5,6] aged out at 30 (5 came at 20); [7] at the end.
    assert_eq!(
        out,
        [
            (2, vec![1, 2, 3]),
            (13, vec![4]),
            (30, vec![5, 6]),
            (40, vec![7])
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn absurd_sizes_are_clamped_not_allocated() {
    let out: Vec<Vec<u32>> = futures_util::stream::iter(0..3u32)
        .batch(usize::MAX, MS)
        .collect()
        .await;
    assert_eq!(out, [vec![0, 1, 2]]);
    let out: Vec<Vec<u32>> = futures_util::stream::iter(0..3u32)
        .batch(0, MS)
        .collect()
        .await;
    assert_eq!(out, [vec![0], vec![1], vec![2]]);
}
