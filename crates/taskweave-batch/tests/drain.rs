//! `close` stops intake and lets accepted items be flushed; `drain` also waits until every ticket
//! has resolved; a cancellation token and dropping the last handle are `close`.

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
async fn drain_flushes_the_tail_and_resolves_every_ticket() {
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
    batcher.drain().await;
    assert_eq!(Instant::now(), start, "the tail did not wait for its delay");
    assert_eq!(log.batches(), vec![vec![0, 1, 2, 3], vec![4, 5]]);
    for ticket in tickets {
        assert_eq!(now_or_never_ok(ticket), Some(()));
    }
    let metrics = batcher.metrics();
    assert_eq!((metrics.triggers.size, metrics.triggers.close), (1, 1));
    assert!(batcher.is_closed());
    assert_eq!(batcher.push(9).await, Err(Closed::new(9)));
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
async fn drain_waits_for_in_flight_flushes() {
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
    batcher.drain().await;
    assert_eq!(done.load(Ordering::SeqCst), 5);
    // Two batches ran together for 50 ms, then the tail's for another 50 ms.
    assert_eq!(Instant::now() - start, Duration::from_millis(100));
    assert_eq!(batcher.metrics().flushing, 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_token_closes_the_batcher() {
    let log = Log::new();
    let token = CancellationToken::new();
    let batcher = Batcher::builder()
        .max_items(10)
        .max_delay(HOUR)
        .cancellation_token(token.clone())
        .build(log.handler())
        .unwrap();
    let ticket = batcher.submit(1u8).await.unwrap();
    token.cancel();
    settle().await;
    // Closed by the token alone, and the tail flushed without waiting for its delay.
    assert!(batcher.is_closed());
    assert_eq!(log.batches(), vec![vec![1]]);
    assert!(ticket.await.is_ok());
    assert_eq!(batcher.push(2).await, Err(Closed::new(2)));
    assert_eq!(batcher.metrics().triggers.close, 1);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_token_is_graceful_the_flush_in_progress_finishes() {
    let token = CancellationToken::new();
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(HOUR)
        .cancellation_token(token.clone())
        .build(|batch: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, String>(batch)
        })
        .unwrap();
    let first = batcher.submit(1).await.unwrap();
    let second = batcher.submit(2).await.unwrap();
    let queued = batcher.submit(3).await.unwrap();
    settle().await;
    token.cancel();
    settle().await;
    assert!(batcher.is_closed());
    assert_eq!(batcher.metrics().flushing, 1, "the flush was not cut short");
    batcher.drain().await;
    assert_eq!(
        (first.await, second.await, queued.await),
        (Ok(1), Ok(2), Ok(3))
    );
    let metrics = batcher.metrics();
    assert_eq!((metrics.batches_aborted, metrics.items_unflushed), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn close_stops_intake_at_once_and_lets_accepted_work_finish() {
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(HOUR)
        .build(|batch: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, String>(batch)
        })
        .unwrap();
    let tickets: Vec<_> = futures_util::future::join_all((0..5).map(|v| batcher.submit(v)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    settle().await;
    let start = Instant::now();
    batcher.close();
    batcher.close(); // idempotent
    assert_eq!(Instant::now(), start, "close returns at once");
    assert!(batcher.is_closed());
    assert_eq!(batcher.push(9).await, Err(Closed::new(9)));
    assert_eq!(batcher.try_submit(9).unwrap_err().into_inner(), 9);
    for (v, ticket) in (0..5).zip(tickets) {
        assert_eq!(
            ticket.await,
            Ok(v),
            "accepted work carries on to completion"
        );
    }
    // Three batches, one after another: nothing was cut short.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    let metrics = batcher.metrics();
    assert_eq!((metrics.items_flushed, metrics.batches_aborted), (5, 0));
    assert_eq!(metrics.triggers.close, 1);
    batcher.drain().await;
}

#[tokio::test(start_paused = true)]
async fn producers_waiting_for_space_get_their_item_back_on_close() {
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
    let drain = tokio::spawn({
        let batcher = batcher.clone();
        async move { batcher.drain().await }
    });
    settle().await;
    assert_eq!(waiter.await.unwrap(), Err(Closed::new(1)));
    assert!(!drain.is_finished(), "the in-flight flush is still running");
    gate.add_permits(1);
    drain.await.unwrap();
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

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_is_close_and_aborts_nothing() {
    let batcher = Batcher::builder()
        .max_items(2)
        .max_delay(HOUR)
        .build(|batch: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, String>(batch)
        })
        .unwrap();
    // One batch flushing, one waiting for the slot, one filling.
    let mut tickets = Vec::new();
    for v in 0..5 {
        tickets.push(batcher.submit(v).await.unwrap());
    }
    settle().await;
    // A sink is a handle too: the batcher stays open while it lives.
    let sink = batcher.sink();
    drop(batcher);
    settle().await;
    assert!(!sink.get_ref().is_closed());
    let observer = sink.get_ref().clone();
    drop(sink);
    // `observer` is a handle as well; closing happens when the last one goes.
    assert!(!observer.is_closed());
    assert_eq!(observer.metrics().flushing, 1);
    drop(observer);
    let start = Instant::now();
    for (v, ticket) in (0..5).zip(tickets) {
        assert_eq!(ticket.await, Ok(v), "every accepted item is flushed");
    }
    // The flush in progress ran to its end, then the two others.
    assert_eq!(start.elapsed(), Duration::from_secs(15));
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
    // Never handed to the handler: kept for `shutdown` (or `abort`) to hand back.
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
    assert!(common::now_or_never(batcher.drain()).is_some());
    let report = common::now_or_never(batcher.shutdown(HOUR)).unwrap();
    assert_eq!(report.unflushed, vec![1]);
}
