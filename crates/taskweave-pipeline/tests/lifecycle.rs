//! close / cancellation token / drain / shutdown(grace) / abort / deadline / last handle
//! dropped, and the accounting each leaves behind.

use std::convert::Infallible;
use std::time::Duration;

use taskweave_pipeline::{Flow, PipelineError, StageConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn sleepy(
    ms: u64,
) -> impl Fn(u32) -> std::pin::Pin<Box<dyn Future<Output = Result<u32, Infallible>> + Send>>
+ Send
+ Sync
+ 'static {
    move |n| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(n)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn the_token_stops_the_source_and_every_stage_flushes_what_it_holds() {
    let token = CancellationToken::new();
    let (tx, rx) = mpsc::channel(16);
    for n in 0..10 {
        tx.send(n).await.unwrap();
    }
    let mut pipeline = Flow::from_receiver(rx)
        .map(StageConfig::new("a").concurrency(2), sleepy(10))
        .map("b", sleepy(10))
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(15)).await;
    token.cancel();
    assert!(pipeline.is_closed());
    tokio::time::sleep(Duration::from_millis(1)).await; // the source task sees it
    // The channel is closed: a later send gets its item back.
    assert_eq!(tx.send(99).await.unwrap_err().0, 99);
    let mut out = Vec::new();
    while let Some(n) = pipeline.recv().await {
        out.push(n);
    }
    // What the channel held had been accepted: all of it went through, nothing dropped.
    assert_eq!(out, (0..10).collect::<Vec<_>>());
    pipeline.finished().await.unwrap();
    let m = pipeline.metrics();
    assert_eq!((m.items_in(), m.dropped()), (10, 0));
}

#[tokio::test(start_paused = true)]
async fn close_on_a_stream_source_stops_taking_items_and_drain_waits_for_the_flush() {
    let mut pipeline = Flow::from_iter(0..1_000u32)
        .map(StageConfig::new("a").buffer(4), sleepy(10))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(25)).await;
    let handle = pipeline.handle();
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while pipeline.recv().await.is_some() {
            n += 1;
        }
        n
    });
    handle.drain().await;
    let delivered = reader.await.unwrap();
    let m = handle.metrics();
    assert!((2..1_000).contains(&delivered), "{delivered}");
    assert_eq!(m.items_in(), delivered);
    assert_eq!(m.dropped(), 0);
    assert!(m.reconciles());
}

#[tokio::test(start_paused = true)]
async fn shutdown_aborts_after_the_grace_and_reports_per_stage_what_was_dropped() {
    let mut pipeline = Flow::from_iter(0..100u32)
        .map(StageConfig::new("fast").buffer(8), sleepy(1))
        .map(
            StageConfig::new("stuck").concurrency(2).buffer(8),
            |n: u32| async move {
                if n >= 3 {
                    std::future::pending::<()>().await;
                }
                Ok::<_, Infallible>(n)
            },
        )
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(n) = pipeline.recv().await {
            out.push(n);
        }
        out
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = handle.shutdown(Duration::from_secs(1)).await;
    assert!(report.aborted && !report.is_clean());
    let dropped: Vec<_> = report.dropped().map(|(s, n)| (s.to_owned(), n)).collect();
    // "stuck" holds 2 in flight and 8 buffered; "fast" 8 buffered and one it is blocked
    // handing on; the source one it is blocked handing on.
    let expected = [("source", 1), ("fast", 9), ("stuck", 10)].map(|(s, n)| (s.to_owned(), n));
    assert_eq!(dropped, expected);
    assert_eq!(reader.await.unwrap(), [0, 1, 2]);
    assert!(report.metrics.reconciles(), "{:#?}", report.metrics);
    assert!(matches!(
        handle.finished().await,
        Err(PipelineError::Aborted)
    ));
}

#[tokio::test(start_paused = true)]
async fn shutdown_within_the_grace_is_clean() {
    let pipeline = Flow::from_iter(0..10u32)
        .map("a", sleepy(10))
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let reader = tokio::spawn(pipeline.run(drop));
    let report = handle.shutdown(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    reader.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn abort_stops_at_once_and_counts_everything_held() {
    let mut pipeline = Flow::from_iter(0..1_000u32)
        .map(StageConfig::new("a").concurrency(4), sleepy(1_000))
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    pipeline.abort();
    assert!(pipeline.recv().await.is_none());
    assert!(matches!(
        pipeline.finished().await,
        Err(PipelineError::Aborted)
    ));
    let m = pipeline.metrics();
    assert_eq!(m.stages[1].dropped, m.stages[1].items_in);
    assert!(m.reconciles());
}

#[tokio::test(start_paused = true)]
async fn the_deadline_aborts_a_pipeline_that_runs_too_long() {
    let pipeline = Flow::from_iter(0..100u32)
        .map("a", sleepy(10))
        .deadline(Duration::from_millis(55))
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    let err = pipeline.run(|n| out.push(n)).await.unwrap_err();
    assert!(matches!(err, PipelineError::DeadlineExceeded(d) if d == Duration::from_millis(55)));
    assert_eq!(out.len(), 5);
    assert!(handle.metrics().reconciles());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_pipeline_closes_it_and_counts_the_unread_output() {
    let pipeline = Flow::from_iter(0..100u32)
        .map("a", sleepy(1))
        .output_buffer(4)
        .build()
        .unwrap();
    let handle = pipeline.handle();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(pipeline);
    handle.finished().await.unwrap();
    let m = handle.metrics();
    // Nobody is left to take the output: the stages stop and count what they held.
    assert_eq!(m.discarded, 4);
    assert!(m.dropped() > 0);
    assert!(m.reconciles(), "{m:#?}");
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_closes_the_pipeline_like_close() {
    let token = CancellationToken::new();
    let pipeline = Flow::from_iter(std::iter::repeat(1u32))
        .map("a", sleepy(1))
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let reader = tokio::spawn(pipeline.run(drop));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!handle.is_closed());
    drop(handle);
    // The reader's pipeline still holds a handle: nothing closes until it is gone.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!reader.is_finished());
    token.cancel();
    reader.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_last_handle_dropped_closes_the_pipeline() {
    let (tx, rx) = mpsc::channel::<u32>(4);
    let pipeline = Flow::from_receiver(rx).map("a", sleepy(1)).build().unwrap();
    let outputs = tokio::spawn(async move {
        let mut pipeline = pipeline;
        let mut n = 0;
        // Reads two items, then drops the pipeline (the last handle).
        while n < 2 && pipeline.recv().await.is_some() {
            n += 1;
        }
    });
    tx.send(1).await.unwrap();
    tx.send(2).await.unwrap();
    outputs.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    // Closed: the channel source refuses more and hands the item back.
    assert_eq!(tx.send(3).await.unwrap_err().0, 3);
}
