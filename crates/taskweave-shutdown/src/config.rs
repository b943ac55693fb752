//! The coordinator's configuration: phases, grace periods, signal handling, and the bounds on
//! waiting for aborted tasks and on the failure lines kept.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::coordinator::Coordinator;
use crate::error::ConfigError;
use crate::phase::Phase;
use crate::shared::Shared;
use crate::signal::ForceOn;

/// The settings `run()` and the tasks' guards read, once checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) signals: bool,
    pub(crate) force_on: ForceOn,
    pub(crate) abort_wait: Duration,
    pub(crate) max_failure_records: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            signals: true,
            force_on: ForceOn::default(),
            abort_wait: Builder::DEFAULT_ABORT_WAIT,
            max_failure_records: Builder::DEFAULT_MAX_FAILURE_RECORDS,
        }
    }
}

/// Configures a [`Coordinator`]; [`build`](Self::build) checks the settings.
///
/// ```
/// use std::time::Duration;
/// use taskweave_shutdown::Coordinator;
///
/// let coordinator = Coordinator::builder()
///     .grace(Duration::from_secs(5)) // the default phase
///     .phase("ingress", Duration::from_secs(10))
///     .phase("workers", Duration::from_secs(30))
///     .phase("storage", Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), taskweave_shutdown::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Builder does nothing until `build` is called"]
pub struct Builder {
    grace: Duration,
    phases: Vec<(String, Duration)>,
    settings: Settings,
    cancellation_token: Option<CancellationToken>,
}

impl Builder {
    /// The grace period of the default phase unless [`grace`](Self::grace) sets another.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

    /// How long the coordinator waits for aborted tasks to end unless
    /// [`abort_wait`](Self::abort_wait) sets another wait.
    pub const DEFAULT_ABORT_WAIT: Duration = Duration::from_secs(5);

    /// How many failure lines are kept unless [`max_failure_records`](Self::max_failure_records)
    /// sets another number.
    pub const DEFAULT_MAX_FAILURE_RECORDS: usize = 1_000;

    /// The most phases [`phase`](Self::phase) may declare (each has its own task table, made
    /// by [`build`](Self::build)).
    pub const MAX_PHASES: usize = 64;

    /// The largest number [`max_failure_records`](Self::max_failure_records) accepts.
    pub const MAX_FAILURE_RECORDS: usize = 100_000;

    /// The defaults: one phase with a 30 s grace period, SIGINT/SIGTERM handled and the second
    /// signal forcing, a 5 s wait for aborted tasks, and 1,000 failure lines kept.
    pub fn new() -> Self {
        Self {
            grace: Self::DEFAULT_GRACE,
            phases: Vec::new(),
            settings: Settings::default(),
            cancellation_token: None,
        }
    }

    /// The grace period of the default phase: how long its tasks have between the cancellation
    /// of their token and being aborted (default 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Declares the phase `name`, which stops after the default phase and after every phase
    /// declared before it, and gives its tasks `grace` to finish. The top-level group of the
    /// same name ([`Coordinator::group`]) and everything nested in it stop in this phase. At
    /// most [`MAX_PHASES`](Self::MAX_PHASES) phases can be declared.
    pub fn phase(mut self, name: impl Into<String>, grace: Duration) -> Self {
        self.phases.push((name.into(), grace));
        self
    }

    /// Whether `run()` listens for SIGINT and SIGTERM (Ctrl-C on non-Unix platforms) (default:
    /// yes). Turn it off when the program handles signals itself; it can still forward them
    /// with [`Group::deliver_signal`](crate::Group::deliver_signal).
    pub fn signals(mut self, listen: bool) -> Self {
        self.settings.signals = listen;
        self
    }

