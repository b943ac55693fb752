//! `nats`: the bus and the work queue across processes, over a loopback `nats-server`.
//!
//! - `nats/fanout-8`: 1 publisher, 8 subscribers spread over two replicas (4 each), 20k `u64`
//!   messages encoded as JSON; one operation is one delivery (a message reaching one
//!   subscriber). The floor is async-nats used directly: two subscriber connections with 4
//!   subscriptions each, so the server sends every message 8 times. The taskweave contender
//!   exports from a local bus through one bridge and imports into two bridges, whose local
//!   buses fan out to 4 blocking subscriptions each. Losses (core NATS is at most once) are
//!   counted: the bridge's gap accounting, the floor's missing deliveries.
//! - `nats/work-queue-64`: 2k jobs (a yield each) drained from a JetStream work-queue stream
//!   by one replica running at most 64 at once, acknowledging each. The floor pulls batches
//!   with async-nats and spawns each job under a 64-permit semaphore; the taskweave contender
//!   is a `WorkQueue` worker. The stream is filled before each run, outside the timing.
//!
//! Needs `nats-server` (Debian package `nats-server`); without it the bench says so and
//! measures nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt as _;
use taskweave_benches::{Sample, Suite, multi_thread, note, spawned_timing};
use taskweave_bus::{Bus, LagPolicy};
use taskweave_nats::testing::NatsServer;
use taskweave_nats::{Bridge, Connection, Json, WorkQueue};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

const SUBJECT: &str = "bench.fanout";
const PER_REPLICA: usize = 4;
/// A delivery that has not arrived after this long is counted as lost.
const STALL: Duration = Duration::from_secs(2);
const IN_FLIGHT: usize = 64;

async fn connect(url: &str) -> Connection {
    Connection::connect(url)
        .await
        .expect("connect to the bench server")
}

/// Receives until `n` messages arrived or the stream stalls; returns how many arrived and
/// when the last one did (so a stalled, lossy run is not charged the stall).
async fn count<S, T>(mut stream: S, n: u64) -> (u64, tokio::time::Instant)
where
    S: futures::Stream<Item = T> + Unpin,
{
    let mut got = 0;
    let mut last = tokio::time::Instant::now();
    while got < n {
        match tokio::time::timeout(STALL, stream.next()).await {
            Ok(Some(_)) => {
                got += 1;
                last = tokio::time::Instant::now();
            }
            _ => break,
        }
    }
    (got, last)
}

/// Sums the counts of the subscriber tasks; returns it with the time from `start` to the
/// last delivery.
async fn total(
    start: tokio::time::Instant,
    tasks: Vec<tokio::task::JoinHandle<(u64, tokio::time::Instant)>>,
) -> (u64, std::time::Duration) {
    let (mut got, mut last) = (0, start);
    for task in tasks {
        let (n, at) = task.await.expect("counter");
        got += n;
        last = last.max(at);
    }
    (got, last - start)
}

fn loss_note(group: &str, contender: &str, delivered: u64, expected: u64) {
    note(
        group,
        contender,
        &format!("lost {} of {expected} deliveries", expected - delivered),
    );
}

