//! What a stage does with an item it fails on: stop, skip or dead-letter — for errors,
//! timeouts and panics alike.

use std::time::Duration;

use taskweave_pipeline::{ErrorPolicy, Flow, PipelineError, StageConfig, StageError};

#[derive(Debug)]
struct Odd(u32);

impl std::fmt::Display for Odd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is odd", self.0)
    }
}

impl std::error::Error for Odd {}

fn evens_only(n: u32) -> std::future::Ready<Result<u32, Odd>> {
    std::future::ready(if n % 2 == 0 { Ok(n) } else { Err(Odd(n)) })
}

#[tokio::test]
async fn skip_counts_the_item_and_carries_on() {
    let pipeline = Flow::from_iter(0..10u32)
        .map(
            StageConfig::new("evens").on_error(ErrorPolicy::Skip),
            evens_only,
        )
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [0, 2, 4, 6, 8]);
    let m = handle.metrics();
    assert_eq!((m.stages[1].skipped, m.stages[1].completed), (5, 5));
    assert!(m.reconciles());
}

#[tokio::test]
async fn dead_letter_hands_back_the_item_its_error_and_the_stage() {
    let mut pipeline = Flow::from_iter(0..6u32)
        .map(
            StageConfig::new("evens").on_error(ErrorPolicy::DeadLetter),
            evens_only,
        )
        .dead_letters(8)
        .build()
        .unwrap();
    let mut dead = pipeline.dead_letters().unwrap();
    assert!(pipeline.dead_letters().is_none(), "taken once");
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [0, 2, 4]);
    let mut letters = Vec::new();
    while let Some(letter) = dead.recv().await {
        assert_eq!(letter.stage(), "evens");
        let StageError::Failed(e) = letter.error() else {
            panic!("unexpected {:?}", letter.error())
        };
        assert!(e.downcast_ref::<Odd>().is_some());
        let letter = letter.into_item::<String>().unwrap_err(); // wrong type: handed back
        letters.push(letter.into_item::<u32>().unwrap().0);
    }
    assert_eq!(letters, [1, 3, 5]);
    assert!(handle.metrics().reconciles());
}

#[tokio::test]
async fn stop_aborts_the_pipeline_and_says_which_stage() {
    let pipeline = Flow::from_iter(0..1_000u32)
        .map("evens", evens_only)
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    let err = pipeline.run(|n| out.push(n)).await.unwrap_err();
    let PipelineError::Stopped { stage, error } = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(
        (&*stage, error.as_str()),
        ("evens", "the stage failed: 1 is odd")
    );
    assert_eq!(out, [0]);
    let m = handle.metrics();
    assert_eq!(m.stages[1].failed, 1);
    assert!(m.reconciles(), "{m:#?}");
}

/// Runs `flow` to the end; its outputs, its only dead letter, and the handle.
async fn run_with_one_dead_letter<T: Send + 'static>(
    flow: Flow<T>,
) -> (
    Vec<T>,
    taskweave_pipeline::DeadLetter,
    taskweave_pipeline::PipelineHandle,
) {
    let mut pipeline = flow.dead_letters(4).build().unwrap();
    let mut dead = pipeline.dead_letters().unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    let letter = dead.recv().await.unwrap();
    assert!(dead.recv().await.is_none(), "one dead letter only");
    (out, letter, handle)
}

#[tokio::test]
async fn a_panic_is_an_error_not_a_lost_item_or_a_hang() {
    let flow = Flow::from_iter(0..4u32).map(
        StageConfig::new("fragile")
            .concurrency(2)
            .on_error(ErrorPolicy::DeadLetter),
        |n| async move {
            assert!(n != 2, "boom on {n}");
            Ok::<_, std::convert::Infallible>(n)
        },
    );
    let (out, letter, handle) = run_with_one_dead_letter(flow).await;
    assert_eq!(out, [0, 1, 3]);
    assert!(matches!(letter.error(), StageError::Panicked(m) if m.contains("boom on 2")));
    assert_eq!(handle.metrics().stages[1].panicked, 1);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_a_typed_error_under_the_policy() {
    let flow = Flow::from_iter([5u64, 50, 5]).map(
        StageConfig::new("slow")
            .timeout(Duration::from_millis(20))
            .on_error(ErrorPolicy::DeadLetter),
        |ms| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, std::convert::Infallible>(ms)
        },
    );
    let (out, letter, handle) = run_with_one_dead_letter(flow).await;
    assert_eq!(out, [5, 5]);
    let StageError::TimedOut(t) = letter.error() else {
        panic!("unexpected {letter:?}")
    };
    assert_eq!(t.after, Duration::from_millis(20));
    assert_eq!(letter.item::<u64>(), Some(&50));
    assert_eq!(handle.metrics().stages[1].timed_out, 1);
}

#[tokio::test]
async fn dead_letters_nobody_reads_are_counted_not_lost() {
    let mut pipeline = Flow::from_iter(0..6u32)
        .map(
            StageConfig::new("evens").on_error(ErrorPolicy::DeadLetter),
            evens_only,
        )
        .dead_letters(1)
        .build()
        .unwrap();
    drop(pipeline.dead_letters());
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [0, 2, 4]);
    let m = handle.metrics();
    assert_eq!(m.dead_letters_discarded, 3);
    assert!(m.reconciles());
}
