//! Errors of the bus: invalid subjects, failed subscriptions, publishes and receives.

use std::error::Error;
use std::fmt;

/// A subject or pattern that is not well formed.
///
/// Positions count dot-separated tokens from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectError {
    /// The subject or pattern is the empty string.
    Empty,
    /// A token is empty: two dots in a row, or a leading or trailing dot.
    EmptyToken {
        /// Index of the empty token.
        position: usize,
    },
    /// A token contains whitespace.
    Whitespace {
        /// Index of the offending token.
        position: usize,
    },
    /// A publish subject contains `*` or `>`; wildcards belong in subscription patterns.
    WildcardInSubject {
        /// Index of the offending token.
        position: usize,
    },
    /// A pattern token mixes a wildcard with other characters, like `ord*`.
    PartialWildcard {
        /// Index of the offending token.
        position: usize,
    },
    /// `>` appears before the last token of a pattern.
    FullWildcardNotLast {
        /// Index of the offending token.
        position: usize,
    },
    /// The subject or pattern is longer than [`MAX_SUBJECT_LEN`](crate::MAX_SUBJECT_LEN).
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The subject or pattern has more tokens than [`MAX_TOKENS`](crate::MAX_TOKENS).
    TooManyTokens {
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => {
                f.write_str("empty subject: use dot-separated tokens such as `orders.eu.created`")
            }
            Self::EmptyToken { position } => write!(
                f,
                "token {position} is empty: remove the doubled, leading or trailing dot"
            ),
            Self::Whitespace { position } => write!(
                f,
                "token {position} contains whitespace: subjects may not contain spaces, tabs or newlines"
            ),
            Self::WildcardInSubject { position } => write!(
                f,
                "token {position} contains a wildcard: publish to a concrete subject; `*` and `>` are for subscription patterns"
            ),
            Self::PartialWildcard { position } => write!(
                f,
                "token {position} mixes a wildcard with other characters: `*` and `>` must be whole tokens"
            ),
            Self::FullWildcardNotLast { position } => write!(
                f,
                "`>` at token {position} is not the last token: it matches the rest of a subject, so put it last or use `*`"
            ),
            Self::TooLong { len, max } => write!(
                f,
                "subject of {len} bytes is longer than the limit of {max}: use shorter tokens"
            ),
            Self::TooManyTokens { max } => write!(
                f,
                "subject has more than {max} tokens: use fewer, longer tokens"
            ),
        }
    }
}

impl Error for SubjectError {}

/// Why [`BusBuilder::build`](crate::BusBuilder::build) refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`BusBuilder::capacity`](crate::BusBuilder::capacity) is 0.
    ZeroCapacity,
    /// [`BusBuilder::retain_last`](crate::BusBuilder::retain_last) is 0; leave it out to
    /// retain nothing.
    ZeroRetention,
    /// [`BusBuilder::capacity`](crate::BusBuilder::capacity) is above
    /// [`MAX_CAPACITY`](crate::MAX_CAPACITY).
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// [`BusBuilder::retain_last`](crate::BusBuilder::retain_last) is above
    /// [`MAX_RETAIN`](crate::MAX_RETAIN).
    RetentionTooLarge {
        /// The depth asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => f.write_str(
                "a bus capacity of 0 messages cannot hold a message: use a capacity of at least 1",
            ),
            Self::ZeroRetention => f.write_str(
                "retaining 0 messages per subject retains nothing: leave out `retain_last` instead",
            ),
            Self::CapacityTooLarge { requested, max } => write!(
                f,
                "a bus capacity of {requested} messages is above the limit of {max}: \
                 choose a smaller capacity"
            ),
            Self::RetentionTooLarge { requested, max } => write!(
                f,
                "retaining {requested} messages per subject is above the limit of {max}: \
                 retain fewer"
            ),
        }
    }
}

impl Error for ConfigError {}

