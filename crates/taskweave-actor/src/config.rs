//! [`ActorConfig`]: name, mailbox capacity and cancellation token of a spawned actor.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::ConfigError;

/// The largest mailbox a Tokio bounded channel accepts (a larger one makes it panic).
const MAX_MAILBOX: usize = usize::MAX >> 3;

/// Rejects a mailbox capacity that a Tokio bounded channel cannot hold.
pub(crate) fn check_mailbox_capacity(capacity: NonZeroUsize) -> Result<(), ConfigError> {
    let requested = capacity.get();
    if requested > MAX_MAILBOX {
        return Err(ConfigError::MailboxTooLarge {
            requested,
            max: MAX_MAILBOX,
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
    pub(crate) mailbox_capacity: NonZeroUsize,
    pub(crate) token: Option<CancellationToken>,
}

impl ActorConfig {
    /// The default mailbox capacity: enough to absorb bursts, small enough that a stalled actor
    /// pushes back on its senders quickly.
    pub const DEFAULT_MAILBOX_CAPACITY: NonZeroUsize = match NonZeroUsize::new(256) {
        Some(n) => n,
        None => unreachable!(),
    };

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
    pub fn mailbox_capacity(&self) -> NonZeroUsize {
        self.mailbox_capacity
    }

    /// The token whose cancellation stops the actor gracefully.
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

    /// Sets how many messages the mailbox holds before `tell` waits (default 256).
    pub fn mailbox_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.config.mailbox_capacity = capacity;
        self
    }

    /// Stops the actor gracefully (drain, then `stop` with [`ExitReason::Cancelled`]) when
    /// `token` is cancelled — hand it the token of your shutdown coordinator.
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
    /// [`ConfigError::MailboxTooLarge`] if the mailbox capacity exceeds what a Tokio channel
    /// can hold (`usize::MAX >> 3`).
    pub fn build(self) -> Result<ActorConfig, ConfigError> {
        check_mailbox_capacity(self.config.mailbox_capacity)?;
        Ok(self.config)
    }
}
