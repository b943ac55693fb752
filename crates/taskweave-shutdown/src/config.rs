//! The coordinator's configuration: phases, grace periods, signal handling.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::coordinator::{Coordinator, Shared};
use crate::error::ConfigError;
use crate::phase::Phase;

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
    signals: bool,
}

impl Builder {
    /// The grace period of the default phase unless [`grace`](Self::grace) sets another.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

    /// The defaults: one phase with a 30 s grace period, and SIGINT/SIGTERM handled.
    pub fn new() -> Self {
        Self {
            grace: Self::DEFAULT_GRACE,
            phases: Vec::new(),
            signals: true,
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
    /// same name ([`Coordinator::group`]) and everything nested in it stop in this phase.
    pub fn phase(mut self, name: impl Into<String>, grace: Duration) -> Self {
        self.phases.push((name.into(), grace));
        self
    }

    /// Whether `run()` listens for SIGINT and SIGTERM (Ctrl-C on non-Unix platforms) (default:
    /// yes). Turn it off when the program handles signals itself; it can still forward them
    /// with [`Group::deliver_signal`](crate::Group::deliver_signal).
    pub fn signals(mut self, listen: bool) -> Self {
        self.signals = listen;
        self
    }

    /// Checks the settings and makes the coordinator. Needs no runtime.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if a grace period is zero, or a phase name is empty, contains `/`, or is
    /// declared twice.
    pub fn build(self) -> Result<Coordinator, ConfigError> {
        if self.grace.is_zero() {
            return Err(ConfigError::ZeroGrace { phase: None });
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
        Ok(Coordinator::from_shared(Arc::new(Shared::new(
            phases,
            self.signals,
        ))))
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
