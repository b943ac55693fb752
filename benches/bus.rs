//! `bus`: broadcast fan-out and topic routing.
//!
//! - `bus/fanout-8`: 1 publisher, 8 subscribers, 200k `u64` messages, buffer 1024, on a
//!   2-worker runtime; time per published message, until every subscriber has drained. Lossy
//!   contenders report their losses with `note`.
//! - `bus/routing-1000`: 100k messages published to `orders.eu.created` while 1,000
//!   subscriptions exist, 8 of which match (exact, `*` and `>` patterns). The baseline is the
//!   same bus with only the 8 matching subscriptions, so the ratio is the cost of the 992
//!   subscriptions that do not match.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use taskweave_benches::{iter_runs, multi_thread, note, time_spawned, workload_group};
use taskweave_bus::{Bus, LagPolicy, RecvError};

const MESSAGES: u64 = 200_000;
const SUBSCRIBERS: usize = 8;
const BUFFER: usize = 1024;
const ROUTED: u64 = 100_000;

/// Deliveries and losses summed over all subscribers of one contender, and the time they
/// took, across iterations.
#[derive(Default)]
struct Tally {
    received: AtomicU64,
    lost: AtomicU64,
    nanos: AtomicU64,
}

impl Tally {
    fn add(&self, received: u64, lost: u64) {
        self.received.fetch_add(received, Ordering::Relaxed);
        self.lost.fetch_add(lost, Ordering::Relaxed);
    }

    fn timed(&self, elapsed: Duration) -> Duration {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        elapsed
    }

    /// Notes the share of deliveries lost and, since a contender that loses more has less to
    /// deliver, the rate at which messages reached subscribers.
    fn report(&self, group: &str, contender: &str) {
        let received = self.received.load(Ordering::Relaxed);
        let lost = self.lost.load(Ordering::Relaxed);
        let nanos = self.nanos.load(Ordering::Relaxed);
        let total = received + lost;
        if total == 0 || nanos == 0 {
            return;
        }
        let loss = if lost == 0 {
            "no loss".to_owned()
        } else {
            format!(
                "lost {:.1}% of deliveries to lag",
                lost as f64 * 100.0 / total as f64
            )
        };
        let rate = received as f64 * 1e3 / nanos as f64;
        note(
            group,
            contender,
            &format!("{loss}; delivered {rate:.1} million messages/s to subscribers"),
        );
    }
}

fn buffer() -> usize {
    BUFFER
}

async fn tokio_broadcast(tally: Arc<Tally>) {
    use tokio::sync::broadcast::error::RecvError as TokioRecvError;
    let (tx, _) = tokio::sync::broadcast::channel::<u64>(BUFFER);
    let receivers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let (mut received, mut lost) = (0, 0);
                loop {
                    match rx.recv().await {
                        Ok(_) => received += 1,
                        Err(TokioRecvError::Lagged(n)) => lost += n,
                        Err(TokioRecvError::Closed) => return (received, lost),
                    }
                }
            })
        })
        .collect();
    for i in 0..MESSAGES {
        let _ = tx.send(i);
    }
    drop(tx);
    for rx in receivers {
        let (received, lost) = rx.await.expect("receiver does not panic");
        assert_eq!(received + lost, MESSAGES, "every message is accounted for");
        tally.add(received, lost);
    }
}

