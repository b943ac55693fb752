//! The worker pool's job: validate an event, then enrich it through the resilience stack —
//! the remote's rate limit outermost, then a retry loop with jittered backoff and a shared
//! retry budget, around a circuit breaker, around the remote call.

use std::sync::Arc;
use std::time::Duration;

use taskweave::backoff::{Backoff, Jitter, RetryBudget, StopReason, retry};
use taskweave::breaker::{Breaker, CallError};
use taskweave::limit::{Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::events::{Malformed, RawEvent, Reading, validate};
use crate::remote::{RemoteError, RemoteService};
use crate::store::{DeadLetter, EventRow};
use crate::telemetry::DeadReason;

/// What became of one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Valid and enriched: to the `events` table.
    Accepted {
        /// The row to store.
        row: EventRow,
        /// Retries it took.
        retries: u32,
    },
    /// Valid, but the remote could not enrich it: to the `dead_letters` table.
    DeadLettered {
        /// The row to store.
        row: DeadLetter,
        /// Why it was given up.
        reason: DeadReason,
        /// Retries it took.
        retries: u32,
    },
    /// Malformed: counted, not stored.
    Rejected(Malformed),
}

/// The shared state of every enrichment job.
#[derive(Debug)]
pub struct Enricher {
    remote: Arc<RemoteService>,
    breaker: Breaker,
    budget: RetryBudget,
    policy: Backoff,
    limiter: Option<RateLimiter>,
    stop: CancellationToken,
}

impl Enricher {
    /// The resilience stack the demo uses, in front of `remote`, limited to `quota` (`None`:
    /// no limit). Once `stop` is cancelled, retries end early and the rate limiter closes (it is
    /// the limiter's cancellation token): events still waiting for a permit are let go.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] if a pattern rejects its configuration (the breaker, policy and budget
    /// do not with these values; the quota comes from the command line).
    pub fn new(
        remote: Arc<RemoteService>,
        quota: Option<Quota>,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        // Outermost: an event waits for the remote's quota before its first attempt, so an
        // event over the quota costs the breaker and the retry budget nothing.
        let limiter = quota
            .map(|quota| {
                RateLimiter::builder()
                    .name("remote")
                    .quota(quota)
                    .cancellation_token(stop.clone())
                    .build()
            })
            .transpose()
            .map_err(|e| Error::setup("rate limiter", e))?;
        // 5% random failures stay far below the 50% threshold; the outage's 100% crosses it
        // within the first 50 calls.
        let breaker = Breaker::builder()
            .name("remote")
            .count_window(200)
            .minimum_calls(50)
            .failure_rate_threshold(0.5)
            .wait_duration(Duration::from_millis(250))
            .half_open_calls(10)
            .event_capacity(1024)
            .build()
            .map_err(|e| Error::setup("breaker", e))?;
        let policy = Backoff::exponential(Duration::from_millis(10))
            .max_delay(Duration::from_millis(400))
            .jitter(Jitter::Full)
            .max_attempts(10)
            .max_elapsed(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::setup("backoff", e))?;
        // One retry earned per ten successes, at most 300 banked: enough to ride out the
        // 5% background failures and the start of an outage, not enough to hammer a service
        // that stays down.
        let budget = RetryBudget::builder()
            .ratio(0.1)
            .capacity(300)
            .build()
            .map_err(|e| Error::setup("retry budget", e))?;
        Ok(Self {
            remote,
            breaker,
            budget,
            policy,
            limiter,
            stop,
        })
    }

    /// The rate limiter in front of the remote, if there is a quota: for its metrics.
    pub fn limiter(&self) -> Option<&RateLimiter> {
        self.limiter.as_ref()
    }

    /// The breaker, to watch its transitions.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The retry budget, to report how many retries it refused.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Validates and enriches one event.
    pub async fn process(&self, event: RawEvent) -> Outcome {
        let reading = match validate(&event) {
            Ok(reading) => reading,
            Err(reason) => return Outcome::Rejected(reason),
        };
        if let Some(limiter) = &self.limiter {
            if let Err(closed) = limiter.acquire().await {
                // The shutdown closed the limiter while this event waited for its permit: it is
                // cut short like a retry would be, and dead-lettered, not dropped.
                return dead_letter(&reading, DeadReason::Shutdown, closed.to_string(), 0);
            }
        }
        self.wait_while_open().await;

        let mut retries = 0u32;
        let (breaker, remote, reading_ref) = (&self.breaker, &*self.remote, &reading);
        let result = retry(self.policy, move || {
            breaker.call(move || remote.enrich(reading_ref))
        })
        // An open breaker knows when it will admit trial calls: wait exactly that long.
        .retry_after(|error: &CallError<RemoteError>| {
            error
                .as_rejected()
                .and_then(|rejected| rejected.retry_after())
        })
        .budget(self.budget.clone())
        .cancellation_token(self.stop.clone())
        .notify(|_, _, _| retries += 1)
        .await;

        match result {
            Ok(enrichment) => Outcome::Accepted {
                row: EventRow {
                    id: reading.id,
                    sensor: reading.sensor,
                    timestamp_ms: reading.timestamp_ms,
                    celsius: reading.celsius + enrichment.offset_celsius,
                    site: enrichment.site,
                },
                retries,
            },
            Err(error) => {
                let reason = match error.reason() {
                    StopReason::Exhausted | StopReason::TimeBudget => DeadReason::AttemptsExhausted,
                    StopReason::BudgetExhausted => DeadReason::RetryBudget,
                    StopReason::Cancelled => DeadReason::Shutdown,
                    _ => DeadReason::Other,
                };
                dead_letter(&reading, reason, error.error().to_string(), retries)
            }
        }
    }

    /// Holds a new event back while the breaker is open, so that an outage backs up into the
    /// pool's queue and the generator (backpressure) instead of turning every new event into a
    /// dead letter. Events already retrying are not held here; their retry loop waits.
    async fn wait_while_open(&self) {
        loop {
            let wait = match self.breaker.try_acquire() {
                // Admitted: give the permit back unused; the real call takes its own.
                Ok(_permit) => return,
                Err(rejected) => rejected.retry_after().unwrap_or(Duration::from_millis(5)),
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }
}

/// The dead letter of a valid `reading` that could not be enriched.
fn dead_letter(reading: &Reading, reason: DeadReason, error: String, retries: u32) -> Outcome {
    Outcome::DeadLettered {
        row: DeadLetter {
            id: reading.id,
            sensor: reading.sensor,
            timestamp_ms: reading.timestamp_ms,
            celsius: reading.celsius,
            reason: reason.as_str(),
            error,
        },
        reason,
        retries,
    }
}