    /// Closes the coordinator when `token` is cancelled, exactly as
    /// [`close`](Coordinator::close) does: spawns are refused from then on and the graceful
    /// shutdown begins ([`Cause::Cancelled`](crate::Cause::Cancelled)), phase by phase with
    /// the grace periods. Never an abort, and a token cancelled during the shutdown does
    /// nothing more. Use it to stop the coordinator from a parent's token (an embedding
    /// application, a test), like a signal.
    ///
    /// This token is an *input*; [`Coordinator::token`] and
    /// [`Group::token`](crate::Group::token) are *outputs*, the tokens the coordinator cancels
    /// phase by phase and hands to its tasks. Cancelling the input starts the sequence that
    /// cancels the outputs in order; it is not their parent.
    ///
    /// The token is watched from [`build`](Self::build) on when `build` runs inside a Tokio
    /// runtime, and otherwise from when [`run`](Coordinator::run) is first polled.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.cancellation_token = Some(token);
        self
    }

    /// What a signal does once shutdown is under way (default: [`ForceOn::SecondSignal`]: the
    /// second signal received aborts every remaining task at once, so a first signal never
    /// cuts short the drain of a shutdown that started for another reason). Applies to signals
    /// from the listener and from [`Group::deliver_signal`](crate::Group::deliver_signal) alike.
    pub fn force_on(mut self, policy: ForceOn) -> Self {
        self.settings.force_on = policy;
        self
    }

    /// How long the coordinator waits for tasks it aborted — after a grace period, or when
    /// forced — to end (default 5 s). An aborted task normally ends at its next `.await`; one
    /// that blocks its thread (a blocking call, a loop without `.await`) cannot be stopped, so
    /// after this wait it is reported as [`Outcome::Abandoned`](crate::Outcome::Abandoned),
    /// named in a `tracing::warn!`, and no longer waited for.
    pub fn abort_wait(mut self, wait: Duration) -> Self {
        self.settings.abort_wait = wait;
        self
    }

    /// How many failures (an `Err` or a panic) of tasks spawned with
    /// [`OnFailure::Continue`](crate::OnFailure::Continue) while the service runs keep a line
    /// in the report (default 1,000; at most [`MAX_FAILURE_RECORDS`](Self::MAX_FAILURE_RECORDS)).
    /// The first ones are kept; the rest are logged and counted in
    /// [`Report::failures_not_kept`](crate::Report::failures_not_kept), so a service that spawns
    /// a task per request does not grow without bound. `0` keeps none. Failures that start the
    /// shutdown, and every task still running when it starts, always keep their line.
    pub fn max_failure_records(mut self, lines: usize) -> Self {
        self.settings.max_failure_records = lines;
        self
    }

    /// Checks the settings and makes the coordinator. Needs no runtime (inside one, it starts
    /// watching the [cancellation token](Self::cancellation_token), if one was given).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if a grace period or the abort wait is zero, a phase name is empty,
    /// contains `/`, or is declared twice, more than [`MAX_PHASES`](Self::MAX_PHASES) phases are
    /// declared, or `max_failure_records` is above
    /// [`MAX_FAILURE_RECORDS`](Self::MAX_FAILURE_RECORDS).
    pub fn build(self) -> Result<Coordinator, ConfigError> {
        if self.grace.is_zero() {
            return Err(ConfigError::ZeroGrace { phase: None });
        }
        if self.settings.abort_wait.is_zero() {
            return Err(ConfigError::ZeroAbortWait);
        }
        if self.phases.len() > Self::MAX_PHASES {
            return Err(ConfigError::TooManyPhases {
                declared: self.phases.len(),
                max: Self::MAX_PHASES,
            });
        }
        if self.settings.max_failure_records > Self::MAX_FAILURE_RECORDS {
            return Err(ConfigError::TooManyFailureRecords {
                requested: self.settings.max_failure_records,
                max: Self::MAX_FAILURE_RECORDS,
            });
        }
        let mut seen = HashSet::new();
        for (name, grace) in &self.phases {
            if name.is_empty() || name.contains('/') {
                return Err(ConfigError::InvalidPhaseName { name: name.clone() });
            }
            if !seen.insert(name.as_str()) {
                return Err(ConfigError::DuplicatePhase { name: name.clone() });
            }
            if grace.is_zero() {
                return Err(ConfigError::ZeroGrace {
                    phase: Some(name.clone()),
                });
            }
        }
        let phases = std::iter::once(Phase::new(None, self.grace))
            .chain(
                self.phases
                    .into_iter()
                    .map(|(name, grace)| Phase::new(Some(name), grace)),
            )
            .collect();
        let shared = Arc::new(Shared::new(phases, self.settings, self.cancellation_token));
        shared.watch_external();
        Ok(Coordinator::from_shared(shared))
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
