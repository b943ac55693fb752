//! Errors: invalid configuration, refused messages (always handed back) and failed asks.

use std::fmt;
use std::time::Duration;

/// A configuration value was rejected by a builder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The mailbox capacity is zero: no message could ever be sent.
    ZeroMailboxCapacity,
    /// The mailbox capacity is larger than a Tokio channel can hold.
    MailboxTooLarge {
        /// The capacity that was asked for.
        requested: usize,
        /// The largest capacity accepted.
        max: usize,
    },
    /// The restart intensity window is zero, so no restart could ever be counted.
    ZeroRestartWindow,
    /// The restart intensity allows more restarts than
    /// [`Supervisor::MAX_RESTARTS`](crate::Supervisor::MAX_RESTARTS).
    RestartLimitTooLarge {
        /// The limit that was asked for.
        requested: u32,
        /// The largest limit accepted.
        max: u32,
    },
    /// Two children of one supervisor share a name.
    DuplicateChild {
        /// The name used twice.
        name: String,
    },
    /// A child was given an empty name.
    EmptyChildName,
    /// A periodic message was asked for with a zero period.
    ZeroPeriod,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroMailboxCapacity => f.write_str(
                "the mailbox capacity is zero: use at least 1 (the default, 256, suits most actors)",
            ),
            Self::MailboxTooLarge { requested, max } => write!(
                f,
                "mailbox capacity {requested} is too large: use at most {max} (a bounded mailbox \
                 of a few hundred to a few thousand messages is usually plenty)"
            ),
            Self::ZeroRestartWindow => f.write_str(
                "the restart intensity window is zero: give `within` a positive duration",
            ),
            Self::RestartLimitTooLarge { requested, max } => write!(
                f,
                "a restart limit of {requested} is too large: use at most {max} (a child that \
                 needs more restarts than that is crash-looping; fix it, or add a restart delay)"
            ),
            Self::DuplicateChild { name } => write!(
                f,
                "two children are named `{name}`: give every child of a supervisor its own name"
            ),
            Self::EmptyChildName => f.write_str("a child has an empty name: name every child"),
            Self::ZeroPeriod => {
                f.write_str("the period of a repeated message is zero: use a positive duration")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// [`tell`](crate::ActorRef::tell) failed; the message is handed back.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TellError<M> {
    /// The actor is closed (closing, aborted or exited) and accepts no new messages.
    Closed(M),
}

impl<M> TellError<M> {
    /// Takes the refused message back.
    pub fn into_inner(self) -> M {
        match self {
            Self::Closed(m) => m,
        }
    }
}

impl<M> fmt::Debug for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> fmt::Display for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CLOSED)
    }
}

const CLOSED: &str = "the actor is closed (closing, aborted or exited) and accepts no new \
                      messages; the message was handed back: take it with `into_inner` and send \
                      it to a running actor";

impl<M> std::error::Error for TellError<M> {}

/// [`try_tell`](crate::ActorRef::try_tell) (or a [`TellSink`](crate::TellSink)) failed; the
/// message is handed back.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryTellError<M> {
    /// The mailbox is full: retry later, or use `tell` to wait for space.
    Full(M),
    /// The actor is closed (closing, aborted or exited) and accepts no new messages.
    Closed(M),
}

impl<M> TryTellError<M> {
    /// Takes the refused message back.
    pub fn into_inner(self) -> M {
        match self {
            Self::Full(m) | Self::Closed(m) => m,
        }
    }
}

impl<M> fmt::Debug for TryTellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> fmt::Display for TryTellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str(
                "the mailbox is full; the message was handed back (retry, or `tell` to wait)",
            ),
            Self::Closed(_) => f.write_str(CLOSED),
        }
    }
}

impl<M> std::error::Error for TryTellError<M> {}

/// [`ask`](crate::ActorRef::ask) failed.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskError<M> {
    /// The actor is closed (closing, aborted or exited); the request was never delivered and
    /// is handed back.
    Closed(M),
    /// The mailbox stayed full until the timeout; the request was never delivered and is
    /// handed back.
    MailboxTimeout(M),
    /// The request was delivered but the actor dropped its [`Reply`](crate::Reply) without
    /// answering (it was aborted, failed or panicked first, or forgot to reply).
    NoReply,
    /// The request was delivered but no reply came before the timeout.
    ReplyTimeout,
}

impl<M> AskError<M> {
    /// Takes the undelivered request back, if it was never delivered.
    pub fn into_inner(self) -> Option<M> {
        match self {
            Self::Closed(m) | Self::MailboxTimeout(m) => Some(m),
            Self::NoReply | Self::ReplyTimeout => None,
        }
    }
}

impl<M> fmt::Debug for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::MailboxTimeout(_) => f.write_str("MailboxTimeout(..)"),
            Self::NoReply => f.write_str("NoReply"),
            Self::ReplyTimeout => f.write_str("ReplyTimeout"),
        }
    }
}

impl<M> fmt::Display for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str(
                "the actor is closed (closing, aborted or exited); the request was handed back \
                 undelivered: take it with `into_inner` and ask a running actor",
            ),
            Self::MailboxTimeout(_) => f.write_str(
                "the mailbox stayed full until the timeout; the request was handed back undelivered",
            ),
            Self::NoReply => f.write_str(
                "the actor dropped the reply without answering (it was aborted, failed, panicked \
                 or forgot to reply); check its exit reason with `monitor`",
            ),
            Self::ReplyTimeout => f.write_str(
                "no reply before the timeout (is the actor blocked, or asking itself?)",
            ),
        }
    }
}

impl<M> std::error::Error for AskError<M> {}

/// Why a [`Supervisor`](crate::Supervisor) gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorError {
    /// Children needed more than `max_restarts` restarts within `within`.
    RestartIntensity {
        /// The configured limit.
        max_restarts: u32,
        /// The configured window.
        within: Duration,
    },
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RestartIntensity {
                max_restarts,
                within,
            } => write!(
                f,
                "children needed more than {max_restarts} restarts within {within:?}; the \
                 supervisor gave up (fix the failing child, or raise the intensity limit)"
            ),
        }
    }
}

impl std::error::Error for SupervisorError {}
