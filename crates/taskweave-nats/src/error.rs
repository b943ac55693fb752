//! Errors of the bridge and the work queue: configuration, connection, subjects, payloads.

use std::error::Error as StdError;
use std::fmt;

use taskweave_bus::SubjectError;

/// A boxed error from a codec, a handler or async-nats.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A builder setting that cannot work, from a `build()` or `connect()`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count that must be at least 1 is 0.
    Zero {
        /// The setting.
        setting: &'static str,
    },
    /// A count or size is above its documented maximum.
    TooLarge {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: usize,
        /// The largest value accepted.
        max: usize,
    },
    /// A pattern or subject is not one that both the local bus and NATS accept.
    InvalidSubject {
        /// The pattern or subject as given.
        subject: String,
        /// Why it was refused.
        source: SubjectError,
    },
    /// A name (stream, consumer, bridge) is empty or contains characters NATS refuses
    /// (whitespace, `.`, `*`, `>`, path separators).
    InvalidName {
        /// The setting.
        setting: &'static str,
        /// The name as given.
        name: String,
    },
    /// A durable import or export was asked for, but no JetStream stream was named.
    MissingStream,
    /// The bridge has nothing to do: no export and no import.
    Empty,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero { setting } => write!(f, "`{setting}` must be at least 1"),
            Self::TooLarge {
                setting,
                value,
                max,
            } => write!(f, "`{setting}` is {value}, above the maximum of {max}"),
            Self::InvalidSubject { subject, source } => {
                write!(f, "subject or pattern `{subject}` is refused: {source}")
            }
            Self::InvalidName { setting, name } => write!(
                f,
                "`{setting}` name `{name}` is refused: use letters, digits, `-` and `_` only"
            ),
            Self::MissingStream => f.write_str(
                "a durable import or export needs a JetStream stream: call `stream(name)`",
            ),
            Self::Empty => f.write_str("the bridge has no export and no import: add one"),
        }
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::InvalidSubject { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why talking to the NATS server failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The server URL cannot be parsed (`nats://host:port`, `tls://host:port`).
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The server refused the credentials.
    Auth(BoxError),
    /// The server could not be reached (refused, DNS, TLS, timed out).
    Connect(BoxError),
    /// A subject is not one NATS and the local bus both accept.
    InvalidSubject {
        /// The subject as given.
        subject: String,
        /// Why it was refused.
        source: SubjectError,
    },
    /// An encoded message is larger than the server's `max_payload`.
    PayloadTooLarge {
        /// The encoded size in bytes, headers included.
        size: usize,
        /// The server's limit in bytes.
        max: usize,
    },
    /// The codec failed to encode or decode a message.
    Codec(BoxError),
    /// A JetStream request (stream, consumer, publish acknowledgement) failed.
    JetStream(BoxError),
    /// The connection, bridge or work queue is closed.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid configuration: {e}"),
            Self::InvalidUrl { url } => write!(
                f,
                "invalid NATS URL `{url}`: use `nats://host:port` (several separated by commas)"
            ),
            Self::Auth(e) => write!(f, "the NATS server refused the credentials: {e}"),
            Self::Connect(e) => write!(f, "cannot reach the NATS server: {e}"),
            Self::InvalidSubject { subject, source } => {
                write!(f, "subject `{subject}` is refused: {source}")
            }
            Self::PayloadTooLarge { size, max } => write!(
                f,
                "the encoded message is {size} bytes, above the server's max_payload of {max}: \
                 send smaller messages or raise max_payload"
            ),
            Self::Codec(e) => write!(f, "codec error: {e}"),
            Self::JetStream(e) => write!(f, "JetStream request failed: {e}"),
            Self::Closed => f.write_str("closed: nothing more is accepted"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Auth(e) | Self::Connect(e) | Self::Codec(e) | Self::JetStream(e) => {
                Some(e.as_ref())
            }
            Self::InvalidSubject { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

pub(crate) fn jetstream(e: impl StdError + Send + Sync + 'static) -> Error {
    Error::JetStream(Box::new(e))
}
