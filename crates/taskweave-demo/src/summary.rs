//! The end-of-run summary: the statistics actor's totals, checked against the rows read back
//! from the database.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use taskweave::breaker::State;
use taskweave::shutdown::Report;

use crate::events::Malformed;
use crate::remote_watch::WatchReport;
use crate::stats::Stats;
use crate::store::RowCounts;
use crate::telemetry::DeadReason;

/// Everything a run did, and whether every event is accounted for.
#[derive(Debug)]
#[non_exhaustive]
pub struct Summary {
    /// Events asked for (`--events`).
    pub requested: u64,
    /// The totals the statistics actor kept from the bus.
    pub stats: Stats,
    /// Rows the run left in the database, read back with `SELECT COUNT(*)` after the writer
    /// closed its connection.
    pub rows: RowCounts,
    /// From the start of the run to the end of the shutdown.
    pub elapsed: Duration,
    /// Calls the remote service received (attempts, retries included).
    pub remote_calls: u64,
    /// Of those, the ones that failed.
    pub remote_failures: u64,
    /// Attempts the breaker rejected without calling the remote.
    pub breaker_rejections: u64,
    /// Retries the retry budget refused.
    pub retries_denied: u64,
    /// The remote's quota the rate limiter enforced, in events per second (`None`: no limit).
    pub remote_rate: Option<u32>,
    /// Events that had to wait for the rate limiter's permit before their first attempt (the
    /// limiter's `metrics().waited`).
    pub rate_limited: u64,
    /// The database file, when it is kept (`--db`); `None` when it was temporary and deleted.
    pub database: Option<PathBuf>,
    /// The shutdown coordinator's report: why the service stopped and how each task ended.
    pub report: Report,
    /// With `--nats`: what the export of the telemetry to NATS did.
    pub nats: Option<WatchReport>,
}

impl Summary {
    /// Events handed to the pipeline.
    pub fn generated(&self) -> u64 {
        self.stats.generated
    }

    /// Events validated, enriched and sent to be stored.
    pub fn accepted(&self) -> u64 {
        self.stats.processed.accepted
    }

    /// Malformed events.
    pub fn rejected(&self) -> u64 {
        self.stats.processed.rejected.iter().sum()
    }

    /// Valid events the remote could not enrich, sent to the dead-letter table.
    pub fn dead_lettered(&self) -> u64 {
        self.stats.processed.dead_lettered.iter().sum()
    }

    /// Events never generated because the run was stopped early.
    pub fn not_generated(&self) -> u64 {
        self.requested.saturating_sub(self.generated())
    }

    /// Every way this run could have lost an event, each of which must be zero: events
    /// generated but not accounted for, pool job errors, rows refused by a closed batcher or in
    /// a failed transaction, mismatches between the counts and the rows read back, bus
    /// messages the statistics missed, and (with `--nats`) telemetry that did not reach NATS.
    pub fn discrepancies(&self) -> Vec<String> {
        let p = &self.stats.processed;
        let mut found = Vec::new();
        let accounted = self.accepted() + self.rejected() + self.dead_lettered() + p.pool_errors;
        if accounted != self.generated() {
            found.push(format!(
                "generated {} but accepted + rejected + dead-lettered + pool errors = {accounted}",
                self.generated()
            ));
        }
        if self.generated() + self.not_generated() != self.requested {
            found.push(format!(
                "generated {} of {} requested",
                self.generated(),
                self.requested
            ));
        }
        if p.pool_errors > 0 {
            found.push(format!("{} pool jobs failed", p.pool_errors));
        }
        if p.store_refused > 0 {
            found.push(format!("{} rows refused by the batcher", p.store_refused));
        }
        if self.stats.rows_failed > 0 {
            found.push(format!(
                "{} rows in {} failed transactions",
                self.stats.rows_failed, self.stats.batches_failed
            ));
        }
        if self.rows.events != self.accepted() {
            found.push(format!(
                "{} rows in `events`, but {} events accepted",
                self.rows.events,
                self.accepted()
            ));
        }
        if self.rows.dead_letters != self.dead_lettered() {
            found.push(format!(
                "{} rows in `dead_letters`, but {} events dead-lettered",
                self.rows.dead_letters,
                self.dead_lettered()
            ));
        }
        if self.stats.missed_messages > 0 {
            found.push(format!(
                "the statistics missed {} bus messages",
                self.stats.missed_messages
            ));
        }
        if let Some(nats) = &self.nats {
            found.extend(nats.losses());
        }
        found
    }

    /// Whether every generated event is accounted for and every stored row is where the counts
    /// say (no [`discrepancies`](Self::discrepancies)).
    pub fn is_consistent(&self) -> bool {
        self.discrepancies().is_empty()
    }

    /// Batches committed, and their average size in rows.
    pub fn batches(&self) -> (u64, f64) {
        let batches = self.stats.batches_committed;
        let rows = self.stats.events_committed + self.stats.dead_letters_committed;
        let average = if batches == 0 {
            0.0
        } else {
            rows as f64 / batches as f64
        };
        (batches, average)
    }

