//! Subjects and names checked once, the same way for the local bus and for NATS.

use taskweave_bus::{Pattern, SubjectError};

use crate::error::{ConfigError, Error};

/// The longest subject or pattern the bridge sends to NATS, in bytes: 3,072. NATS's default
/// `max_control_line` (4,096 bytes) must hold the subject, a reply subject and the sizes.
pub const MAX_NATS_SUBJECT_LEN: usize = 3072;

fn check(text: &str, pattern: bool) -> Result<Pattern, SubjectError> {
    let parsed = Pattern::parse(text)?;
    if text.len() > MAX_NATS_SUBJECT_LEN {
        return Err(SubjectError::TooLong {
            len: text.len(),
            max: MAX_NATS_SUBJECT_LEN,
        });
    }
    if !pattern && !parsed.is_exact() {
        // Report the first wildcard token, as the bus does for a publish subject.
        let position = text
            .split('.')
            .position(|t| t == "*" || t == ">")
            .unwrap_or(0);
        return Err(SubjectError::WildcardInSubject { position });
    }
    Ok(parsed)
}

/// Validates a pattern for an export or import: the bus grammar, within
/// [`MAX_NATS_SUBJECT_LEN`].
pub(crate) fn pattern(text: &str) -> Result<Pattern, ConfigError> {
    check(text, true).map_err(|source| ConfigError::InvalidSubject {
        subject: text.to_owned(),
        source,
    })
}

/// Validates a publish subject: no wildcards, within [`MAX_NATS_SUBJECT_LEN`].
pub(crate) fn subject(text: &str) -> Result<(), Error> {
    check(text, false)
        .map(drop)
        .map_err(|source| Error::InvalidSubject {
            subject: text.to_owned(),
            source,
        })
}

/// Validates a stream, consumer or bridge name: JetStream refuses `.`, `*`, `>`,
/// whitespace and path separators in them.
pub(crate) fn name(setting: &'static str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidName {
            setting,
            name: name.to_owned(),
        })
    }
}
