//! [`SupervisorSpec`] and its builder: strategy, intensity limit, restart delay, children.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::Supervisor;
use crate::ConfigError;
use crate::child::ChildSpec;
use crate::config::check_mailbox_capacity;

/// Which children restart when one of them must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the child that exited.
    #[default]
    OneForOne,
    /// Every child: the others are stopped (in reverse start order) and all start again in
    /// order. For children that only make sense together.
    OneForAll,
    /// The child that exited and every child started after it. For pipelines, where later
    /// children depend on earlier ones.
    RestForOne,
}

/// A validated supervisor configuration: the [`Args`](crate::Actor::Args) of a [`Supervisor`].
#[derive(Debug)]
pub struct SupervisorSpec {
    pub(super) strategy: Strategy,
    pub(super) max_restarts: u32,
    pub(super) within: Duration,
    pub(super) restart_delay: Duration,
    pub(super) children: Vec<ChildSpec>,
}

/// Builds a [`SupervisorSpec`]; [`build`](SupervisorBuilder::build) validates it.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SupervisorBuilder {
    spec: SupervisorSpec,
}

impl SupervisorBuilder {
    /// Sets the restart strategy (default [`Strategy::OneForOne`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.spec.strategy = strategy;
        self
    }

    /// Allows at most `max_restarts` restarts within `within` (default 3 within 5 s); one more
    /// and the supervisor stops its children and fails with
    /// [`SupervisorError::RestartIntensity`](crate::SupervisorError::RestartIntensity). A one-for-all or rest-for-one restart counts once.
    /// `max_restarts` may be at most [`Supervisor::MAX_RESTARTS`]; [`build`](Self::build)
    /// rejects more.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.spec.max_restarts = max_restarts;
        self.spec.within = within;
        self
    }

    /// Waits `delay` before each restart (default: none). The supervisor answers no queries
    /// meanwhile, but a close or abort ends the wait at once: the pending restart is dropped and
    /// the supervisor stops.
    pub fn restart_delay(mut self, delay: Duration) -> Self {
        self.spec.restart_delay = delay;
        self
    }

    /// Adds a child; children start in the order they are added and stop in reverse.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.spec.children.push(child);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroRestartWindow`] if the intensity window is zero,
    /// [`ConfigError::RestartLimitTooLarge`] if more than [`Supervisor::MAX_RESTARTS`]
    /// restarts are allowed, [`ConfigError::EmptyChildName`] or [`ConfigError::DuplicateChild`] if the children
    /// cannot be told apart by name, [`ConfigError::ZeroMailboxCapacity`] or
    /// [`ConfigError::MailboxTooLarge`] if a child's mailbox capacity is zero or exceeds
    /// [`ActorConfig::MAX_MAILBOX_CAPACITY`](crate::ActorConfig::MAX_MAILBOX_CAPACITY).
    pub fn build(self) -> Result<SupervisorSpec, ConfigError> {
        if self.spec.within.is_zero() {
            return Err(ConfigError::ZeroRestartWindow);
        }
        // The supervisor keeps a timestamp per counted restart: bounded by this limit.
        if self.spec.max_restarts > Supervisor::MAX_RESTARTS {
            return Err(ConfigError::RestartLimitTooLarge {
                requested: self.spec.max_restarts,
                max: Supervisor::MAX_RESTARTS,
            });
        }
        let mut names = HashSet::new();
        for child in &self.spec.children {
            if child.name.is_empty() {
                return Err(ConfigError::EmptyChildName);
            }
            // Checked here: the child's mailbox is only made when the supervisor (re)starts
            // it, where a bad capacity would be a panic inside the supervisor.
            check_mailbox_capacity(child.mailbox_capacity)?;
            if !names.insert(Arc::clone(&child.name)) {
                return Err(ConfigError::DuplicateChild {
                    name: child.name.to_string(),
                });
            }
        }
        Ok(self.spec)
    }
}

impl Supervisor {
    /// The largest `max_restarts` accepted by [`SupervisorBuilder::intensity`]. The supervisor
    /// remembers one timestamp per restart in the window, so this also bounds its memory; a
    /// child that needs more restarts than this is crash-looping, not recovering.
    pub const MAX_RESTARTS: u32 = 10_000;

    /// Starts a supervisor configuration with the defaults: one-for-one, at most 3 restarts
    /// within 5 seconds, no restart delay, no children.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
            spec: SupervisorSpec {
                strategy: Strategy::default(),
                max_restarts: 3,
                within: Duration::from_secs(5),
                restart_delay: Duration::ZERO,
                children: Vec::new(),
            },
        }
    }
}
