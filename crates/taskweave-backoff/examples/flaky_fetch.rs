//! Retries a flaky "fetch" and prints every attempt: a transient failure is retried with
//! exponential backoff and full jitter, a throttling reply's `Retry-After` overrides the delay,
//! and a permanent failure stops at once.
//!
//! Run with `cargo run -p taskweave-backoff --example flaky_fetch`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use taskweave_backoff::{Backoff, Jitter, RetryBudget, StopReason, retry};

#[derive(Debug)]
enum FetchError {
    /// The server dropped the connection; worth retrying.
    ConnectionReset,
    /// The server asked us to come back later.
    Throttled { retry_after: Duration },
    /// The resource does not exist; retrying cannot help.
    NotFound,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConnectionReset => f.write_str("connection reset"),
            Self::Throttled { retry_after } => write!(f, "throttled, retry after {retry_after:?}"),
            Self::NotFound => f.write_str("not found"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A remote that fails with `script` in order, then answers.
struct Remote {
    script: Mutex<VecDeque<FetchError>>,
}

impl Remote {
    async fn fetch(&self, path: &str) -> Result<String, FetchError> {
        tokio::time::sleep(Duration::from_millis(5)).await; // the round trip
        match self.script.lock().unwrap().pop_front() {
            Some(error) => Err(error),
            None => Ok(format!("contents of {path}")),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = Backoff::exponential(Duration::from_millis(20))
        .max_delay(Duration::from_millis(500))
        .jitter(Jitter::Full)
        .max_attempts(5)
        .max_elapsed(Duration::from_secs(5))
        .build()?;
    // Shared by every call: at most 20 retries banked, one more earned per ten successes.
    let budget = RetryBudget::builder().ratio(0.1).capacity(20).build()?;

    let throttled = FetchError::Throttled {
        retry_after: Duration::from_millis(150),
    };
    let scenarios = [
        (
            "/flaky",
            vec![
                FetchError::ConnectionReset,
                throttled,
                FetchError::ConnectionReset,
            ],
        ),
        ("/missing", vec![FetchError::NotFound]),
        (
            "/down",
            (0..10).map(|_| FetchError::ConnectionReset).collect(),
        ),
    ];

    for (path, script) in scenarios {
        println!("GET {path}");
        let remote = Remote {
            script: Mutex::new(script.into()),
        };
        let started = Instant::now();
        let result = retry(policy, || remote.fetch(path))
            .when(|e| !matches!(e, FetchError::NotFound))
            .retry_after(|e| match e {
                FetchError::Throttled { retry_after } => Some(*retry_after),
                _ => None,
            })
            .notify(|error, attempt, delay| {
                println!("  attempt {attempt} failed: {error}; retrying in {delay:?}");
            })
            .budget(budget.clone())
            .await;
        let took = started.elapsed();
        match result {
            Ok(body) => println!("  ok after {took:?}: {body}"),
            Err(e) => {
                let why = match e.reason() {
                    StopReason::NotRetryable => "the error is permanent",
                    StopReason::Exhausted => "out of attempts",
                    StopReason::TimeBudget => "out of time",
                    StopReason::BudgetExhausted => "the shared retry budget is spent",
                    StopReason::Cancelled => "cancelled",
                    _ => "stopped",
                };
                println!(
                    "  gave up after {} attempt(s) and {took:?}, because {why}: {}",
                    e.attempts(),
                    e.error()
                );
            }
        }
    }
    println!("retry budget left: {} retries", budget.available());
    Ok(())
}
