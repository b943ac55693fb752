//! `stream.batched(limits)` cuts batches exactly like the batcher.

use std::time::Duration;

use futures_util::StreamExt;
use taskweave_batch::{BatchedExt, Limits};
use tokio::sync::mpsc;
use tokio::time::{Instant, advance};

fn limits(max_items: usize, delay_ms: u64) -> Limits<u32> {
    Limits::builder()
        .max_items(max_items)
        .max_delay(Duration::from_millis(delay_ms))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn cuts_at_max_items_and_yields_the_tail_at_the_end() {
    let batches: Vec<Vec<u32>> = futures_util::stream::iter(0..7)
        .batched(limits(3, 1000))
        .collect()
        .await;
    assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
}

#[tokio::test(start_paused = true)]
async fn cuts_at_max_delay_from_the_first_item() {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut batches = tokio_stream_from(rx).batched(limits(100, 10));
    advance(Duration::from_millis(5)).await; // idle time does not count
    let first = Instant::now();
    tx.send(1).unwrap();
    let waiter = tokio::spawn(async move {
        let batch = batches.next().await;
        (Instant::now(), batch, batches)
    });
    tokio::task::yield_now().await;
    advance(Duration::from_millis(6)).await;
    tx.send(2).unwrap();
    let (at, batch, mut batches) = waiter.await.unwrap();
    assert_eq!(
        (at, batch),
        (first + Duration::from_millis(10), Some(vec![1, 2]))
    );

    let second = Instant::now();
    tx.send(3).unwrap();
    assert_eq!(batches.next().await, Some(vec![3]));
    assert_eq!(Instant::now(), second + Duration::from_millis(10));
    drop(tx);
    assert_eq!(batches.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn cuts_at_max_weight_and_sends_an_oversized_item_alone() {
    let limits = Limits::builder()
        .max_items(100)
        .max_delay(Duration::from_secs(60))
        .max_weight(10, |w: &u32| u64::from(*w))
        .build()
        .unwrap();
    let batches: Vec<Vec<u32>> = futures_util::stream::iter([4, 4, 4, 6, 3, 25, 1, 2])
        .batched(limits)
        .collect()
        .await;
    assert_eq!(
        batches,
        vec![vec![4, 4], vec![4, 6], vec![3], vec![25], vec![1, 2]]
    );
}

fn tokio_stream_from(
    mut rx: mpsc::UnboundedReceiver<u32>,
) -> impl futures_util::Stream<Item = u32> + Send + Unpin {
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
