//! `batch/1m-items`: one producer submits 1M `u64`s; batches close at 128 items or 5 ms; the
//! consumer sums each batch (and the sum is checked).
//!
//! Contenders, all with room for 1024 buffered items, measured from a spawned task on a
//! 2-worker runtime (building the batcher or channel included, it is negligible):
//! - `baseline: mpsc + select! loop`: the hand-written `mpsc::channel(1024)` consumer that
//!   `select!`s between `recv()` and a 5 ms `interval` tick;
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

use criterion::{Criterion, criterion_group, criterion_main};
use taskweave_batch::Batcher;
use taskweave_benches::{iter_runs, multi_thread, time_spawned, workload_group};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

const ITEMS: u64 = 1_000_000;
const MAX_ITEMS: usize = 128;
const MAX_DELAY: Duration = Duration::from_millis(5);
const BUFFER: usize = 1024;
const EXPECTED_SUM: u64 = ITEMS * (ITEMS - 1) / 2;

async fn baseline() {
    let (tx, mut rx) = mpsc::channel::<u64>(BUFFER);
    let consumer = tokio::spawn(async move {
        let mut sum = 0_u64;
        let mut batch = Vec::with_capacity(MAX_ITEMS);
        let mut tick = tokio::time::interval(MAX_DELAY);
        loop {
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => {
                        batch.push(item);
                        if batch.len() == MAX_ITEMS {
                            sum += batch.drain(..).sum::<u64>();
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => sum += batch.drain(..).sum::<u64>(),
            }
        }
        sum + batch.drain(..).sum::<u64>()
    });
    for i in 0..ITEMS {
        tx.send(i).await.expect("consumer alive");
    }
    drop(tx);
    assert_eq!(consumer.await.expect("consumer ran"), EXPECTED_SUM);
}

async fn chunks_timeout() {
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
    for i in 0..ITEMS {
        tx.send(i).await.expect("consumer alive");
    }
    drop(tx);
    assert_eq!(consumer.await.expect("consumer ran"), EXPECTED_SUM);
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

async fn fire_and_forget() {
    let sum = Arc::new(AtomicU64::new(0));
    let batcher = summing_batcher(&sum);
    for i in 0..ITEMS {
        batcher.push(i).await.expect("batcher open");
    }
    batcher.drain().await;
    assert_eq!(sum.load(Ordering::Relaxed), EXPECTED_SUM);
}

async fn tickets() {
    let sum = Arc::new(AtomicU64::new(0));
    let batcher = summing_batcher(&sum);
    let mut pending = VecDeque::with_capacity(BUFFER);
    for i in 0..ITEMS {
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
    assert_eq!(sum.load(Ordering::Relaxed), EXPECTED_SUM);
}

async fn sink() {
    use futures::StreamExt;
    let sum = Arc::new(AtomicU64::new(0));
    let batcher = summing_batcher(&sum);
    // Named in full: tokio-stream's `StreamExt` has a `map` too.
    let items = StreamExt::map(futures::stream::iter(0..ITEMS), Ok);
    StreamExt::forward(items, batcher.sink())
        .await
        .expect("batcher open");
    assert_eq!(sum.load(Ordering::Relaxed), EXPECTED_SUM);
}

fn bench(c: &mut Criterion) {
    let rt = multi_thread(2);
    let mut group = workload_group(c, "batch/1m-items", ITEMS);
    group.bench_function("baseline: mpsc + select! loop", |b| {
        iter_runs(b, || time_spawned(&rt, baseline))
    });
    group.bench_function("chunks_timeout", |b| {
        iter_runs(b, || time_spawned(&rt, chunks_timeout))
    });
    group.bench_function("taskweave: fire-and-forget", |b| {
        iter_runs(b, || time_spawned(&rt, fire_and_forget))
    });
    group.bench_function("taskweave: tickets", |b| {
        iter_runs(b, || time_spawned(&rt, tickets))
    });
    group.bench_function("taskweave: sink", |b| {
        iter_runs(b, || time_spawned(&rt, sink))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
