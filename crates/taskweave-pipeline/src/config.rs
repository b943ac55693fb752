//! A stage's configuration: name, concurrency, order, buffer, timeout and error policy.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;

/// The largest per-stage concurrency `build()` accepts.
pub const MAX_CONCURRENCY: usize = 4_096;
/// The largest buffer (between two stages, or of dead letters) `build()` accepts.
pub const MAX_BUFFER: usize = 1 << 20;
/// The most stages one flow may hold.
pub const MAX_STAGES: usize = 256;
/// The most branches one fan-out may have.
pub const MAX_BRANCHES: usize = 64;
/// The default buffer in front of each stage.
pub const DEFAULT_BUFFER: usize = 64;

/// What a stage does with an item it failed on (an error, a [`TimedOut`](crate::TimedOut) or
/// a panic), after Akka Streams' supervision strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Abort the pipeline: the item is counted as `failed`, everything still in the pipeline
    /// as `dropped`, and [`PipelineHandle::finished`](crate::PipelineHandle::finished) returns
    /// [`PipelineError::Stopped`](crate::PipelineError::Stopped). The default.
    #[default]
    Stop,
    /// Count the item as `skipped`, log it, and carry on.
    Skip,
    /// Send the item, its error and the stage's name to the flow's dead-letter output
    /// ([`Flow::dead_letters`](crate::Flow::dead_letters)) and carry on.
    DeadLetter,
}

/// How one stage runs. `StageConfig::from("name")` (or just `"name"` where a stage is added)
/// gives the defaults: concurrency 1, ordered, a buffer of [`DEFAULT_BUFFER`], no timeout,
/// [`ErrorPolicy::Stop`].
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub(crate) name: Arc<str>,
    pub(crate) concurrency: usize,
    pub(crate) ordered: bool,
    pub(crate) buffer: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_error: ErrorPolicy,
}

impl StageConfig {
    /// A stage called `name` (used in metrics, dead letters, errors and `tracing` spans).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            concurrency: 1,
            ordered: true,
            buffer: DEFAULT_BUFFER,
            timeout: None,
            on_error: ErrorPolicy::Stop,
        }
    }

    /// How many items the stage works on at once (1..=[`MAX_CONCURRENCY`]).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Emit results in input order (the default): a slow item holds back those after it.
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Emit results as they finish: a slow item holds back nothing.
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// Capacity of the bounded buffer in front of the stage (1..=[`MAX_BUFFER`]).
    pub fn buffer(mut self, capacity: usize) -> Self {
        self.buffer = capacity;
        self
    }

    /// Fail an item with [`TimedOut`](crate::TimedOut) if the stage takes longer than `after`
    /// on it; the failure goes to the error policy.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// What to do with an item the stage fails on.
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = policy;
        self
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn validate(&self, dead_letters: bool) -> Result<(), ConfigError> {
        let stage = || Arc::clone(&self.name);
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(ConfigError::Concurrency {
                stage: stage(),
                value: self.concurrency,
            });
        }
        validate_buffer(&self.name, self.buffer)?;
        if self.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroTimeout { stage: stage() });
        }
        if self.on_error == ErrorPolicy::DeadLetter && !dead_letters {
            return Err(ConfigError::NoDeadLetterOutput { stage: stage() });
        }
        Ok(())
    }
}

impl From<&str> for StageConfig {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for StageConfig {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

pub(crate) fn validate_buffer(stage: &Arc<str>, value: usize) -> Result<(), ConfigError> {
    if value == 0 || value > MAX_BUFFER {
        return Err(ConfigError::Buffer {
            stage: Arc::clone(stage),
            value,
        });
    }
    Ok(())
}
