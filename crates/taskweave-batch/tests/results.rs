//! Tickets fan a batch's outcome back out: per-item results, a shared batch error, a missing
//! result, a panicking handler.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::settle;
use taskweave_batch::{BatchError, Batcher};

#[tokio::test(start_paused = true)]
async fn each_ticket_gets_its_own_items_result() {
    let batcher = Batcher::builder()
        .max_items(4)
        .max_delay(Duration::from_millis(5))
        .build(|batch: Vec<u32>| async move {
            Ok::<_, String>(batch.iter().map(|x| x * 10).collect::<Vec<_>>())
        })
        .unwrap();
    let mut tickets = Vec::new();
    for i in 0..6 {
        // Fire-and-forget items mixed in must not shift the others' results.
        if i % 2 == 0 {
            batcher.push(i + 100).await.unwrap();
        }
        tickets.push((i, batcher.submit(i).await.unwrap()));
    }
    for (i, ticket) in tickets {
        assert_eq!(ticket.await.unwrap(), i * 10);
    }
}

#[tokio::test(start_paused = true)]
async fn a_batch_error_is_shared_by_every_ticket_of_the_batch() {
    let batcher = Batcher::builder()
        .max_items(3)
        .build(|batch: Vec<u32>| async move {
            if batch.contains(&4) {
                Err(format!("batch {batch:?} rejected"))
            } else {
                Ok(())
            }
        })
        .unwrap();
    let mut tickets = Vec::new();
    for i in 0..6 {
        tickets.push(batcher.submit(i).await.unwrap());
    }
    let mut results = Vec::new();
    for ticket in tickets {
        results.push(ticket.await);
    }
    assert!(results[..3].iter().all(Result::is_ok));
    let errors: Vec<Arc<String>> = results[3..]
        .iter()
        .map(|r| match r {
            Err(BatchError::Failed(e)) => Arc::clone(e),
            other => panic!("expected a shared failure, got {other:?}"),
        })
        .collect();
    assert_eq!(*errors[0], "batch [3, 4, 5] rejected");
    assert!(Arc::ptr_eq(&errors[0], &errors[1]) && Arc::ptr_eq(&errors[0], &errors[2]));
    let metrics = batcher.metrics();
    assert_eq!((metrics.batches_succeeded, metrics.batches_failed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn too_few_results_leave_the_rest_with_missing_result() {
    let batcher = Batcher::builder()
        .max_items(3)
        .build(|batch: Vec<u32>| async move { Ok::<_, String>(vec![batch[0]]) })
        .unwrap();
    let a = batcher.submit(7).await.unwrap();
    let b = batcher.submit(8).await.unwrap();
    let c = batcher.submit(9).await.unwrap();
    assert_eq!(a.await.unwrap(), 7);
    assert!(matches!(b.await, Err(BatchError::MissingResult)));
    assert!(matches!(c.await, Err(BatchError::MissingResult)));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_fails_only_its_batch() {
    let batcher = Batcher::builder()
        .max_items(2)
        .build(|batch: Vec<u32>| async move {
            assert!(!batch.contains(&1), "the handler refuses item 1");
            Ok::<_, String>(())
        })
        .unwrap();
    let doomed = batcher.submit(0).await.unwrap();
    batcher.push(1).await.unwrap();
    let fine = batcher.submit(2).await.unwrap();
    batcher.push(3).await.unwrap();
    assert!(matches!(doomed.await, Err(BatchError::FlushPanicked)));
    assert!(fine.await.is_ok());
    settle().await;
    let metrics = batcher.metrics();
    assert_eq!(metrics.batches_panicked, 1);
    assert_eq!(metrics.batches_abandoned, 0);
    assert_eq!(metrics.batches_succeeded, 1);
    assert_eq!(metrics.buffered_items, 0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_ticket_does_not_withdraw_its_item() {
    let log = common::Log::new();
    let batcher = Batcher::builder()
        .max_items(2)
        .build(log.handler())
        .unwrap();
    drop(batcher.submit(1u8).await.unwrap());
    drop(batcher.try_submit(2).unwrap());
    settle().await;
    assert_eq!(log.batches(), vec![vec![1, 2]]);
}
