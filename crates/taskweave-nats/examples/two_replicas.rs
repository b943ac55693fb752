//! Two replicas of one service, sharing events and jobs through NATS.
//!
//! Each replica has its own local bus, bridged to NATS: an order created on one replica
//! reaches the subscribers of both. Jobs submitted to the JetStream work queue are shared
//! between the replicas, each run once, on a taskweave-pool.
//!
//! ```text
//! cargo run -p taskweave-nats --example two_replicas                 # starts its own nats-server
//! cargo run -p taskweave-nats --example two_replicas nats://127.0.0.1:4222   # or uses yours (with -js)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy};
use taskweave_nats::testing::NatsServer;
use taskweave_nats::{Bridge, Connection, Json, WorkQueue, Worker};
use taskweave_pool::Pool;

struct Replica {
    bus: Bus<String>,
    bridge: Bridge,
    worker: Worker,
    jobs_done: Arc<AtomicU64>,
}

async fn replica(name: &str, url: &str) -> Result<Replica, Box<dyn std::error::Error>> {
    let conn = Connection::builder(url).name(name).connect().await?;
    let bus: Bus<String> = Bus::new(1024);
    // Local code publishes and subscribes as always; the bridge carries `orders.>` both ways.
    let bridge = Bridge::builder(&conn, &bus, Json)
        .name(name)
        .export("orders.>")
        .import("orders.>")
        .build()
        .await?;
    let queue = WorkQueue::<u64, _>::builder(&conn, Json, "INVOICES", "invoices.render")
        .max_in_flight(8)
        .build()
        .await?;
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(8)
        .build()?;
    let jobs_done = Arc::new(AtomicU64::new(0));
    let done = Arc::clone(&jobs_done);
    let worker = queue.run(move |invoice: u64| {
        let (pool, done) = (pool.clone(), Arc::clone(&done));
        async move {
            let handle = pool
                .submit(async move {
                    tokio::time::sleep(Duration::from_millis(5)).await; // "render" it
                    invoice
                })
                .await
                .map_err(|e| e.to_string())?;
            handle.await.map_err(|e| e.to_string())?;
            done.fetch_add(1, Ordering::Relaxed);
            Ok::<(), String>(())
        }
    });
    Ok(Replica {
        bus,
        bridge,
        worker,
        jobs_done,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_server, url) = match std::env::args().nth(1) {
        Some(url) => (None, url),
        None => {
            let server = NatsServer::builder().jetstream().start()?;
            let url = server.url();
            (Some(server), url)
        }
    };
    let a = replica("replica-a", &url).await?;
    let b = replica("replica-b", &url).await?;
    let mut audit_b = b
        .bus
        .subscription("orders.*.created")
        .lag_policy(LagPolicy::Block)
        .build()?;

    for id in 1..=3 {
        a.bus
            .publish("orders.eu.created", format!("order {id}"))
            .await?;
    }
    for _ in 1..=3 {
        let envelope = audit_b.recv_with_subject().await?;
        println!(
            "replica-b saw {} on {}",
            envelope.message(),
            envelope.subject()
        );
    }

    let submit = WorkQueue::<u64, _>::builder(
        &Connection::connect(&url).await?,
        Json,
        "INVOICES",
        "invoices.render",
    )
    .build()
    .await?;
    for invoice in 0..40 {
        submit.submit(&invoice).await?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.jobs_done.load(Ordering::Relaxed) + b.jobs_done.load(Ordering::Relaxed) < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs not done in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (name, r) in [("replica-a", &a), ("replica-b", &b)] {
        r.worker.drain().await;
        r.bridge.drain().await;
        println!(
            "{name}: rendered {} invoices; bridge {:?}",
            r.jobs_done.load(Ordering::Relaxed),
            r.bridge.metrics()
        );
    }
    Ok(())
}
