//! The progress subscriber: a progress bar on a terminal, a log line a second without one.
//! Breaker transitions are shown the moment they arrive, so the outage is visible either way.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use taskweave::breaker::State;
use taskweave::bus::{RecvError, Subscription};

use crate::config::ProgressMode;
use crate::telemetry::{Processed, Telemetry};

/// What the display knows, summed from the bus.
#[derive(Debug)]
struct View {
    generated: u64,
    processed: Processed,
    breaker: State,
    trips: u64,
    batches: u64,
    missed: u64,
}

impl View {
    fn apply(&mut self, event: Telemetry) {
        match event {
            Telemetry::Generated { events } => self.generated += events,
            Telemetry::Processed(delta) => self.processed.add(&delta),
            Telemetry::Breaker { to, .. } => {
                self.breaker = to;
                if to == State::Open {
                    self.trips += 1;
                }
            }
            Telemetry::Batch { .. } => self.batches += 1,
        }
    }

    fn message(&self) -> String {
        format!(
            "breaker {} ({} trips) | {} retries | {} dead letters | {} batches",
            self.breaker,
            self.trips,
            self.processed.retries,
            self.processed.dead_lettered.iter().sum::<u64>(),
            self.batches
        )
    }
}

/// Shows progress until the bus closes. `mode` must be resolved (`Bar` or `Log`).
///
/// # Cancel safety
///
/// Cancel safe; a bar left behind is cleared when dropped.
pub(crate) async fn show(mut sub: Subscription<Telemetry>, total: u64, mode: ProgressMode) {
    let bar = (mode == ProgressMode::Bar).then(|| {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})\n  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let mut view = View {
        generated: 0,
        processed: Processed::default(),
        breaker: State::Closed,
        trips: 0,
        batches: 0,
        missed: 0,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;

    loop {
        tokio::select! {
            msg = sub.recv() => match msg {
                Ok(event) => {
                    view.apply(event);
                    if let Telemetry::Breaker { from, to, at } = event {
                        announce(bar.as_ref(), from, to, at);
                    }
                }
                // The display may skip updates under load; the statistics actor does not.
                Err(RecvError::Lagged(n)) => view.missed += n,
                Err(_) => break,
            },
            _ = tick.tick(), if bar.is_none() => log_line(&view, total),
        }
        if let Some(bar) = &bar {
            bar.set_position(view.processed.events());
            bar.set_message(view.message());
        }
    }

    match bar {
        // `abandon`, not `finish`: a run stopped early must not show a full bar.
        Some(bar) => bar.abandon(),
        None => log_line(&view, total),
    }
    if view.missed > 0 {
        tracing::debug!(
            missed = view.missed,
            "the progress display skipped some updates"
        );
    }
}

fn announce(bar: Option<&ProgressBar>, from: State, to: State, at: Duration) {
    let line = format!(
        "{:>7.2}s  breaker {from} -> {to}{}",
        at.as_secs_f64(),
        match to {
            State::Open => "  (remote failing: calls rejected, new events held back)",
            State::HalfOpen => "  (trial calls)",
            State::Closed => "  (remote recovered)",
            _ => "",
        }
    );
    match bar {
        Some(bar) => bar.println(line),
        None if to == State::Open => tracing::warn!("{line}"),
        None => tracing::info!("{line}"),
    }
}

fn log_line(view: &View, total: u64) {
    tracing::info!(
        generated = view.generated,
        processed = view.processed.events(),
        total,
        accepted = view.processed.accepted,
        rejected = view.processed.rejected.iter().sum::<u64>(),
        "progress: {}",
        view.message()
    );
}
