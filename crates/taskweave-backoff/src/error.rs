//! Errors: bad configuration, and why a retry loop gave up.

use std::fmt;
use std::time::Duration;

use crate::config::Strategy;

#[cfg(feature = "tower")]
use tower::BoxError;

/// A backoff policy or retry budget that cannot work as configured.
///
/// Returned by [`BackoffBuilder::build`](crate::BackoffBuilder::build) and
/// [`RetryBudgetBuilder::build`](crate::RetryBudgetBuilder::build), so that a bad setting fails
/// once, at start-up, instead of as a panic, a hot loop or an endless wait in production.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The policy's base delay is zero, so it would never grow past zero: every retry would fire
    /// at once.
    ZeroBase,
    /// The growth factor is below 1.0, so delays would shrink instead of growing.
    FactorBelowOne(f64),
    /// The growth factor is NaN or infinite.
    FactorNotFinite(f64),
    /// The cap on a single delay is below the policy's base delay.
    CapBelowBase {
        /// The base delay.
        base: Duration,
        /// The cap that is smaller than it.
        cap: Duration,
    },
    /// The maximum number of attempts is zero: the operation would never run.
    ZeroAttempts,
    /// The total time budget is zero: no retry could ever fit in it.
    ZeroTimeBudget,
    /// A retry budget's ratio of retries per success is NaN, infinite, zero or negative.
    InvalidRetryRatio(f64),
    /// A retry budget can hold no retry at all.
    ZeroRetryCapacity,
    /// A retry budget starts with more retries than it can hold.
    InitialAboveCapacity {
        /// The initial balance asked for.
        initial: u32,
        /// The budget's capacity.
        capacity: u32,
    },
    /// A [`BackoffConfig`](crate::BackoffConfig) sets something its strategy does not use (a
    /// `step` for an exponential policy, a `factor` for a linear one).
    NotForStrategy {
        /// The setting, as named in the config.
        setting: &'static str,
        /// The strategy that does not use it.
        strategy: Strategy,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroBase => f.write_str(
                "the base delay is zero, so the delays could never grow: use a base of at least \
                 1ms, or `Backoff::constant(Duration::ZERO)` if you really want immediate retries",
            ),
            Self::FactorBelowOne(factor) => write!(
                f,
                "the growth factor {factor} is below 1.0, so delays would shrink: use a factor \
                 of at least 1.0 (2.0 doubles each delay)"
            ),
            Self::FactorNotFinite(factor) => write!(
                f,
                "the growth factor {factor} is not a finite number: use a factor of at least 1.0 \
                 (2.0 doubles each delay)"
            ),
            Self::CapBelowBase { base, cap } => write!(
                f,
                "the delay cap {cap:?} is below the base delay {base:?}: raise the cap or lower \
                 the base"
            ),
            Self::ZeroAttempts => f.write_str(
                "max_attempts is zero, so the operation would never run: use 1 to run it once \
                 without retries",
            ),
            Self::ZeroTimeBudget => f.write_str(
                "the total time budget is zero, so no retry could fit: leave it unset, or use \
                 max_attempts(1) to disable retries",
            ),
            Self::InvalidRetryRatio(ratio) => write!(
                f,
                "the retry ratio {ratio} is not a positive finite number: use e.g. 0.1 to allow \
                 one retry per ten successful calls"
            ),
            Self::ZeroRetryCapacity => f.write_str(
                "the retry budget can hold no retry: give it a capacity of at least 1, or use \
                 max_attempts(1) to disable retries",
            ),
            Self::InitialAboveCapacity { initial, capacity } => write!(
                f,
                "the retry budget starts with {initial} retries but holds at most {capacity}: \
                 lower the initial balance or raise the capacity"
            ),
            Self::NotForStrategy { setting, strategy } => {
                let (fits, strategy) = (
                    match *setting {
                        "step" => "the linear strategy",
                        "factor" => "the exponential and decorrelated strategies",
                        _ => "another strategy",
                    },
                    strategy.name(),
                );
                write!(
                    f,
                    "`{setting}` does not apply to the {strategy} strategy, only to {fits}: \
                     remove it, or change the strategy"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a retry loop stopped without a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The policy's maximum number of attempts was reached.
    Exhausted,
    /// The next delay would have ended after the policy's total time budget.
    TimeBudget,
    /// The predicate said this error is not worth retrying.
    NotRetryable,
    /// The cancellation token fired.
    Cancelled,
    /// The shared [`RetryBudget`](crate::RetryBudget) had no retry left to spend.
    BudgetExhausted,
}

impl StopReason {
    fn describe(self) -> &'static str {
        match self {
            Self::Exhausted => "attempts exhausted",
            Self::TimeBudget => "time budget spent",
            Self::NotRetryable => "error not retryable",
            Self::Cancelled => "cancelled",
            Self::BudgetExhausted => "retry budget exhausted",
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The last error of a retry loop that gave up, with why it stopped and how many attempts it
/// made.
///
/// ```
/// use taskweave_backoff::{RetryError, StopReason};
///
/// fn log(err: &RetryError<std::io::Error>) {
///     match err.reason() {
///         StopReason::NotRetryable => eprintln!("permanent failure: {}", err.error()),
///         reason => eprintln!("gave up ({reason}) after {} attempts", err.attempts()),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryError<E> {
    error: E,
    reason: StopReason,
    attempts: u32,
}

impl<E> RetryError<E> {
    pub(crate) fn new(error: E, reason: StopReason, attempts: u32) -> Self {
        Self {
            error,
            reason,
            attempts,
        }
    }

    /// Why the loop stopped.
    pub fn reason(&self) -> StopReason {
        self.reason
    }

    /// How many times the operation ran (at least once).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last error the operation returned.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// Takes the last error the operation returned.
    pub fn into_error(self) -> E {
        self.error
    }

    /// Applies `f` to the inner error, keeping the reason and attempt count.
    pub fn map_err<F, E2>(self, f: F) -> RetryError<E2>
    where
        F: FnOnce(E) -> E2,
    {
        RetryError::new(f(self.error), self.reason, self.attempts)
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(
            f,
            "gave up after {} attempt{plural} ({}): {}",
            self.attempts, self.reason, self.error
        )
    }
}

impl<E> std::error::Error for RetryError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Why a tower [`RetryService`](crate::RetryService) gave up on a call it retried: the
/// service's error, boxed, reachable with `err.downcast_ref::<GaveUp>()`.
///
/// It holds the last error of the inner service as it was (a
/// [`BoxError`](tower::BoxError)), also returned by [`source`](std::error::Error::source), so
/// an inner timeout is found with `gave_up.error().is::<tower::timeout::error::Elapsed>()`.
/// An error the service did not retry is not wrapped: it comes back as it is.
///
/// Not `Clone` or `PartialEq`: the inner error is any boxed error. Compare
/// [`reason`](GaveUp::reason) and [`attempts`](GaveUp::attempts) instead.
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
#[derive(Debug)]
pub struct GaveUp {
    error: BoxError,
    reason: StopReason,
    attempts: u32,
}

#[cfg(feature = "tower")]
impl GaveUp {
    pub(crate) fn new(error: BoxError, reason: StopReason, attempts: u32) -> Self {
        Self {
            error,
            reason,
            attempts,
        }
    }

    /// Why the service stopped retrying.
    pub fn reason(&self) -> StopReason {
        self.reason
    }

    /// How many calls the service made (at least one).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last error of the inner service; downcast it to classify the failure.
    pub fn error(&self) -> &BoxError {
        &self.error
    }

    /// Takes the last error of the inner service.
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

#[cfg(feature = "tower")]
impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(
            f,
            "gave up after {} attempt{plural} ({}): {}",
            self.attempts, self.reason, self.error
        )
    }
}

#[cfg(feature = "tower")]
impl std::error::Error for GaveUp {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}
