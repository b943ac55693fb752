//! `batch/1m-items`: one producer submits 1M `u64`s; batches close at 128 items or 5 ms; the
//! consumer sums each batch (and the sum is checked).
//!
//! Contenders, all with room for 1024 buffered items, measured from a spawned task on a
//! 2-worker runtime (building the batcher or channel included, it is negligible):
//! - floor, `mpsc + recv_many, timer from the first item`: the hand-written `mpsc::channel(1024)`
//!   consumer that takes up to 128 items at a time with `recv_many` and closes a batch 5 ms after
//!   its first item;
//! - `chunks_timeout`: tokio-stream's `ReceiverStream::chunks_timeout(128, 5 ms)`;
//! - `taskweave: fire-and-forget`: `Batcher::push` per item;
//! - `taskweave: tickets`: `Batcher::submit` per item, keeping at most 1024 tickets unresolved
//!   (the oldest is awaited before more are submitted), all tickets awaited at the end;
//! - `taskweave: sink`: `stream::iter(..).map(Ok).forward(batcher.sink())`, which ends with
//!   the sink's close (the batcher's drain).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskweave_batch::Batcher;
use taskweave_benches::{Suite, multi_thread, time_spawned};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

const MAX_ITEMS: usize = 128;
const MAX_DELAY: Duration = Duration::from_millis(5);
const BUFFER: usize = 1024;

fn expected_sum(items: u64) -> u64 {
    items * (items - 1) / 2
}

async fn floor(items: u64) {
    let (tx, mut rx) = mpsc::channel::<u64>(BUFFER);
    let consumer = tokio::spawn(async move {
        let mut sum = 0_u64;
        let mut batch = Vec::with_capacity(MAX_ITEMS);
        let mut open = true;
        while open && rx.recv_many(&mut batch, MAX_ITEMS).await > 0 {
            let deadline = tokio::time::sleep(MAX_DELAY);
            tokio::pin!(deadline);
            while batch.len() < MAX_ITEMS {
                let room = MAX_ITEMS - batch.len();
                tokio::select! {
                    biased;
                    got = rx.recv_many(&mut batch, room) => if got == 0 {
                        open = false;
                        break;
                    },
                    () = &mut deadline => break,
                }
            }
            sum += batch.drain(..).sum::<u64>();
        }
        sum
    });
    for i in 0..items {
        tx.send(i).await.expect("consumer alive");
    }
    drop(tx);
    assert_eq!(consumer.await.expect("consumer ran"), expected_sum(items));
}

async fn chunks_timeout(items: u64) {
    let (tx, rx) = mpsc::channel::<u64>(BUFFER);
    let consumer = tokio::spawn(async move {
        let chunks = ReceiverStream::new(rx).chunks_timeout(MAX_ITEMS, MAX_DELAY);
        tokio::pin!(chunks);
        let mut sum = 0_u64;
        while let Some(chunk) = chunks.next().await {
            sum += chunk.iter().sum::<u64>();
        }
        sum
    });
    for i in 0..items {
        tx.send(i).await.expect("consumer alive");
    }
    drop(tx);
    assert_eq!(consumer.await.expect("consumer ran"), expected_sum(items));
}

fn summing_batcher(sum: &Arc<AtomicU64>) -> Batcher<u64> {
    let sum = Arc::clone(sum);
    Batcher::builder()
        .max_items(MAX_ITEMS)
        .max_delay(MAX_DELAY)
        .max_buffered_items(BUFFER)
        .build(move |batch: Vec<u64>| {
            sum.fetch_add(batch.iter().sum::<u64>(), Ordering::Relaxed);
            std::future::ready(Ok::<(), std::convert::Infallible>(()))
        })
        .expect("valid batcher config")
}

async fn fire_and_forget(items: u64) {
    let sum = Arc::new(AtomicU64::new(0));
    let batcher = summing_batcher(&sum);
    for i in 0..items {
        batcher.push(i).await.expect("batcher open");
    }
    batcher.drain().await;
    assert_eq!(sum.load(Ordering::Relaxed), expected_sum(items));
}

async fn tickets(items: u64) {
    let sum = Arc::new(AtomicU64::new(0));
    let batcher = summing_batcher(&sum);
    let mut pending = VecDeque::with_capacity(BUFFER);
    for i in 0..items {
        if pending.len() == BUFFER {
            let oldest: taskweave_batch::Ticket<(), _> = pending.pop_front().expect("non-empty");
            oldest.await.expect("batch flushed");
        }
        pending.push_back(batcher.submit(i).await.expect("batcher open"));
    }
    batcher.drain().await;
    for ticket in pending {
        ticket.await.expect("batch flushed");
    }
    assert_eq!(sum.load(Ordering::Relaxed), expected_sum(items));
}

async fn sink(items: u64) {
    use futures::StreamExt;
    let sum = Arc::new(AtomicU64::new(0));
    let batcher = summing_batcher(&sum);
    // Named in full: tokio-stream's `StreamExt` has a `map` too.
    let stream = StreamExt::map(futures::stream::iter(0..items), Ok);
    StreamExt::forward(stream, batcher.sink())
        .await
        .expect("batcher open");
    assert_eq!(sum.load(Ordering::Relaxed), expected_sum(items));
}

fn main() {
    let mut suite = Suite::from_env();
    let items = suite.scale(1_000_000);
    let rt = multi_thread(2);
    suite.group("batch/1m-items", items, |g| {
        g.floor("mpsc + recv_many, timer from the first item", || {
            time_spawned(&rt, move || floor(items))
        });
        g.ours("taskweave: fire-and-forget", || {
            time_spawned(&rt, move || fire_and_forget(items))
        });
        g.ours("taskweave: tickets", || {
            time_spawned(&rt, move || tickets(items))
        });
        g.ours("taskweave: sink", || time_spawned(&rt, move || sink(items)));
        g.peer("tokio-stream chunks_timeout", || {
            time_spawned(&rt, move || chunks_timeout(items))
        });
    });
}
