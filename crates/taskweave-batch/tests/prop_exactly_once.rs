//! For any sequence of submissions, timings, explicit flushes and flush durations: every item is
//! flushed exactly once, in order, in batches within the limits, every ticket gets its own
//! item's result — and, with free flush slots, a batch closed by age is flushed exactly
//! `max_delay` after its first item.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use taskweave_batch::{BatchedExt, Batcher, Limits};
use tokio::time::Instant;

#[derive(Debug, Clone)]
enum Op {
    /// Wait `gap` ms, then submit an item of this weight.
    Submit { gap: u64, weight: u64 },
    /// Wait `gap` ms, then call `flush()`.
    Flush { gap: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..8u64, 1..12u64).prop_map(|(gap, weight)| Op::Submit { gap, weight }),
        1 => (0..8u64).prop_map(|gap| Op::Flush { gap }),
    ]
}

#[derive(Debug, Clone)]
struct Config {
    max_items: usize,
    delay_ms: u64,
    max_weight: Option<u64>,
    concurrency: usize,
    /// How long each flush takes, in ms (0: instant).
    flush_ms: u64,
    /// Extra buffer beyond one batch.
    slack: usize,
}

fn config() -> impl Strategy<Value = Config> {
    (
        1..6usize,
        0..12u64,
        proptest::option::of(5..30u64),
        1..4usize,
        0..6u64,
        0..8usize,
    )
        .prop_map(
            |(max_items, delay_ms, max_weight, concurrency, flush_ms, slack)| Config {
                max_items,
                delay_ms,
                max_weight,
                concurrency,
                flush_ms,
                slack,
            },
        )
}

/// An item: its sequence number and weight.
type Item = (usize, u64);

/// A batch and the time the handler received it.
type Timed = (Instant, Vec<Item>);

struct Run {
    /// Batches in the order the handler was called, with the time.
    batches: Vec<Timed>,
    /// When each item was accepted.
    accepted: Vec<Instant>,
    /// When each explicit flush happened.
    flushes: Vec<Instant>,
}

fn run(config: &Config, ops: &[Op]) -> Run {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let log: Arc<Mutex<Vec<Timed>>> = Arc::default();
        let mut builder = Batcher::builder()
            .max_items(config.max_items)
            .max_delay(Duration::from_millis(config.delay_ms))
            .max_buffered_items(config.max_items + config.slack)
            .max_concurrent_flushes(config.concurrency);
        if let Some(max) = config.max_weight {
            builder = builder.max_weight(max, |item: &Item| item.1);
        }
        let flush_time = Duration::from_millis(config.flush_ms);
        let batcher = builder
            .build({
                let log = Arc::clone(&log);
                move |batch: Vec<Item>| {
                    log.lock().unwrap().push((Instant::now(), batch.clone()));
                    async move {
                        if !flush_time.is_zero() {
                            tokio::time::sleep(flush_time).await;
                        }
                        Ok::<_, String>(batch.iter().map(|(seq, _)| *seq).collect::<Vec<_>>())
                    }
                }
            })
            .unwrap();
        let mut tickets = Vec::new();
        let mut accepted = Vec::new();
        let mut flushes = Vec::new();
        for op in ops {
            match *op {
                Op::Submit { gap, weight } => {
                    tokio::time::sleep(Duration::from_millis(gap)).await;
                    let seq = tickets.len();
                    tickets.push(batcher.submit((seq, weight)).await.unwrap());
                    accepted.push(Instant::now());
                }
                Op::Flush { gap } => {
                    tokio::time::sleep(Duration::from_millis(gap)).await;
                    batcher.flush();
                    flushes.push(Instant::now());
                }
            }
        }
        batcher.drain().await;
        for (seq, ticket) in tickets.into_iter().enumerate() {
            let result = futures_util::FutureExt::now_or_never(ticket)
                .expect("every ticket has resolved after drain");
            assert_eq!(result.unwrap(), seq, "ticket got another item's result");
        }
        let m = batcher.metrics();
        assert_eq!(m.accepted as usize, accepted.len());
        assert_eq!(m.items_flushed as usize, accepted.len());
        assert_eq!(m.buffered_items, 0);
        let batches = log.lock().unwrap().clone();
        assert_eq!(m.triggers.total() as usize, batches.len());
        Run {
            batches,
            accepted,
            flushes,
        }
    })
}

fn check_limits(config: &Config, batch: &[Item]) -> Result<(), TestCaseError> {
    prop_assert!(!batch.is_empty());
    prop_assert!(batch.len() <= config.max_items);
    if let Some(max) = config.max_weight {
        let weight: u64 = batch.iter().map(|(_, w)| w).sum();
        prop_assert!(
            weight <= max || batch.len() == 1,
            "batch {batch:?} over {max}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_item_is_flushed_exactly_once_in_order_within_limits(
        config in config(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        let run = run(&config, &ops);
        let n = run.accepted.len();
        // Batches are handed to the handler in order, each a contiguous run of items.
        let flat: Vec<usize> = run.batches.iter().flat_map(|(_, b)| b.iter().map(|i| i.0)).collect();
        prop_assert_eq!(flat, (0..n).collect::<Vec<_>>());
        for (_, batch) in &run.batches {
            check_limits(&config, batch)?;
        }
    }

    #[test]
    fn with_free_flush_slots_an_aged_batch_flushes_exactly_at_max_delay(
        mut config in config(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        // Instant flushes and a roomy buffer: nothing ever waits for a slot or for space.
        config.flush_ms = 0;
        config.slack = 1000;
        let run = run(&config, &ops);
        let delay = Duration::from_millis(config.delay_ms);
        let mut next = 0;
        let last = run.batches.len().saturating_sub(1);
        for (i, (at, batch)) in run.batches.iter().enumerate() {
            let first = run.accepted[next];
            next += batch.len();
            // Never later than the first item's deadline.
            prop_assert!(*at <= first + delay, "batch {batch:?} flushed late");
            let weight: u64 = batch.iter().map(|(_, w)| w).sum();
            let by_size = batch.len() == config.max_items;
            let by_weight = config.max_weight.is_some_and(|max| {
                weight >= max || run.batches.get(i + 1).is_some_and(|(_, b)| weight + b[0].1 > max)
            });
            let by_flush = run.flushes.iter().any(|f| *f >= first && *f <= *at);
            if !by_size && !by_weight && !by_flush && i != last {
                // Closed by age: not a moment early.
                prop_assert_eq!(*at, first + delay, "batch {:?} flushed early", batch);
            }
        }
    }

    #[test]
    fn the_stream_adapter_keeps_every_item_once_in_order_within_limits(
        config in config(),
        weights in proptest::collection::vec(1..12u64, 0..80),
    ) {
        let mut builder = Limits::builder()
            .max_items(config.max_items)
            .max_delay(Duration::from_millis(config.delay_ms));
        if let Some(max) = config.max_weight {
            builder = builder.max_weight(max, |item: &Item| item.1);
        }
        let limits = builder.build().unwrap();
        let items: Vec<Item> = weights.into_iter().enumerate().collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let batches: Vec<Vec<Item>> = rt.block_on(
            futures_util::StreamExt::collect(futures_util::stream::iter(items.clone()).batched(limits)),
        );
        let flat: Vec<Item> = batches.iter().flatten().copied().collect();
        prop_assert_eq!(flat, items);
        for batch in &batches {
            check_limits(&config, batch)?;
        }
    }
}
