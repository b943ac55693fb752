//! Subjects (where a message is published) and patterns (what a subscriber asks for).
//!
//! The syntax is NATS's: dot-separated non-empty tokens; in a pattern, a token `*` matches
//! exactly one token and a final token `>` matches one or more tokens.

use std::fmt;

use crate::error::SubjectError;

/// The longest subject or pattern accepted, in bytes: 4,096. Longer ones are refused with
/// [`SubjectError::TooLong`].
pub const MAX_SUBJECT_LEN: usize = 4096;

/// The most tokens a subject or pattern may have: 256. More are refused with
/// [`SubjectError::TooManyTokens`]. Routing walks one level of the pattern index per token.
pub const MAX_TOKENS: usize = 256;

fn check_len(text: &str) -> Result<(), SubjectError> {
    if text.is_empty() {
        return Err(SubjectError::Empty);
    }
    if text.len() > MAX_SUBJECT_LEN {
        return Err(SubjectError::TooLong {
            len: text.len(),
            max: MAX_SUBJECT_LEN,
        });
    }
    Ok(())
}

fn check_position(position: usize) -> Result<(), SubjectError> {
    if position >= MAX_TOKENS {
        return Err(SubjectError::TooManyTokens { max: MAX_TOKENS });
    }
    Ok(())
}

/// Checks that `subject` is a valid publish subject: at most [`MAX_SUBJECT_LEN`] bytes and
/// [`MAX_TOKENS`] dot-separated, non-empty tokens without whitespace or wildcards.
pub(crate) fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    check_len(subject)?;
    // Fast path, on every publish: one pass over ASCII bytes.
    if subject.is_ascii() {
        let mut position = 0;
        let mut token_len = 0;
        for &b in subject.as_bytes() {
            match b {
                b'.' if token_len == 0 => return Err(SubjectError::EmptyToken { position }),
                b'.' => {
                    position += 1;
                    check_position(position)?;
                    token_len = 0;
                    continue;
                }
                b'*' | b'>' => return Err(SubjectError::WildcardInSubject { position }),
                b if b.is_ascii_whitespace() || b == 0x0b => {
                    return Err(SubjectError::Whitespace { position });
                }
                _ => {}
            }
            token_len += 1;
        }
        if token_len == 0 {
            return Err(SubjectError::EmptyToken { position });
        }
        return Ok(());
    }
    for (position, token) in subject.split('.').enumerate() {
        check_position(position)?;
        check_token(token, position)?;
        if token.contains(['*', '>']) {
            return Err(SubjectError::WildcardInSubject { position });
        }
    }
    Ok(())
}

fn check_token(token: &str, position: usize) -> Result<(), SubjectError> {
    if token.is_empty() {
        return Err(SubjectError::EmptyToken { position });
    }
    if token.contains(char::is_whitespace) {
        return Err(SubjectError::Whitespace { position });
    }
    Ok(())
}

/// One token of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Token {
    /// Matches exactly this token.
    Literal(Box<str>),
    /// `*`: matches any single token.
    Any,
    /// `>`: matches one or more trailing tokens; only ever the last token.
    Rest,
}

/// A validated subscription pattern such as `orders.eu.created`, `orders.*.created` or
/// `orders.>`.
///
/// `*` stands for exactly one token and may appear anywhere; `>` stands for one or more tokens
/// and may only be the last token. A pattern without wildcards matches exactly one subject.
/// Patterns and subjects have at most [`MAX_TOKENS`] tokens and [`MAX_SUBJECT_LEN`] bytes.
///
/// ```
/// use taskweave_bus::Pattern;
///
/// let pattern = Pattern::parse("orders.*.created")?;
/// assert!(pattern.matches("orders.eu.created"));
/// assert!(!pattern.matches("orders.eu.shipped"));
/// assert!(Pattern::parse("orders.>")?.matches("orders.eu.created"));
/// assert!(Pattern::parse("orders..created").is_err());
/// # Ok::<(), taskweave_bus::SubjectError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: Box<str>,
    tokens: Box<[Token]>,
}