fn fanout(suite: &mut Suite, rt: &Runtime, url: &str) {
    let messages = suite.scale(20_000);
    let deliveries = messages * (2 * PER_REPLICA) as u64;
    let group = "nats/fanout-8";

    // The floor's connections, reused by every run.
    let (raw_pub, raw_subs) = rt.block_on(async {
        let publisher = async_nats::connect(url).await.expect("connect");
        let subs = [
            async_nats::connect(url).await.expect("connect"),
            async_nats::connect(url).await.expect("connect"),
        ];
        (publisher, subs)
    });
    // The bridges: one exporting replica, two importing ones.
    let (source, sinks, bridges) = rt.block_on(async {
        let source: Bus<u64> = Bus::new(1024);
        let exporter = Bridge::builder(&connect(url).await, &source, Json)
            .name("publisher")
            .export(SUBJECT)
            .lag_policy(LagPolicy::Block)
            .build()
            .await
            .expect("exporter");
        let mut sinks = Vec::new();
        let mut bridges = vec![exporter];
        for name in ["replica-a", "replica-b"] {
            let bus: Bus<u64> = Bus::new(1024);
            let bridge = Bridge::builder(&connect(url).await, &bus, Json)
                .name(name)
                .import(SUBJECT)
                .build()
                .await
                .expect("importer");
            sinks.push(bus);
            bridges.push(bridge);
        }
        (source, sinks, bridges)
    });
    let floor_delivered = Arc::new(AtomicU64::new(0));
    let ours_delivered = Arc::new(AtomicU64::new(0));

    suite.group(group, deliveries, |g| {
        let delivered = Arc::clone(&floor_delivered);
        g.floor("async-nats direct", move || {
            let (publisher, subs) = (raw_pub.clone(), raw_subs.clone());
            let out = Arc::clone(&delivered);
            let elapsed = spawned_timing(rt, async move {
                let mut counters = Vec::new();
                for client in &subs {
                    for _ in 0..PER_REPLICA {
                        let sub = client.subscribe(SUBJECT).await.expect("subscribe");
                        counters.push(sub);
                    }
                    client.flush().await.expect("flush");
                }
                let start = tokio::time::Instant::now();
                let tasks: Vec<_> = counters
                    .into_iter()
                    .map(|sub| {
                        tokio::spawn(count(
                            sub.map(|m| serde_json::from_slice::<u64>(&m.payload).expect("u64")),
                            messages,
                        ))
                    })
                    .collect();
                for i in 0..messages {
                    let payload = serde_json::to_vec(&i).expect("encode");
                    publisher
                        .publish(SUBJECT, payload.into())
                        .await
                        .expect("publish");
                }
                publisher.flush().await.expect("flush");
                let (got, elapsed) = total(start, tasks).await;
                out.store(got, Ordering::Relaxed);
                elapsed
            });
            Sample::delivered(elapsed, delivered.load(Ordering::Relaxed))
        });
        let delivered = Arc::clone(&ours_delivered);
        let (source, sinks) = (source.clone(), sinks.clone());
        g.ours("taskweave-nats bridge", move || {
            let (source, sinks) = (source.clone(), sinks.clone());
            let out = Arc::clone(&delivered);
            let elapsed = spawned_timing(rt, async move {
                let subs: Vec<_> = sinks
                    .iter()
                    .flat_map(|bus| {
                        (0..PER_REPLICA).map(move |_| {
                            bus.subscription(SUBJECT)
                                .lag_policy(LagPolicy::Block)
                                .build()
                                .expect("subscribe")
                        })
                    })
                    .collect();
                let start = tokio::time::Instant::now();
                let tasks: Vec<_> = subs
                    .into_iter()
                    .map(|sub| tokio::spawn(count(sub, messages)))
                    .collect();
                for i in 0..messages {
                    source.publish(SUBJECT, i).await.expect("publish");
                }
                let (got, elapsed) = total(start, tasks).await;
                out.store(got, Ordering::Relaxed);
                elapsed
            });
            Sample::delivered(elapsed, delivered.load(Ordering::Relaxed))
        });
    });
    loss_note(
        group,
        "async-nats direct",
        floor_delivered.load(Ordering::Relaxed),
        deliveries,
    );
    let gaps: u64 = bridges.iter().map(|b| b.metrics().gaps).sum();
    note(
        group,
        "taskweave-nats bridge",
        &format!(
            "lost {} of {deliveries} deliveries in the last run; gaps reported by the importers over all runs: {gaps}",
            deliveries - ours_delivered.load(Ordering::Relaxed)
        ),
    );
    for bridge in bridges {
        bridge.abort();
    }
}

/// Fills `subject` with `n` JSON-encoded jobs, pipelining the acknowledgements.
async fn fill(js: &jetstream::Context, subject: &'static str, n: u64) {
    let mut acks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let payload = serde_json::to_vec(&i).expect("encode");
        acks.push(js.publish(subject, payload.into()).await.expect("publish"));
    }
    for ack in acks {
        ack.await.expect("stored");
    }
}

