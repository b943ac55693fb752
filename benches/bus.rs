//! `bus`: broadcast fan-out and topic routing.
//!
//! - `bus/fanout-8`: 1 publisher, 8 subscribers of one subject, 200k `u64` messages, buffer
//!   1024, on a 2-worker runtime, until every subscriber has drained. One operation is one
//!   *delivery* (a message reaching one subscriber): lossy contenders (tokio broadcast,
//!   taskweave drop-oldest) are timed per delivered message and report their losses in notes.
//!   The floor is lossless: one bounded mpsc channel per subscriber, the publisher sending each
//!   message to all eight.
//! - `bus/fanout-8-patterns`: the same, but the 8 subscribers use 8 different patterns that all
//!   match the published subject, so no two share a ring: the bus's worst case for fan-out.
//! - `bus/routing-1000`: 100k messages published to `orders.eu.created` while 1,000
//!   subscriptions exist, 8 of which match. The floor is 8 mpsc channels fed by a hand-written
//!   publisher that knows the 8 receivers (no routing at all); the second taskweave contender
//!   is the bus with only the 8 matching subscriptions, so the two differ by the cost of 992
//!   subscriptions that do not match.

use std::sync::Mutex;
use std::time::Duration;

use taskweave_benches::{Sample, Suite, multi_thread, note, time_spawned};
use taskweave_bus::{Bus, LagPolicy, RecvError};
use tokio::runtime::Runtime;

const SUBSCRIBERS: usize = 8;
const BUFFER: usize = 1024;

/// Deliveries and losses of one run, summed over its subscribers.
#[derive(Clone, Copy, Default)]
struct Tally {
    received: u64,
    lost: u64,
}

impl Tally {
    fn add(&mut self, (received, lost): (u64, u64)) {
        self.received += received;
        self.lost += lost;
    }
}

/// Times `workload` and turns its tally into a per-delivery sample, keeping the loss of the
/// latest run for the notes.
fn deliveries<F, Fut>(rt: &Runtime, last: &Mutex<Tally>, workload: F) -> Sample
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Tally> + Send + 'static,
{
    let slot = std::sync::Arc::new(Mutex::new(Tally::default()));
    let out = std::sync::Arc::clone(&slot);
    let fut = workload();
    let elapsed = time_spawned(rt, move || async move {
        let tally = fut.await;
        *out.lock().expect("not poisoned") = tally;
    });
    let tally = *slot.lock().expect("not poisoned");
    *last.lock().expect("not poisoned") = tally;
    Sample::delivered(elapsed, tally.received)
}

fn report_loss(group: &str, contender: &str, last: &Mutex<Tally>) {
    let t = *last.lock().expect("not poisoned");
    let total = t.received + t.lost;
    if total == 0 {
        return;
    }
    let text = if t.lost == 0 {
        "lossless: delivered every message".to_owned()
    } else {
        format!(
            "lost {:.1}% of deliveries to lag (timed per delivered message)",
            t.lost as f64 * 100.0 / total as f64
        )
    };
    note(group, contender, &text);
}

async fn mpsc_per_subscriber(messages: u64, subscribers: usize) -> Tally {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..subscribers)
        .map(|_| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(BUFFER);
            let task = tokio::spawn(async move {
                let mut received = 0;
                while rx.recv().await.is_some() {
                    received += 1;
                }
                (received, 0)
            });
            (tx, task)
        })
        .unzip();
    for i in 0..messages {
        for tx in &senders {
            tx.send(i).await.expect("the receiver is alive");
        }
    }
    drop(senders);
    let mut tally = Tally::default();
    for rx in receivers {
        tally.add(rx.await.expect("receiver does not panic"));
    }
    tally
}

async fn tokio_broadcast(messages: u64) -> Tally {
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
    for i in 0..messages {
        let _ = tx.send(i);
    }
    drop(tx);
    let mut tally = Tally::default();
    for rx in receivers {
        tally.add(rx.await.expect("receiver does not panic"));
    }
    tally
}

