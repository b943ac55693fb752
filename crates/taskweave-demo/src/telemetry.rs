//! What the pipeline publishes on the bus, and on which subjects.
//!
//! Counts travel as deltas: each publisher adds up what happened since its last message and
//! publishes every few hundred events (or every 100 ms), so the bus carries a few dozen
//! messages per second instead of one per event. The statistics subscriber is lossless
//! ([`LagPolicy::Block`](taskweave::bus::LagPolicy::Block)), so the sums it keeps are exact.
//!
//! [`Telemetry`] is serializable (serde) so that `--nats` can export it as JSON to other
//! processes (see [`remote_watch`](crate::remote_watch)).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use taskweave::breaker::State;

use crate::events::Malformed;

/// Subject of [`Telemetry::Generated`].
pub const GENERATOR_PROGRESS: &str = "generator.progress";
/// Subject of [`Telemetry::Processed`].
pub const PIPELINE_PROGRESS: &str = "pipeline.progress";
/// Subject of [`Telemetry::Batch`].
pub const STORE_BATCH: &str = "store.batch";

/// The subject of a breaker transition into `to`: `breaker.closed`, `breaker.open`, …
pub fn breaker_subject(to: State) -> &'static str {
    match to {
        State::Closed => "breaker.closed",
        State::Open => "breaker.open",
        State::HalfOpen => "breaker.half_open",
        State::ForcedOpen => "breaker.forced_open",
        State::Disabled => "breaker.disabled",
        // `State` is non-exhaustive; a future state still gets a subject of its own family.
        _ => "breaker.other",
    }
}

/// One message on the demo's bus (and, with `--nats`, on NATS as JSON:
/// `{"Batch":{"events":1000,"dead_letters":3,"committed":true}}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Telemetry {
    /// The generator handed this many more events to the pipeline.
    Generated {
        /// Events since the last message.
        events: u64,
    },
    /// The enrichment stage finished this many more events.
    Processed(Processed),
    /// The circuit breaker in front of the remote changed state.
    Breaker {
        /// The state left.
        #[serde(with = "state_name")]
        from: State,
        /// The state entered.
        #[serde(with = "state_name")]
        to: State,
        /// When, counted from the start of the run.
        at: Duration,
    },
    /// The writer committed (or failed to commit) one batch in one transaction.
    Batch {
        /// Enriched events in the batch.
        events: u64,
        /// Dead letters in the batch.
        dead_letters: u64,
        /// Whether the transaction committed.
        committed: bool,
    },
}

/// Why an event could not be enriched and was written to the dead-letter table instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadReason {
    /// The retry policy's attempts or time budget ran out.
    AttemptsExhausted,
    /// The shared retry budget refused another retry.
    RetryBudget,
    /// The shutdown cut the retries short.
    Shutdown,
    /// Anything else the retry loop reports.
    Other,
}

impl DeadReason {
    /// Every reason, in the order the summary lists them.
    pub const ALL: [DeadReason; 4] = [
        Self::AttemptsExhausted,
        Self::RetryBudget,
        Self::Shutdown,
        Self::Other,
    ];

    /// The reason's position in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short label, also stored in the dead-letter table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AttemptsExhausted => "attempts exhausted",
            Self::RetryBudget => "retry budget exhausted",
            Self::Shutdown => "cut short by shutdown",
            Self::Other => "other",
        }
    }
}

/// What the enrichment stage did with a run of events (a delta).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processed {
    /// Validated, enriched and handed to the batcher.
    pub accepted: u64,
    /// Malformed, by [`Malformed::index`].
    pub rejected: [u64; Malformed::ALL.len()],
    /// Valid but not enriched: handed to the batcher as dead letters, by [`DeadReason::index`].
    pub dead_lettered: [u64; DeadReason::ALL.len()],
    /// Retries made by the retry loop (attempts after the first).
    pub retries: u64,
    /// Jobs the pool reported as panicked or cancelled, skipped by the pipeline's "enrich"
    /// stage (the event is lost; the summary shows it).
    pub pool_errors: u64,
    /// Rows the batcher refused because it was already closed (lost; the summary shows it).
    pub store_refused: u64,
}

impl Processed {
    /// Events this delta accounts for.
    pub fn events(&self) -> u64 {
        self.accepted
            + self.rejected.iter().sum::<u64>()
            + self.dead_lettered.iter().sum::<u64>()
            + self.pool_errors
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Processed) {
        self.accepted += other.accepted;
        for (a, b) in self.rejected.iter_mut().zip(other.rejected) {
            *a += b;
        }
        for (a, b) in self.dead_lettered.iter_mut().zip(other.dead_lettered) {
            *a += b;
        }
        self.retries += other.retries;
        self.pool_errors += other.pool_errors;
        self.store_refused += other.store_refused;
    }
}

/// A breaker [`State`] on the wire: the last token of its [`breaker_subject`] (`closed`,
/// `open`, `half_open`, …), since the breaker crate's `State` is not serializable itself.
mod state_name {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use taskweave::breaker::State;

    const STATES: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];

    fn name(state: State) -> &'static str {
        let subject = super::breaker_subject(state);
        subject.strip_prefix("breaker.").unwrap_or(subject)
    }

    pub(super) fn serialize<S: Serializer>(state: &State, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name(*state))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<State, D::Error> {
        let raw = String::deserialize(d)?;
        STATES
            .into_iter()
            .find(|&state| name(state) == raw)
            .ok_or_else(|| D::Error::custom(format!("unknown breaker state `{raw}`")))
    }
}