fn work_queue(suite: &mut Suite, rt: &Runtime, url: &str) {
    let jobs = suite.scale(2_000);
    let group = "nats/work-queue-64";
    let (raw_js, raw_consumer, ours_js, queue) = rt.block_on(async {
        let client = async_nats::connect(url).await.expect("connect");
        let js = jetstream::new(client);
        let stream = js
            .get_or_create_stream(stream::Config {
                name: "RAW".into(),
                subjects: vec!["raw.jobs".into()],
                retention: stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await
            .expect("stream");
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                "raw",
                consumer::pull::Config {
                    durable_name: Some("raw".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    max_ack_pending: -1,
                    ..Default::default()
                },
            )
            .await
            .expect("consumer");
        let conn = connect(url).await;
        let queue = WorkQueue::<u64, _>::builder(&conn, Json, "OURS", "ours.jobs")
            .max_in_flight(IN_FLIGHT)
            .build()
            .await
            .expect("work queue");
        let ours_js = jetstream::new(conn.client().clone());
        (js, consumer, ours_js, queue)
    });

    suite.group(group, jobs, |g| {
        g.floor("async-nats direct", || {
            let (js, consumer) = (raw_js.clone(), raw_consumer.clone());
            spawned_timing(rt, async move {
                fill(&js, "raw.jobs", jobs).await;
                let start = tokio::time::Instant::now();
                let done = Arc::new(AtomicU64::new(0));
                let counted = Arc::clone(&done);
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let stopped = Arc::clone(&stop);
                let puller = tokio::spawn(async move {
                    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
                    let mut tasks = tokio::task::JoinSet::new();
                    // No pull left pending at the server when the run ends (it would take
                    // the next run's jobs).
                    while !stopped.load(Ordering::Relaxed) {
                        // As a worker does: wait for a free slot, pull as many jobs as slots.
                        let first = Arc::clone(&slots).acquire_owned().await.expect("open");
                        let mut permits = vec![first];
                        while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                            permits.push(permit);
                        }
                        let mut batch = consumer
                            .batch()
                            .max_messages(permits.len())
                            .expires(Duration::from_millis(500))
                            .messages()
                            .await
                            .expect("pull");
                        while let Some(Ok(msg)) = batch.next().await {
                            let Some(permit) = permits.pop() else { break };
                            let done = Arc::clone(&counted);
                            tasks.spawn(async move {
                                let _job: u64 = serde_json::from_slice(&msg.payload).expect("u64");
                                tokio::task::yield_now().await;
                                msg.ack().await.expect("ack");
                                done.fetch_add(1, Ordering::Relaxed);
                                drop(permit);
                            });
                        }
                        drop(permits);
                        while tasks.try_join_next().is_some() {}
                    }
                });
                // Measured as the worker is: until every job is acknowledged.
                while done.load(Ordering::Relaxed) < jobs {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let elapsed = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                puller.await.expect("puller");
                elapsed
            })
        });
        g.ours("taskweave-nats WorkQueue", || {
            let (js, queue) = (ours_js.clone(), queue.clone());
            spawned_timing(rt, async move {
                fill(&js, "ours.jobs", jobs).await;
                let start = tokio::time::Instant::now();
                let worker = queue.run(|_job: u64| async {
                    tokio::task::yield_now().await;
                    Ok::<(), std::io::Error>(())
                });
                while worker.metrics().succeeded < jobs {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let elapsed = start.elapsed();
                worker.drain().await;
                elapsed
            })
        });
    });
    note(
        group,
        "taskweave-nats WorkQueue",
        "every job acknowledged once; none lost",
    );
}

fn main() {
    if !NatsServer::is_installed() {
        eprintln!(
            "nats bench skipped: nats-server is not installed (apt-get install -y nats-server)"
        );
        return;
    }
    let server = NatsServer::builder()
        .jetstream()
        .start()
        .expect("start nats-server");
    let mut suite = Suite::from_env();
    let rt = multi_thread(2);
    fanout(&mut suite, &rt, &server.url());
    work_queue(&mut suite, &rt, &server.url());
}