    /// Events processed (accepted, rejected or dead-lettered) per second of the run.
    pub fn events_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.stats.processed.events() as f64 / secs
        } else {
            0.0
        }
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The non-zero entries of a per-reason array, as `label n, label n`.
fn breakdown<'a>(counts: &[u64], labels: impl Iterator<Item = &'a str>) -> String {
    let parts: Vec<String> = labels
        .zip(counts)
        .filter(|&(_, &n)| n > 0)
        .map(|(label, n)| format!("{label} {}", thousands(*n)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("  ({})", parts.join(", "))
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>, label: &str, value: String, note: String| {
            writeln!(f, "  {label:<24} {value:>12}{note}")
        };
        let p = &self.stats.processed;
        let (batches, average) = self.batches();
        let malformed = Malformed::ALL.map(|m| m.to_string());

        writeln!(f, "taskweave demo: summary")?;
        writeln!(f, "  {}", "-".repeat(60))?;
        row(
            f,
            "events requested",
            thousands(self.requested),
            String::new(),
        )?;
        row(
            f,
            "events generated",
            thousands(self.generated()),
            String::new(),
        )?;
        if self.not_generated() > 0 {
            row(
                f,
                "not generated",
                thousands(self.not_generated()),
                "  (stopped early)".into(),
            )?;
        }
        row(f, "accepted", thousands(self.accepted()), String::new())?;
        row(
            f,
            "rejected (malformed)",
            thousands(self.rejected()),
            breakdown(&p.rejected, malformed.iter().map(String::as_str)),
        )?;
        row(
            f,
            "dead-lettered",
            thousands(self.dead_lettered()),
            breakdown(&p.dead_lettered, DeadReason::ALL.iter().map(|r| r.as_str())),
        )?;
        if p.pool_errors > 0 {
            row(
                f,
                "lost in the pool",
                thousands(p.pool_errors),
                String::new(),
            )?;
        }
        row(
            f,
            "retried",
            thousands(p.retries),
            format!(
                "  ({} remote calls, {} failed; {} denied by the retry budget)",
                thousands(self.remote_calls),
                thousands(self.remote_failures),
                thousands(self.retries_denied)
            ),
        )?;
        if let Some(rate) = self.remote_rate {
            row(
                f,
                "rate limited",
                thousands(self.rate_limited),
                format!(
                    "  (events that waited for the remote's quota of {}/s)",
                    thousands(u64::from(rate))
                ),
            )?;
        }
        row(
            f,
            "breaker trips",
            thousands(self.stats.breaker_trips),
            format!(
                "  ({} calls rejected while open)",
                thousands(self.breaker_rejections)
            ),
        )?;
        row(
            f,
            "batches written",
            thousands(batches),
            format!(
                "  (average {average:.0} rows, largest {})",
                self.stats.largest_batch
            ),
        )?;
        if self.stats.batches_failed > 0 {
            row(
                f,
                "batches failed",
                thousands(self.stats.batches_failed),
                String::new(),
            )?;
        }
        let check = |ok: bool| if ok { "equals" } else { "DIFFERS FROM" };
        row(
            f,
            "rows in the database",
            thousands(self.rows.events),
            format!(
                "  (SELECT COUNT(*): {} accepted)",
                check(self.rows.events == self.accepted())
            ),
        )?;
        row(
            f,
            "dead letters stored",
            thousands(self.rows.dead_letters),
            format!(
                "  ({} dead-lettered)",
                check(self.rows.dead_letters == self.dead_lettered())
            ),
        )?;
        row(
            f,
            "elapsed",
            format!("{:.2} s", self.elapsed.as_secs_f64()),
            String::new(),
        )?;
        row(
            f,
            "events per second",
            thousands(self.events_per_second().round() as u64),
            String::new(),
        )?;
        writeln!(f, "  {}", "-".repeat(60))?;
        let discrepancies = self.discrepancies();
        if discrepancies.is_empty() {
            writeln!(
                f,
                "  every event accounted for: generated = accepted + rejected + dead-lettered"
            )?;
        } else {
            for d in &discrepancies {
                writeln!(f, "  LOST: {d}")?;
            }
        }
        let transitions = &self.stats.breaker_transitions;
        if !transitions.is_empty() {
            let trips: Vec<String> = transitions
                .iter()
                .filter(|(_, _, to)| *to == State::Open)
                .map(|(at, _, _)| format!("{:.2}s", at.as_secs_f64()))
                .collect();
            write!(f, "  breaker: opened at {}", trips.join(", "))?;
            match transitions.last() {
                Some((at, _, State::Closed)) => {
                    writeln!(f, "; closed again at {:.2}s", at.as_secs_f64())?;
                }
                Some((_, _, state)) => writeln!(f, "; {state} at the end")?,
                None => writeln!(f)?,
            }
        }
        if let Some(nats) = &self.nats {
            writeln!(f, "  exported to NATS: {nats}")?;
        }
        if let Some(path) = &self.database {
            writeln!(f, "  database kept at {}", path.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
