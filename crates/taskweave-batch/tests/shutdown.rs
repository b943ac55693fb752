//! Shutdown stops intake, flushes the tail, awaits in-flight flushes and resolves every ticket.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Log, settle};
use taskweave_batch::{Batcher, Closed, TrySubmitError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_the_tail_and_resolves_every_ticket() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(4)
        .max_delay(HOUR)
        .build(log.handler())
        .unwrap();
    let mut tickets = Vec::new();
    for i in 0..6u32 {
        tickets.push(batcher.submit(i).await.unwrap());
    }
    let start = Instant::now();
    batcher.shutdown().await;
    assert_eq!(Instant::now(), start, "the tail did not wait for its delay");
    assert_eq!(log.batches(), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    for ticket in tickets {
        assert_eq!(now_or_never_ok(ticket), Some(()));
    }
    let metrics = batcher.metrics();
    assert_eq!((metrics.triggers.size, metrics.triggers.shutdown), (1, 1));
    assert!(batcher.is_closed());
    assert_eq!(batcher.push(9).await, Err(Closed(9)));
    assert_eq!(batcher.try_push(9), Err(TrySubmitError::Closed(9)));
    assert_eq!(batcher.metrics().rejected_closed, 2);
}

fn now_or_never_ok<F, E: std::fmt::Debug>(ticket: F) -> Option<()>
where
    F: Future<Output = Result<(), E>>,
{
    common::now_or_never(ticket).map(|r| r.unwrap())
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_in_flight_flushes() {
    let done = Arc::new(AtomicUsize::new(0));
    let batcher = Batcher::builder()
        .max_items(2)
        .max_concurrent_flushes(2)
        .build({
            let done = Arc::clone(&done);
            move |batch: Vec<u32>| {
                let done = Arc::clone(&done);
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    done.fetch_add(batch.len(), Ordering::SeqCst);
                    Ok::<_, String>(())
                }
            }
        })
        .unwrap();
    for i in 0..5 {
        batcher.push(i).await.unwrap();
    }
    settle().await;
    let start = Instant::now();
    batcher.shutdown().await;
    assert_eq!(done.load(Ordering::SeqCst), 5);
    // Two batches ran together for 50 ms, then the tail's for another 50 ms.
    assert_eq!(Instant::now() - start, Duration::from_millis(100));
    assert_eq!(batcher.metrics().flushing, 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_token_shuts_the_batcher_down() {
    let log = Log::new();
    let token = CancellationToken::new();
    let batcher = Batcher::builder()
        .max_items(10)
        .max_delay(HOUR)
        .shutdown_on(token.clone())
        .build(log.handler())
        .unwrap();
    let ticket = batcher.submit(1u8).await.unwrap();
    token.cancel();
    batcher.drained().await;
    assert_eq!(log.batches(), vec![vec![1]]);
    assert!(ticket.await.is_ok());
    assert_eq!(batcher.push(2).await, Err(Closed(2)));
}

#[tokio::test(start_paused = true)]
async fn producers_waiting_for_space_get_their_item_back_on_shutdown() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let batcher = Batcher::builder()
        .max_items(1)
        .max_buffered_items(1)
        .build({
            let gate = Arc::clone(&gate);
            move |_: Vec<u32>| {
                let gate = Arc::clone(&gate);
                async move {
                    gate.acquire().await.unwrap().forget();
                    Ok::<_, String>(())
                }
            }
        })
        .unwrap();
    let first = batcher.submit(0).await.unwrap();
    let waiter = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.submit(1).await.map(drop) }
    });
    settle().await;
    let shutdown = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.shutdown().await }
    });
    settle().await;
    assert_eq!(waiter.await.unwrap(), Err(Closed(1)));
    assert!(
        !shutdown.is_finished(),
        "the in-flight flush is still running"
    );
    gate.add_permits(1);
    shutdown.await.unwrap();
    assert!(first.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_flushes_what_was_accepted() {
    let log = Log::new();
    let batcher = Batcher::builder()
        .max_items(10)
        .max_delay(HOUR)
        .build(log.handler())
        .unwrap();
    let clone = batcher.clone();
    batcher.push(1u8).await.unwrap();
    clone.push(2).await.unwrap();
    drop(batcher);
    settle().await;
    assert!(log.batches().is_empty(), "a clone is still alive");
    drop(clone);
    settle().await;
    assert_eq!(log.batches(), vec![vec![1, 2]]);
}

#[test]
fn a_runtime_shutting_down_under_the_batcher_resolves_tickets_instead_of_hanging() {
    use taskweave_batch::BatchError;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (batcher, ticket) = rt.block_on(async {
        let batcher = Batcher::builder()
            .max_delay(HOUR)
            .build(|_: Vec<u8>| async { Ok::<_, String>(()) })
            .unwrap();
        let ticket = batcher.submit(1).await.unwrap();
        (batcher, ticket)
    });
    drop(rt);
    // Never handed to the handler: kept for `shutdown_timeout` to hand back.
    assert!(matches!(
        common::now_or_never(ticket),
        Some(Err(BatchError::Unflushed))
    ));
    assert_eq!(batcher.try_push(2), Err(TrySubmitError::Closed(2)));
    let metrics = batcher.metrics();
    assert_eq!(
        (
            metrics.buffered_items,
            metrics.items_unflushed,
            metrics.batches_abandoned
        ),
        (0, 1, 0)
    );
    assert!(common::now_or_never(batcher.drained()).is_some());
    let report = common::now_or_never(batcher.shutdown_timeout(HOUR)).unwrap();
    assert_eq!(report.unflushed, vec![1]);
}