/// Why a subscription could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The pattern is not well formed.
    InvalidPattern(SubjectError),
    /// The subscription asked to replay more messages per subject than the bus retains.
    ReplayExceedsRetention {
        /// Messages per subject the subscription asked for.
        requested: usize,
        /// Messages per subject the bus keeps (`0` when retention is off).
        retained: usize,
    },
    /// The bus is closed; no new subscriptions are accepted.
    Closed,
    /// The bus already has `u32::MAX` live subscriptions.
    TooManySubscriptions,
    /// The subscription's buffer would hold no message: a capacity of 0 from
    /// [`SubscriptionBuilder::capacity`](crate::SubscriptionBuilder::capacity) or
    /// [`Bus::new`](crate::Bus::new).
    ZeroCapacity,
    /// The subscription's buffer would be larger than [`MAX_CAPACITY`](crate::MAX_CAPACITY)
    /// (from [`SubscriptionBuilder::capacity`](crate::SubscriptionBuilder::capacity) or the
    /// capacity given to [`Bus::new`](crate::Bus::new)).
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPattern(e) => write!(f, "invalid subscription pattern: {e}"),
            Self::ReplayExceedsRetention {
                requested,
                retained,
            } => write!(
                f,
                "asked to replay {requested} messages per subject but the bus retains {retained}: \
                 raise `BusBuilder::retain_last` or lower `replay`"
            ),
            Self::Closed => f.write_str("the bus is closed: subscribe before closing it"),
            Self::TooManySubscriptions => f.write_str(
                "the bus has u32::MAX live subscriptions: drop unused ones or share them",
            ),
            Self::ZeroCapacity => f.write_str(
                "a subscription buffer of 0 messages cannot hold a message: use a capacity of at least 1",
            ),
            Self::CapacityTooLarge { requested, max } => write!(
                f,
                "a subscription buffer of {requested} messages is above the limit of {max}: \
                 choose a smaller capacity"
            ),
        }
    }
}

impl Error for SubscribeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::InvalidPattern(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SubjectError> for SubscribeError {
    fn from(e: SubjectError) -> Self {
        Self::InvalidPattern(e)
    }
}

/// Why a message was not published; the message is handed back.
#[non_exhaustive]
pub enum PublishError<T> {
    /// The bus is closed.
    Closed(T),
    /// The subject is not well formed.
    InvalidSubject(T, SubjectError),
}

impl<T> PublishError<T> {
    /// Takes back the message that was not published.
    pub fn into_inner(self) -> T {
        match self {
            Self::Closed(msg) | Self::InvalidSubject(msg, _) => msg,
        }
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("Closed(..)"),
            Self::InvalidSubject(_, e) => f.debug_tuple("InvalidSubject").field(e).finish(),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(_) => f.write_str("the bus is closed: the message was not published"),
            Self::InvalidSubject(_, e) => write!(f, "invalid publish subject: {e}"),
        }
    }
}

impl<T> Error for PublishError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::InvalidSubject(_, e) => Some(e),
            Self::Closed(_) => None,
        }
    }
}

/// Why [`Subscription::recv`](crate::Subscription::recv) returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// The subscription fell behind and this many messages addressed to it were dropped at
    /// this point of the stream. Receiving continues with the next message.
    Lagged(u64),
    /// The bus is closed and everything queued for this subscription has been received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lagged(n) => write!(
                f,
                "the subscription lagged and missed {n} messages: give it a larger buffer or a blocking lag policy"
            ),
            Self::Closed => f.write_str("the bus is closed and the subscription is drained"),
        }
    }
}

impl Error for RecvError {}

/// Why [`Subscription::try_recv`](crate::Subscription::try_recv) returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is queued right now.
    Empty,
    /// The subscription missed this many messages at this point of the stream.
    Lagged(u64),
    /// The bus is closed and everything queued for this subscription has been received.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no message is queued for this subscription"),
            Self::Lagged(n) => RecvError::Lagged(*n).fmt(f),
            Self::Closed => RecvError::Closed.fmt(f),
        }
    }
}

impl Error for TryRecvError {}

/// An item of a [`Subscription`](crate::Subscription) used as a `Stream`: this many messages
/// were dropped at this point because the subscription lagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        RecvError::Lagged(self.0).fmt(f)
    }
}

impl Error for Lagged {}