/// async-broadcast, lossless (its default: a full channel makes the sender wait), through its
/// boxed (`broadcast`/`recv`) or its direct (`broadcast_direct`/`recv_direct`) API.
async fn async_broadcast(messages: u64, direct: bool) -> Tally {
    let (tx, rx) = async_broadcast::broadcast::<u64>(BUFFER);
    let receivers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut rx = rx.clone();
            tokio::spawn(async move {
                let mut received = 0;
                loop {
                    let got = if direct {
                        rx.recv_direct().await
                    } else {
                        rx.recv().await
                    };
                    match got {
                        Ok(_) => received += 1,
                        Err(_) => return (received, 0),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    for i in 0..messages {
        let sent = if direct {
            tx.broadcast_direct(i).await
        } else {
            tx.broadcast(i).await
        };
        sent.expect("receivers are alive");
    }
    drop(tx);
    let mut tally = Tally::default();
    for rx in receivers {
        tally.add(rx.await.expect("receiver does not panic"));
    }
    tally
}

/// The taskweave bus with one subscriber per pattern in `patterns`, all matching `subject`.
async fn taskweave(messages: u64, policy: LagPolicy, patterns: &[&str], subject: &str) -> Tally {
    let bus = Bus::<u64>::new(BUFFER);
    let receivers: Vec<_> = patterns
        .iter()
        .map(|pattern| {
            let mut sub = bus
                .subscription(pattern)
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
    for i in 0..messages {
        bus.publish(subject, i).await.expect("the bus is open");
    }
    drop(bus);
    let mut tally = Tally::default();
    for rx in receivers {
        tally.add(rx.await.expect("receiver does not panic"));
    }
    tally
}

const ONE_PATTERN: [&str; SUBSCRIBERS] = ["ticks"; SUBSCRIBERS];
const EIGHT_PATTERNS: [&str; SUBSCRIBERS] = [
    "ticks.eu.fx",
    "ticks.*.fx",
    "ticks.eu.*",
    "ticks.>",
    "*.eu.fx",
    "ticks.eu.>",
    "*.*.fx",
    ">",
];

fn fanout(suite: &mut Suite, rt: &Runtime, id: &str, patterns: &'static [&'static str]) {
    let messages = suite.scale(200_000);
    let subject: &'static str = if patterns == ONE_PATTERN {
        "ticks"
    } else {
        "ticks.eu.fx"
    };
    let tokio_last = Mutex::new(Tally::default());
    let drop_oldest_last = Mutex::new(Tally::default());
    let scratch = Mutex::new(Tally::default());
    suite.group(id, messages * SUBSCRIBERS as u64, |g| {
        g.floor("mpsc per subscriber (lossless)", || {
            deliveries(rt, &scratch, || mpsc_per_subscriber(messages, SUBSCRIBERS))
        });
        g.ours("taskweave: lossless", || {
            deliveries(rt, &scratch, || {
                taskweave(messages, LagPolicy::Block, patterns, subject)
            })
        });
        g.ours("taskweave: drop-oldest (lossy)", || {
            deliveries(rt, &drop_oldest_last, || {
                taskweave(messages, LagPolicy::DropOldest, patterns, subject)
            })
        });
        g.peer("async-broadcast direct API (lossless)", || {
            deliveries(rt, &scratch, || async_broadcast(messages, true))
        });
        g.peer("async-broadcast boxed API (lossless)", || {
            deliveries(rt, &scratch, || async_broadcast(messages, false))
        });
        g.peer("tokio broadcast (lossy)", || {
            deliveries(rt, &tokio_last, || tokio_broadcast(messages))
        });
    });
    report_loss(id, "taskweave: drop-oldest (lossy)", &drop_oldest_last);
    report_loss(id, "tokio broadcast (lossy)", &tokio_last);
}

/// Publishes `routed` messages to `orders.eu.created` with 8 matching subscriptions and
/// `unrelated` subscriptions that do not match but share prefixes and wildcards with it.
/// Returns the time from the first publish until every matching subscriber has drained
/// (creating the subscriptions is setup, not measured).
async fn routing(routed: u64, unrelated: usize) -> Duration {
    let bus = Bus::<u64>::new(BUFFER);
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
    for i in 0..routed {
        bus.publish("orders.eu.created", i)
            .await
            .expect("the bus is open");
    }
    drop(bus);
    for rx in receivers {
        let seen = rx.await.expect("receiver does not panic");
        assert_eq!(seen, routed, "every message is accounted for");
    }
    let elapsed = start.elapsed();
    drop(others);
    elapsed
}

fn route(suite: &mut Suite, rt: &Runtime) {
    let routed = suite.scale(100_000);
    let scratch = Mutex::new(Tally::default());
    suite.group("bus/routing-1000", routed, |g| {
        g.floor("8 mpsc channels, no routing", || {
            deliveries(rt, &scratch, || mpsc_per_subscriber(routed, SUBSCRIBERS)).elapsed
        });
        g.ours("taskweave: 1,000 subscriptions, 8 matching", || {
            rt.block_on(rt.spawn(routing(routed, 992)))
                .expect("the workload does not panic")
        });
        g.ours("taskweave: 8 subscriptions, all matching", || {
            rt.block_on(rt.spawn(routing(routed, 0)))
                .expect("the workload does not panic")
        });
    });
}

fn main() {
    let mut suite = Suite::from_env();
    let rt = multi_thread(2);
    fanout(&mut suite, &rt, "bus/fanout-8", &ONE_PATTERN);
    fanout(&mut suite, &rt, "bus/fanout-8-patterns", &EIGHT_PATTERNS);
    route(&mut suite, &rt);
}
