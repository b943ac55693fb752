//! Stages transform items as their kind says, run on their own tasks (they overlap), and keep
//! input order when ordered.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskweave_pipeline::{Flow, Stage, StageConfig};
use tokio::time::Instant;

fn ok<T>(t: T) -> std::future::Ready<Result<T, Infallible>> {
    std::future::ready(Ok(t))
}

#[tokio::test]
async fn map_filter_map_flat_map_and_inspect_do_what_they_say() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let mut pipeline = Flow::from_iter(1..=6u32)
        .map("double", |n| ok(n * 2))
        .filter_map("multiples of 4", |n| ok((n % 4 == 0).then_some(n)))
        .flat_map("twice", |n| ok([n, n + 1]))
        .inspect("count", move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let mut out = Vec::new();
    while let Some(n) = pipeline.recv().await {
        out.push(n);
    }
    assert_eq!(out, [4, 5, 8, 9, 12, 13]);
    assert_eq!(seen.load(Ordering::SeqCst), 6);
    pipeline.finished().await.unwrap();
    let m = pipeline.metrics();
    let names: Vec<_> = m.stages.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(
        names,
        ["source", "double", "multiples of 4", "twice", "count"]
    );
    assert_eq!(m.stages[2].filtered, 3);
    assert_eq!((m.stages[3].items_in, m.stages[3].items_out), (3, 6));
    assert_eq!(m.delivered, 6);
}

struct Prefix(String);

impl Stage<u32> for Prefix {
    type Output = String;
    type Error = Infallible;
    async fn process(&self, n: u32) -> Result<String, Infallible> {
        tokio::task::yield_now().await;
        Ok(format!("{}{n}", self.0))
    }
}

#[tokio::test]
async fn a_stage_can_be_a_struct() {
    let pipeline = Flow::from_iter(0..3u32)
        .stage(
            StageConfig::new("prefix").concurrency(2),
            Prefix("#".into()),
        )
        .build()
        .unwrap();
    let mut out = Vec::new();
    pipeline.run(|s| out.push(s)).await.unwrap();
    assert_eq!(out, ["#0", "#1", "#2"]);
}

#[tokio::test(start_paused = true)]
async fn stages_overlap_instead_of_running_one_after_another() {
    // Three stages of 10 ms each over 10 items: in a single task that is 300 ms; with a task
    // per stage the stages overlap and it takes (10 + 2) * 10 ms.
    let step = |n: u32| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, Infallible>(n)
    };
    let started = Instant::now();
    let pipeline = Flow::from_iter(0..10u32)
        .map("a", step)
        .map("b", step)
        .map("c", step)
        .build()
        .unwrap();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, (0..10).collect::<Vec<_>>());
    assert_eq!(started.elapsed(), Duration::from_millis(120));
}

#[tokio::test(start_paused = true)]
async fn ordered_keeps_input_order_and_unordered_lets_fast_items_pass() {
    // Item 0 takes 100 ms, the others 1 ms.
    let work = |n: u32| async move {
        let ms = if n == 0 { 100 } else { 1 };
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, Infallible>(n)
    };
    let ordered = Flow::from_iter(0..4u32)
        .map(StageConfig::new("ordered").concurrency(4), work)
        .build()
        .unwrap();
    let mut out = Vec::new();
    ordered.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [0, 1, 2, 3]);

    let unordered = Flow::from_iter(0..4u32)
        .map(
            StageConfig::new("unordered").concurrency(4).unordered(),
            work,
        )
        .build()
        .unwrap();
    let mut out = Vec::new();
    unordered.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [1, 2, 3, 0]);
}

#[tokio::test(start_paused = true)]
async fn concurrency_bounds_the_items_in_flight() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n2, p2) = (Arc::clone(&now), Arc::clone(&peak));
    let pipeline = Flow::from_iter(0..50u32)
        .map(
            StageConfig::new("bounded").concurrency(3).unordered(),
            move |n| {
                let (now, peak) = (Arc::clone(&n2), Arc::clone(&p2));
                async move {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(u64::from(n % 7))).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(n)
                }
            },
        )
        .build()
        .unwrap();
    let mut count = 0;
    pipeline.run(|_| count += 1).await.unwrap();
    assert_eq!(count, 50);
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_slow_stage_backpressures_the_source_through_bounded_buffers() {
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&taken);
    let source = futures_util::stream::iter(0..10_000u32).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut pipeline = Flow::from_stream(source)
        .map(StageConfig::new("slow").buffer(8), |n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Infallible>(n)
        })
        .output_buffer(4)
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    // 10 done, 4 in the output, 1 in flight, 8 buffered, 1 in the source's hands: bounded.
    let taken_now = taken.load(Ordering::SeqCst);
    assert!(
        taken_now <= 4 + 1 + 8 + 1 + 1,
        "the source ran ahead: {taken_now}"
    );
    let m = pipeline.metrics();
    assert_eq!(m.stages[1].in_flight, 1);
    assert_eq!(m.stages[1].buffered, 8);
    pipeline.abort();
    while pipeline.recv().await.is_some() {}
}

use futures_util::StreamExt as _;
