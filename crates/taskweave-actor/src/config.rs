//! [`ActorConfig`]: name, mailbox capacity and cancellation token of a spawned actor.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::ConfigError;

/// Rejects a mailbox capacity of zero, or one that a Tokio bounded channel cannot hold.
pub(crate) fn check_mailbox_capacity(requested: usize) -> Result<(), ConfigError> {
    if requested == 0 {
        return Err(ConfigError::ZeroMailboxCapacity);
    }
    if requested > ActorConfig::MAX_MAILBOX_CAPACITY {
        return Err(ConfigError::MailboxTooLarge {
            requested,
            max: ActorConfig::MAX_MAILBOX_CAPACITY,
        });
    }
    Ok(())
}

/// How an actor is spawned. The default: named after its type, a mailbox of
/// [`DEFAULT_MAILBOX_CAPACITY`](ActorConfig::DEFAULT_MAILBOX_CAPACITY) messages, no
/// cancellation token.
#[derive(Clone, Debug)]
pub struct ActorConfig {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) mailbox_capacity: usize,
    pub(crate) token: Option<CancellationToken>,
}

impl ActorConfig {
    /// The default mailbox capacity: enough to absorb bursts, small enough that a stalled actor
    /// pushes back on its senders quickly.
    pub const DEFAULT_MAILBOX_CAPACITY: usize = 256;

    /// The largest mailbox capacity accepted: what a Tokio bounded channel can hold (a larger
    /// one makes it panic). The mailbox allocates as messages arrive, in blocks of a few dozen,
    /// never up front, so a large capacity costs nothing until it is used.
    pub const MAX_MAILBOX_CAPACITY: usize = usize::MAX >> 3;

    /// Starts a builder from the defaults.
    pub fn builder() -> ActorConfigBuilder {
        ActorConfigBuilder {
            config: Self::default(),
        }
    }

    /// The actor's name, if one was set (otherwise its type name is used).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How many messages the mailbox holds before `tell` waits.
    pub fn mailbox_capacity(&self) -> usize {
        self.mailbox_capacity
    }

    /// The token whose cancellation closes the actor (gracefully, as
    /// [`ActorRef::close`](crate::ActorRef::close) does).
    pub fn cancellation_token(&self) -> Option<&CancellationToken> {
        self.token.as_ref()
    }
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            name: None,
            mailbox_capacity: Self::DEFAULT_MAILBOX_CAPACITY,
            token: None,
        }
    }
}

/// Builds an [`ActorConfig`]; [`build`](ActorConfigBuilder::build) validates it.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ActorConfigBuilder {
    config: ActorConfig,
}

impl ActorConfigBuilder {
    /// Names the actor: the name appears in its tracing span and in supervisor reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(Arc::from(name.into()));
        self
    }

    /// Sets how many messages the mailbox holds before `tell` waits (default 256; at least 1
    /// and at most [`ActorConfig::MAX_MAILBOX_CAPACITY`], checked by [`build`](Self::build)).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.config.mailbox_capacity = capacity;
        self
    }

    /// Closes the actor when `token` (or a parent of it) is cancelled — hand it the token of
    /// your shutdown coordinator. Cancelling it does exactly what
    /// [`ActorRef::close`](crate::ActorRef::close) does: new messages are refused, the queued
    /// ones are handled, then `stop` runs, with [`ExitReason::Cancelled`] as the reason. It is
    /// never an abort.
    ///
    /// [`ExitReason::Cancelled`]: crate::ExitReason::Cancelled
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.config.token = Some(token);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroMailboxCapacity`] if the mailbox capacity is zero,
    /// [`ConfigError::MailboxTooLarge`] if it exceeds [`ActorConfig::MAX_MAILBOX_CAPACITY`].
    pub fn build(self) -> Result<ActorConfig, ConfigError> {
        check_mailbox_capacity(self.config.mailbox_capacity)?;
        Ok(self.config)
    }
}