async fn async_broadcast(tally: Arc<Tally>) {
    use async_broadcast::RecvError as AsyncRecvError;
    let (tx, rx) = async_broadcast::broadcast::<u64>(BUFFER);
    let receivers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = rx.clone();
            // The same loop as every other contender's, so that only the channel differs.
            tokio::spawn(async move {
                let (mut received, mut lost) = (0, 0);
                loop {
                    match rx.recv().await {
                        Ok(_) => received += 1,
                        Err(AsyncRecvError::Overflowed(n)) => lost += n,
                        Err(AsyncRecvError::Closed) => return (received, lost),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    for i in 0..MESSAGES {
        tx.broadcast(i).await.expect("receivers are alive");
    }
    drop(tx);
    for rx in receivers {
        let (received, lost) = rx.await.expect("receiver does not panic");
        assert_eq!(received + lost, MESSAGES, "every message is accounted for");
        tally.add(received, lost);
    }
}

async fn taskweave(policy: LagPolicy, tally: Arc<Tally>) {
    let bus = Bus::<u64>::new(buffer());
    let receivers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut sub = bus
                .subscription("ticks")
                .lag_policy(policy)
                .build()
                .expect("a valid subscription");
            tokio::spawn(async move {
                let (mut received, mut lost) = (0, 0);
                loop {
                    match sub.recv().await {
                        Ok(_) => received += 1,
                        Err(RecvError::Lagged(n)) => lost += n,
                        Err(_) => return (received, lost),
                    }
                }
            })
        })
        .collect();
    for i in 0..MESSAGES {
        bus.publish("ticks", i).await.expect("the bus is open");
    }
    drop(bus);
    for rx in receivers {
        let (received, lost) = rx.await.expect("receiver does not panic");
        assert_eq!(received + lost, MESSAGES, "every message is accounted for");
        tally.add(received, lost);
    }
}

fn fanout(c: &mut Criterion) {
    const GROUP: &str = "bus/fanout-8";
    let rt = multi_thread(2);
    let mut group = workload_group(c, GROUP, MESSAGES);

    let mut contender = |name: &str, run: &dyn Fn(Arc<Tally>) -> Duration| {
        let tally = Arc::new(Tally::default());
        group.bench_function(name, |b| {
            iter_runs(b, || tally.timed(run(Arc::clone(&tally))))
        });
        tally.report(GROUP, name);
    };
    contender("baseline: tokio broadcast", &|t| {
        time_spawned(&rt, || tokio_broadcast(t))
    });
    contender("async-broadcast", &|t| {
        time_spawned(&rt, || async_broadcast(t))
    });
    contender("taskweave: drop-oldest", &|t| {
        time_spawned(&rt, || taskweave(LagPolicy::DropOldest, t))
    });
    contender("taskweave: lossless", &|t| {
        time_spawned(&rt, || taskweave(LagPolicy::Block, t))
    });
    group.finish();
}

/// Publishes [`ROUTED`] messages to `orders.eu.created` with 8 matching subscriptions and
/// `unrelated` subscriptions that do not match but share prefixes and wildcards with it.
/// Returns the time from the first publish until every matching subscriber has drained
/// (creating the subscriptions is setup, not measured).
async fn routing(unrelated: usize) -> Duration {
    let bus = Bus::<u64>::new(buffer());
    let matching = [
        "orders.eu.created",
        "orders.eu.created",
        "orders.*.created",
        "orders.*.created",
        "orders.eu.*",
        "orders.eu.>",
        "orders.>",
        "*.eu.created",
    ];
    let receivers: Vec<_> = matching
        .iter()
        .map(|pattern| {
            let mut sub = bus.subscribe(pattern).expect("a valid pattern");
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    match sub.recv().await {
                        Ok(_) => seen += 1,
                        Err(RecvError::Lagged(n)) => seen += n,
                        Err(_) => return seen,
                    }
                }
            })
        })
        .collect();
    let others: Vec<_> = (0..unrelated)
        .map(|i| {
            let pattern = match i % 4 {
                0 => format!("orders.r{i}.created"),
                1 => format!("orders.r{i}.>"),
                2 => format!("orders.*.s{i}"),
                _ => format!("payments.r{i}.>"),
            };
            bus.subscribe(&pattern).expect("a valid pattern")
        })
        .collect();
    let start = tokio::time::Instant::now();
    for i in 0..ROUTED {
        bus.publish("orders.eu.created", i)
            .await
            .expect("the bus is open");
    }
    drop(bus);
    for rx in receivers {
        let seen = rx.await.expect("receiver does not panic");
        assert_eq!(seen, ROUTED, "every message is accounted for");
    }
    let elapsed = start.elapsed();
    drop(others);
    elapsed
}

fn route(c: &mut Criterion) {
    let rt = multi_thread(2);
    let mut group = workload_group(c, "bus/routing-1000", ROUTED);
    let mut contender = |name: &str, unrelated: usize| {
        group.bench_function(name, |b| {
            iter_runs(b, || {
                rt.block_on(rt.spawn(routing(unrelated)))
                    .expect("the workload does not panic")
            })
        });
    };
    contender("baseline: taskweave, 8 subscriptions, all matching", 0);
    contender("taskweave: 1,000 subscriptions, 8 matching", 992);
    group.finish();
}

criterion_group!(benches, fanout, route);
criterion_main!(benches);
