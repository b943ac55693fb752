//! What the demo's integration tests share.

use taskweave_demo::{Config, ProgressMode};

/// The default configuration with `events` events, no signal handling and log-line progress.
pub(crate) fn config(events: u64) -> Config {
    let mut config = Config::default();
    config.events = events;
    config.signals = false;
    config.progress = ProgressMode::Log;
    config
}
