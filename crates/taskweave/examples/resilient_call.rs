//! A shutdown coordinator owns a client task that calls a flaky dependency through a circuit
//! breaker inside a retry with jittered exponential backoff: the retry sees each attempt fail,
//! the breaker sees each attempt, and an open breaker's remaining wait becomes the retry delay.
//!
//! Run it with `cargo run -p taskweave --features full --example resilient_call`.

use std::time::Duration;

use taskweave::backoff::{Backoff, Jitter, retry};
use taskweave::breaker::{Breaker, CallError};
use taskweave::shutdown::Coordinator;

/// The dependency's only failure.
#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("service unavailable")
    }
}

impl std::error::Error for Unavailable {}

/// A dependency that fails its first attempt at every third request.
async fn lookup(request: u32, attempt: u32) -> Result<u32, Unavailable> {
    if request % 3 == 0 && attempt == 1 {
        Err(Unavailable)
    } else {
        Ok(request * 10)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let coordinator = Coordinator::builder().build()?;
    let breaker = Breaker::builder()
        .count_window(20)
        .minimum_calls(10)
        .failure_rate_threshold(0.5)
        .wait_duration(Duration::from_millis(50))
        .build()?;
    let policy = Backoff::exponential(Duration::from_millis(1))
        .max_delay(Duration::from_millis(20))
        .jitter(Jitter::Full)
        .max_attempts(4)
        .build()?;

    coordinator.spawn("client", move |token| async move {
        for request in 1..=6 {
            let mut attempt = 0;
            let result = retry(policy, || {
                attempt += 1;
                let (breaker, attempt) = (breaker.clone(), attempt);
                async move { breaker.call(|| lookup(request, attempt)).await }
            })
            // An open breaker says how long it stays open: wait that long, not the policy's delay.
            .retry_after(|error: &CallError<Unavailable>| {
                error
                    .as_rejected()
                    .and_then(|rejected| rejected.retry_after())
            })
            .cancellation_token(token.clone())
            .await;
            match result {
                Ok(value) => println!("request {request}: {value} after {attempt} attempt(s)"),
                Err(e) => println!("request {request}: gave up ({:?})", e.reason()),
            }
        }
        println!("breaker: {:?}", breaker.metrics());
        Ok::<_, Unavailable>(())
    })?;

    // The coordinator shuts down once its only task has finished (or on Ctrl-C).
    let report = coordinator.run().await;
    println!("{report}");
    assert!(report.is_clean());
    Ok(())
}
