//! Fan-out (broadcast, partition by key) and fan-in (merge).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use taskweave_pipeline::{ConfigError, Flow, MAX_BRANCHES, StageConfig};

fn ok<T>(t: T) -> std::future::Ready<Result<T, Infallible>> {
    std::future::ready(Ok(t))
}

#[tokio::test]
async fn broadcast_sends_every_item_to_every_branch() {
    let mut branches = Flow::from_iter(1..=5u32).broadcast(2).unwrap();
    let tens = branches.pop().unwrap().map("tens", |n| ok(n * 10));
    let ones = branches.pop().unwrap().map("ones", ok);
    let pipeline = Flow::merge([ones, tens]).build().unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    out.sort_unstable();
    assert_eq!(out, [1, 2, 3, 4, 5, 10, 20, 30, 40, 50]);
    let m = handle.metrics();
    let names: Vec<_> = m.stages.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["source", "broadcast", "ones", "tens"]);
    assert_eq!((m.stages[1].items_in, m.stages[1].items_out), (5, 10));
}

#[tokio::test(start_paused = true)]
async fn partition_keeps_per_key_order_across_lanes_and_reconciles() {
    let items: Vec<(u32, u32)> = (0..300).map(|i| (i % 7, i)).collect();
    let lanes = Flow::from_iter(items)
        .partition(3, |(key, _)| *key)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(lane, flow)| {
            flow.map(
                StageConfig::new(format!("lane {lane}")),
                move |(key, i)| async move {
                    // Lanes run at different speeds.
                    tokio::time::sleep(Duration::from_micros(100 * (lane as u64 + 1))).await;
                    Ok::<_, Infallible>((key, i))
                },
            )
        });
    let pipeline = Flow::merge(lanes).build().unwrap();
    let handle = pipeline.handle();
    let mut last: HashMap<u32, u32> = HashMap::new();
    let mut count = 0;
    pipeline
        .run(|(key, i)| {
            if let Some(prev) = last.insert(key, i) {
                assert!(prev < i, "key {key}: {i} after {prev}");
            }
            count += 1;
        })
        .await
        .unwrap();
    assert_eq!(count, 300);
    let m = handle.metrics();
    assert!(m.reconciles(), "{m:#?}");
    let lane_total: u64 = m.stages[2..].iter().map(|s| s.items_in).sum();
    assert_eq!(lane_total, 300);
}

#[tokio::test(start_paused = true)]
async fn abort_in_a_partitioned_pipeline_reconciles() {
    let lanes = Flow::from_iter(0..1_000u32)
        .partition(2, |n| n % 2)
        .unwrap()
        .into_iter()
        .map(|flow| {
            flow.map(StageConfig::new("slow").concurrency(2), |n| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok::<_, Infallible>(n)
            })
        });
    let mut pipeline = Flow::merge(lanes).build().unwrap();
    tokio::time::sleep(Duration::from_millis(55)).await;
    pipeline.abort();
    while pipeline.recv().await.is_some() {}
    let m = pipeline.metrics();
    assert!(m.dropped() > 0);
    assert!(m.reconciles(), "{m:#?}");
}

#[tokio::test]
async fn every_branch_must_be_merged_and_branch_counts_are_bounded() {
    let mut branches = Flow::from_iter(0..3u32).broadcast(2).unwrap();
    let one = branches.pop().unwrap();
    assert_eq!(
        one.build().unwrap_err(),
        ConfigError::UnmergedBranches {
            branches: 2,
            found: 1
        }
    );
    assert!(matches!(
        Flow::from_iter(0..3u32).broadcast(0),
        Err(ConfigError::Branches { value: 0 })
    ));
    assert!(matches!(
        Flow::from_iter(0..3u32).partition(MAX_BRANCHES + 1, |n| *n),
        Err(ConfigError::Branches { .. })
    ));
    // Merging nothing gives a pipeline that ends at once.
    let empty = Flow::<u32>::merge([]).build().unwrap();
    empty.run(|_| unreachable!()).await.unwrap();
}

#[tokio::test]
async fn a_stop_in_one_branch_aborts_the_whole_pipeline() {
    let mut branches = Flow::from_iter(0..100u32).broadcast(2).unwrap();
    let failing = branches.pop().unwrap().map("fails at 10", |n| async move {
        if n == 10 {
            return Err(std::io::Error::other("ten"));
        }
        Ok(n)
    });
    let fine = branches.pop().unwrap().map("fine", ok);
    let pipeline = Flow::merge([fine, failing]).build().unwrap();
    let handle = pipeline.handle();
    let mut out = 0;
    // Stop is a pipeline-wide policy: the failure aborts everything.
    assert!(pipeline.run(|_| out += 1).await.is_err());
    assert!(handle.metrics().stages.iter().any(|s| s.failed == 1));
}