impl Pattern {
    /// Parses and validates a pattern.
    ///
    /// # Errors
    ///
    /// [`SubjectError`] if the pattern is empty, has an empty token (`a..b`, a leading or
    /// trailing dot), contains whitespace, uses a wildcard inside a token (`ord*`), has `>`
    /// anywhere but last, is longer than [`MAX_SUBJECT_LEN`] bytes or has more than
    /// [`MAX_TOKENS`] tokens.
    pub fn parse(pattern: &str) -> Result<Self, SubjectError> {
        check_len(pattern)?;
        let count = pattern.split('.').count();
        if count > MAX_TOKENS {
            return Err(SubjectError::TooManyTokens { max: MAX_TOKENS });
        }
        let mut tokens = Vec::with_capacity(count);
        for (position, token) in pattern.split('.').enumerate() {
            check_token(token, position)?;
            let parsed = match token {
                "*" => Token::Any,
                ">" if position + 1 == count => Token::Rest,
                ">" => return Err(SubjectError::FullWildcardNotLast { position }),
                literal if literal.contains(['*', '>']) => {
                    return Err(SubjectError::PartialWildcard { position });
                }
                literal => Token::Literal(literal.into()),
            };
            tokens.push(parsed);
        }
        Ok(Self {
            text: pattern.into(),
            tokens: tokens.into_boxed_slice(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no wildcard, i.e. names exactly one subject.
    pub fn is_exact(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// Whether `subject` matches this pattern. An invalid subject matches nothing.
    ///
    /// This is a direct token-by-token comparison; the bus itself routes through an index so
    /// that a publish never looks at patterns that cannot match.
    pub fn matches(&self, subject: &str) -> bool {
        if validate_subject(subject).is_err() {
            return false;
        }
        let mut tokens = subject.split('.');
        for expected in self.tokens.iter() {
            match expected {
                Token::Rest => return tokens.next().is_some(),
                Token::Any => {
                    if tokens.next().is_none() {
                        return false;
                    }
                }
                Token::Literal(literal) => {
                    if tokens.next() != Some(&**literal) {
                        return false;
                    }
                }
            }
        }
        tokens.next().is_none()
    }

    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", &*self.text)
    }
}

impl std::str::FromStr for Pattern {
    type Err = SubjectError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_reject_wildcards_and_empty_tokens() {
        assert_eq!(validate_subject(""), Err(SubjectError::Empty));
        assert_eq!(
            validate_subject("a..b"),
            Err(SubjectError::EmptyToken { position: 1 })
        );
        assert_eq!(
            validate_subject(".a"),
            Err(SubjectError::EmptyToken { position: 0 })
        );
        assert_eq!(
            validate_subject("a.*"),
            Err(SubjectError::WildcardInSubject { position: 1 })
        );
        assert_eq!(
            validate_subject("a b"),
            Err(SubjectError::Whitespace { position: 0 })
        );
        assert_eq!(validate_subject("orders.eu.created"), Ok(()));
    }

    #[test]
    fn sizes_are_bounded() {
        let at_limit = vec!["a"; MAX_TOKENS].join(".");
        assert_eq!(validate_subject(&at_limit), Ok(()));
        assert!(Pattern::parse(&at_limit).is_ok());
        let over = vec!["a"; MAX_TOKENS + 1].join(".");
        let too_many = Err(SubjectError::TooManyTokens { max: MAX_TOKENS });
        assert_eq!(validate_subject(&over), too_many);
        assert_eq!(Pattern::parse(&over).map(|_| ()), too_many);
        // Non-ASCII subjects take the slow path; same bound.
        let over = vec!["é"; MAX_TOKENS + 1].join(".");
        assert_eq!(validate_subject(&over), too_many);
        let long = "a".repeat(MAX_SUBJECT_LEN + 1);
        let too_long = Err(SubjectError::TooLong {
            len: MAX_SUBJECT_LEN + 1,
            max: MAX_SUBJECT_LEN,
        });
        assert_eq!(validate_subject(&long), too_long);
        assert_eq!(Pattern::parse(&long).map(|_| ()), too_long);
        assert_eq!(validate_subject(&long[1..]), Ok(()));
    }

    #[test]
    fn patterns_place_wildcards_as_whole_tokens() {
        assert_eq!(
            Pattern::parse("a.>.b"),
            Err(SubjectError::FullWildcardNotLast { position: 1 })
        );
        assert_eq!(
            Pattern::parse("a.b*"),
            Err(SubjectError::PartialWildcard { position: 1 })
        );
        assert_eq!(
            Pattern::parse("a."),
            Err(SubjectError::EmptyToken { position: 1 })
        );
        assert!(Pattern::parse("*.>").is_ok());
        assert!(Pattern::parse(">").is_ok());
        assert!(Pattern::parse("a.b").unwrap().is_exact());
    }

    #[test]
    fn direct_matching_follows_nats() {
        let p = |s| Pattern::parse(s).unwrap();
        assert!(p("a.*.c").matches("a.b.c"));
        assert!(!p("a.*.c").matches("a.c"));
        assert!(p("a.>").matches("a.b.c"));
        assert!(!p("a.>").matches("a"));
        assert!(p(">").matches("a"));
        assert!(!p("a.b").matches("a.b.c"));
        assert!(!p("a.b").matches("a.*"));
    }
}
