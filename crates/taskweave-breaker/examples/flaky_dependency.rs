//! A client calls a flaky inventory service through a circuit breaker, with retries outside it.
//!
//! The service goes down for a while. The breaker notices within a few calls, opens, and from
//! then on the client fails fast instead of waiting on a dead dependency; the retry loop honours
//! the rejection's `retry_after` instead of hammering. Once the service recovers, trial calls
//! close the breaker again. Transitions are printed as they happen.
//!
//! Run with `cargo run -p taskweave-breaker --example flaky_dependency`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use taskweave_breaker::{Breaker, CallError, Outcome};
use tokio::time::{Instant, sleep};

#[derive(Debug)]
enum InventoryError {
    /// The item does not exist: the service is fine, the request was wrong.
    NotFound,
    Unavailable,
}

/// The dependency: answers in 5 ms while up, and times out after 50 ms while down.
struct Inventory {
    up: AtomicBool,
    calls: AtomicU32,
}

impl Inventory {
    async fn stock(&self, item: u32) -> Result<u32, InventoryError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.up.load(Ordering::Relaxed) {
            sleep(Duration::from_millis(5)).await;
            if item % 7 == 0 {
                Err(InventoryError::NotFound)
            } else {
                Ok(item * 3)
            }
        } else {
            sleep(Duration::from_millis(50)).await;
            Err(InventoryError::Unavailable)
        }
    }
}

/// Retry outside, breaker inside: every attempt goes through the breaker, so a trip stops the
/// retries too, and a rejection tells the loop how long to back off.
async fn stock_with_retries(
    breaker: &Breaker<impl taskweave_breaker::Classify<u32, InventoryError>>,
    inventory: &Inventory,
    item: u32,
) -> Result<u32, String> {
    let mut last = String::new();
    for attempt in 1..=3 {
        match breaker.call(|| inventory.stock(item)).await {
            Ok(n) => return Ok(n),
            Err(CallError::Operation(InventoryError::NotFound)) => {
                return Err("no such item".into());
            }
            Err(CallError::Operation(e)) => last = format!("{e:?} on attempt {attempt}"),
            Err(CallError::Rejected(r)) => {
                // Failing fast: do not wait for the whole open period in a request path.
                return Err(format!("rejected: {r}"));
            }
            // `CallError` is non-exhaustive.
            Err(e) => return Err(format!("{e:?}")),
        }
        sleep(Duration::from_millis(10 * attempt)).await;
    }
    Err(last)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let breaker = Breaker::builder()
        .name("inventory")
        .count_window(20)
        .minimum_calls(5)
        .failure_rate_threshold(0.5)
        .slow_call_duration(Duration::from_millis(40))
        .slow_call_rate_threshold(0.8)
        .wait_duration(Duration::from_millis(300))
        .wait_growth(2.0, Duration::from_secs(1))
        .half_open_calls(3)
        .classify(|r: &Result<u32, InventoryError>| match r {
            Ok(_) | Err(InventoryError::NotFound) => Outcome::Success,
            Err(InventoryError::Unavailable) => Outcome::Failure,
        })
        .build()?;

    let mut transitions = breaker.subscribe();
    let started = Instant::now();
    tokio::spawn(async move {
        while let Ok(t) = transitions.recv().await {
            println!("{:>6} ms  breaker {t}", (t.at - started).as_millis());
        }
    });

    let inventory = Arc::new(Inventory {
        up: AtomicBool::new(true),
        calls: AtomicU32::new(0),
    });
    let mut failed_fast = 0;
    for item in 1..=120u32 {
        // The service is down from request 20 to request 80.
        inventory
            .up
            .store(!(20..80).contains(&item), Ordering::Relaxed);
        let asked = Instant::now();
        let result = stock_with_retries(&breaker, &inventory, item).await;
        if matches!(&result, Err(e) if e.starts_with("rejected")) {
            failed_fast += 1;
        }
        if item % 20 == 0 {
            println!(
                "{:>6} ms  request {item}: {result:?} in {} ms",
                started.elapsed().as_millis(),
                asked.elapsed().as_millis()
            );
        }
        sleep(Duration::from_millis(10)).await;
    }

    let m = breaker.metrics();
    println!(
        "\n{} requests, {} calls reached the service, {failed_fast} failed fast; \
         breaker {}, {} transitions, {} calls rejected",
        120,
        inventory.calls.load(Ordering::Relaxed),
        m.state,
        m.transitions,
        m.rejected_calls
    );
    Ok(())
}
