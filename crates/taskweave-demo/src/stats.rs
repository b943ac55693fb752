//! The statistics actor: it owns the run's running totals, fed by a lossless bus subscription,
//! and answers one question at the end — "what happened?".

use std::convert::Infallible;
use std::time::Duration;

use taskweave::actor::{Actor, Context, Reply};
use taskweave::breaker::State;

use crate::telemetry::{Processed, Telemetry};

/// The totals of a run, as the statistics actor saw them on the bus.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Events the generator handed to the pipeline.
    pub generated: u64,
    /// What the enrichment stage did with them.
    pub processed: Processed,
    /// Every breaker transition, in order: when (since the start), from, to.
    pub breaker_transitions: Vec<(Duration, State, State)>,
    /// Transitions into `Open` (from `Closed` or from a failed half-open trial).
    pub breaker_trips: u64,
    /// Batches committed, one transaction each.
    pub batches_committed: u64,
    /// Batches whose transaction failed.
    pub batches_failed: u64,
    /// Enriched events in committed batches.
    pub events_committed: u64,
    /// Dead letters in committed batches.
    pub dead_letters_committed: u64,
    /// Rows (events and dead letters) in failed batches.
    pub rows_failed: u64,
    /// The largest committed batch, in rows.
    pub largest_batch: u64,
    /// Messages the statistics subscription missed. Zero by construction (it blocks the
    /// publishers instead of dropping); checked, not assumed.
    pub missed_messages: u64,
}

/// The statistics actor's messages.
#[derive(Debug)]
#[non_exhaustive]
pub enum StatsMsg {
    /// Add one bus message to the totals.
    Record(Telemetry),
    /// Add a count of messages the subscription reported as missed.
    Missed(u64),
    /// Answer with the totals so far.
    Snapshot(Reply<Stats>),
}

/// Owns [`Stats`]; spawn it with `StatsActor::spawn(())`.
#[derive(Debug, Default)]
pub struct StatsActor {
    stats: Stats,
}

impl Actor for StatsActor {
    type Args = ();
    type Message = StatsMsg;
    type Error = Infallible;

    async fn start((): (), _ctx: &mut Context<Self>) -> Result<Self, Infallible> {
        Ok(Self::default())
    }

    async fn handle(&mut self, msg: StatsMsg, _ctx: &mut Context<Self>) -> Result<(), Infallible> {
        match msg {
            StatsMsg::Record(event) => self.record(event),
            StatsMsg::Missed(n) => self.stats.missed_messages += n,
            StatsMsg::Snapshot(reply) => {
                // The asker may have given up; the totals stay here either way.
                let _ = reply.send(self.stats.clone());
            }
        }
        Ok(())
    }
}

impl StatsActor {
    fn record(&mut self, event: Telemetry) {
        let s = &mut self.stats;
        match event {
            Telemetry::Generated { events } => s.generated += events,
            Telemetry::Processed(delta) => s.processed.add(&delta),
            Telemetry::Breaker { from, to, at } => {
                if to == State::Open {
                    s.breaker_trips += 1;
                }
                s.breaker_transitions.push((at, from, to));
            }
            Telemetry::Batch {
                events,
                dead_letters,
                committed: true,
            } => {
                s.batches_committed += 1;
                s.events_committed += events;
                s.dead_letters_committed += dead_letters;
                s.largest_batch = s.largest_batch.max(events + dead_letters);
            }
            Telemetry::Batch {
                events,
                dead_letters,
                committed: false,
            } => {
                s.batches_failed += 1;
                s.rows_failed += events + dead_letters;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sums_deltas_and_counts_trips() {
        let actor = StatsActor::spawn(());
        let mut delta = Processed {
            accepted: 5,
            retries: 2,
            ..Processed::default()
        };
        delta.rejected[1] = 1;
        for event in [
            Telemetry::Generated { events: 6 },
            Telemetry::Processed(delta),
            Telemetry::Processed(delta),
            Telemetry::Breaker {
                from: State::Closed,
                to: State::Open,
                at: Duration::from_secs(1),
            },
            Telemetry::Breaker {
                from: State::Open,
                to: State::HalfOpen,
                at: Duration::from_secs(2),
            },
            Telemetry::Breaker {
                from: State::HalfOpen,
                to: State::Open,
                at: Duration::from_secs(2),
            },
            Telemetry::Batch {
                events: 7,
                dead_letters: 1,
                committed: true,
            },
            Telemetry::Batch {
                events: 3,
                dead_letters: 0,
                committed: false,
            },
        ] {
            actor.tell(StatsMsg::Record(event)).await.unwrap();
        }
        let stats = actor.ask(StatsMsg::Snapshot).await.unwrap();
        assert_eq!(stats.generated, 6);
        assert_eq!(stats.processed.accepted, 10);
        assert_eq!(stats.processed.rejected[1], 2);
        assert_eq!(stats.processed.retries, 4);
        assert_eq!(stats.breaker_trips, 2);
        assert_eq!(stats.breaker_transitions.len(), 3);
        assert_eq!((stats.batches_committed, stats.events_committed), (1, 7));
        assert_eq!((stats.batches_failed, stats.rows_failed), (1, 3));
        assert_eq!(stats.largest_batch, 8);
    }
}
