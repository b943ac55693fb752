//! An order service publishes events on a bus; three consumers subscribe with different
//! needs:
//!
//! - an audit log that must see every `created` event (lossless: `LagPolicy::Block`),
//! - a dashboard that only cares about recent European events and must never slow the
//!   service down (drop-oldest, small buffer, a filter),
//! - a status board that joins late and first replays the last event of every subject
//!   (region and kind), then follows live events.
//!
//! A `CancellationToken` shuts everything down; consumers drain and stop.
//!
//! Run with `cargo run -p taskweave-bus --example order_events`.

use std::sync::Arc;
use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy, RecvError};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct OrderEvent {
    order: u32,
    region: &'static str,
    kind: &'static str,
    amount_cents: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shutdown = CancellationToken::new();
    // Events are shared, not copied, between subscribers: `Arc<OrderEvent>`.
    let bus: Bus<Arc<OrderEvent>> = Bus::builder()
        .capacity(64)
        .retain_last(1)
        .cancellation_token(shutdown.clone())
        .build()?;

    let mut audit = bus
        .subscription("orders.*.created")
        .lag_policy(LagPolicy::Block)
        .build()?;
    let audit = tokio::spawn(async move {
        let mut total = 0;
        let mut count = 0;
        while let Ok(event) = audit.recv().await {
            // A slow sink: the service waits for it rather than losing an order.
            tokio::time::sleep(Duration::from_micros(200)).await;
            total += event.amount_cents;
            count += 1;
        }
        println!(
            "audit: {count} orders created, {:.2} EUR total",
            total as f64 / 100.0
        );
    });

    let mut dashboard = bus
        .subscription("orders.eu.>")
        .capacity(8)
        .filter(|event| event.amount_cents >= 10_000)
        .build()?;
    let dashboard = tokio::spawn(async move {
        let (mut shown, mut skipped) = (0, 0);
        loop {
            match dashboard.recv().await {
                Ok(_event) => {
                    shown += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(RecvError::Lagged(n)) => skipped += n,
                Err(_) => break,
            }
        }
        println!("dashboard: showed {shown} large EU events, skipped {skipped} while busy");
    });

    let service = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let regions = ["eu", "us", "apac"];
            for order in 0..300u32 {
                let region = regions[order as usize % regions.len()];
                for kind in ["created", "paid", "shipped"] {
                    let event = Arc::new(OrderEvent {
                        order,
                        region,
                        kind,
                        amount_cents: u64::from(order % 50) * 700,
                    });
                    let subject = format!("orders.{region}.{kind}");
                    if bus.publish(&subject, event).await.is_err() {
                        return;
                    }
                }
            }
        })
    };
    service.await?;

    // A late joiner: the last event of every subject, then live updates.
    let mut board = bus.subscription("orders.>").replay(1).build()?;
    bus.publish(
        "orders.eu.created",
        Arc::new(OrderEvent {
            order: 300,
            region: "eu",
            kind: "created",
            amount_cents: 12_345,
        }),
    )
    .await?;
    let mut latest = std::collections::BTreeMap::new();
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(50), board.recv()).await {
        latest.insert((event.region, event.kind), event.order);
    }
    println!("status board: latest order per (region, kind): {latest:?}");

    let metrics = bus.metrics();
    println!(
        "metrics before shutdown: {} published, {} delivered, {} refused, {} lagged",
        metrics.published, metrics.delivered, metrics.refused, metrics.lagged
    );
    for stats in &metrics.subscribers {
        println!(
            "  {} {:<18} {:<11} queued {:>3}, received {:>4}, dropped {:>4}",
            stats.id, stats.pattern, stats.policy, stats.queued, stats.received, stats.dropped
        );
    }
    shutdown.cancel();
    audit.await?;
    dashboard.await?;
    println!("bus closed: {}", bus.is_closed());
    Ok(())
}
