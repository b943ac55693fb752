//! A retry budget shared across calls, so that an outage does not multiply its own load.

use std::fmt;

use crate::error::ConfigError;
use crate::loom::{Arc, AtomicU64, Ordering};

/// Fixed-point unit of the balance: one retry is a million micro-retries, so ratios down to one
/// retry per million successes stay exact enough.
const UNIT: u64 = 1_000_000;

/// Retries earned per success unless told otherwise.
pub(crate) const DEFAULT_RATIO: f64 = 0.1;
/// Retries a budget holds unless told otherwise.
pub(crate) const DEFAULT_CAPACITY: u32 = 100;

/// A token bucket of retries, earned as a fraction of successful calls and shared by every loop
/// that holds a clone.
///
/// Per-call limits (attempts, time) bound one caller; they do not stop ten thousand callers from
/// each retrying three times against a remote that is already down, turning one unit of load
/// into three. A budget bounds the fleet: each successful call earns `ratio` of a retry, each
/// retry spends one, and when the bucket is empty loops give up at once with
/// [`StopReason::BudgetExhausted`](crate::StopReason::BudgetExhausted) instead of retrying.
/// The bucket holds at most `capacity` retries, so a long healthy spell cannot bank an unbounded
/// burst, and it starts full so that a fresh process can retry straight away. (This is the
/// clock-free form of Finagle's and tower's budgets, and the shape of the AWS SDKs' retry quota.)
///
/// Cloning is cheap and shares the bucket. A success with a full bucket costs one atomic load.
///
/// ```
/// use taskweave_backoff::RetryBudget;
///
/// let budget = RetryBudget::builder().ratio(0.5).capacity(2).build()?;
/// assert!(budget.try_withdraw());
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw(), "empty: the third retry is refused");
/// budget.deposit();
/// budget.deposit(); // two successes earn one retry back
/// assert!(budget.try_withdraw());
/// assert_eq!(budget.denied(), 1);
/// # Ok::<(), taskweave_backoff::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    /// Micro-retries available.
    balance: AtomicU64,
    capacity: u64,
    earn: u64,
    denied: AtomicU64,
}

impl RetryBudget {
    /// A builder with the defaults: ratio 0.1 (one retry per ten successes), capacity 100,
    /// starting full.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            ratio: DEFAULT_RATIO,
            capacity: DEFAULT_CAPACITY,
            initial: None,
        }
    }

    /// Records a successful call, earning `ratio` of a retry (up to the capacity).
    #[inline]
    pub fn deposit(&self) {
        let inner = &*self.inner;
        // The healthy steady state: full, nothing to write, no cache line bouncing.
        if inner.balance.load(Ordering::Relaxed) >= inner.capacity {
            return;
        }
        let _ = inner
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
                (balance < inner.capacity)
                    .then(|| balance.saturating_add(inner.earn).min(inner.capacity))
            });
    }

    /// Spends one retry; `false` (and one more [`denied`](RetryBudget::denied)) when fewer than
    /// one is available.
    pub fn try_withdraw(&self) -> bool {
        let inner = &*self.inner;
        let spent = inner
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
                balance.checked_sub(UNIT)
            })
            .is_ok();
        if !spent {
            inner.denied.fetch_add(1, Ordering::Relaxed);
        }
        spent
    }

    /// Whole retries available right now.
    pub fn available(&self) -> u32 {
        let retries = self.inner.balance.load(Ordering::Relaxed) / UNIT;
        u32::try_from(retries).unwrap_or(u32::MAX)
    }

    /// How many retries this budget has refused since it was built.
    pub fn denied(&self) -> u64 {
        self.inner.denied.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("available", &self.available())
            .field("capacity", &(self.inner.capacity / UNIT))
            .field("ratio", &(self.inner.earn as f64 / UNIT as f64))
            .field("denied", &self.denied())
            .finish()
    }
}

/// Configures a [`RetryBudget`]; [`build`](RetryBudgetBuilder::build) validates it.
#[derive(Debug, Clone, Copy)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryBudgetBuilder {
    ratio: f64,
    capacity: u32,
    initial: Option<u32>,
}

impl RetryBudgetBuilder {
    /// Retries earned per successful call (default 0.1: retries may add at most 10% to the load
    /// once the initial balance is spent).
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// The most retries the bucket holds (default 100).
    pub fn capacity(mut self, retries: u32) -> Self {
        self.capacity = retries;
        self
    }

    /// Retries available before any success (default: the capacity).
    pub fn initial(mut self, retries: u32) -> Self {
        self.initial = Some(retries);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidRetryRatio`] if the ratio is not a positive finite number (or so
    /// small that it earns nothing), [`ConfigError::ZeroRetryCapacity`] for a zero capacity, and
    /// [`ConfigError::InitialAboveCapacity`] if the initial balance exceeds the capacity.
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        let earn = self.ratio * UNIT as f64;
        if !self.ratio.is_finite() || earn < 1.0 {
            return Err(ConfigError::InvalidRetryRatio(self.ratio));
        }
        if self.capacity == 0 {
            return Err(ConfigError::ZeroRetryCapacity);
        }
        let initial = self.initial.unwrap_or(self.capacity);
        if initial > self.capacity {
            return Err(ConfigError::InitialAboveCapacity {
                initial,
                capacity: self.capacity,
            });
        }
        Ok(RetryBudget {
            inner: Arc::new(Inner {
                balance: AtomicU64::new(u64::from(initial) * UNIT),
                capacity: u64::from(self.capacity) * UNIT,
                earn: earn as u64,
                denied: AtomicU64::new(0),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earns_a_fraction_per_success_up_to_capacity() {
        let budget = RetryBudget::builder()
            .ratio(0.1)
            .capacity(3)
            .initial(0)
            .build()
            .unwrap();
        assert!(!budget.try_withdraw());
        for _ in 0..9 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 0, "nine successes earn 0.9 of a retry");
        budget.deposit();
        assert_eq!(budget.available(), 1);
        for _ in 0..1000 {
            budget.deposit();
        }
        assert_eq!(budget.available(), 3, "capped at the capacity");
        assert!(budget.try_withdraw());
        assert_eq!(budget.available(), 2);
        assert_eq!(budget.denied(), 1);
    }

    #[test]
    fn clones_share_the_bucket() {
        let a = RetryBudget::builder().capacity(1).build().unwrap();
        let b = a.clone();
        assert!(a.try_withdraw());
        assert!(!b.try_withdraw());
        assert_eq!(a.denied(), 1);
    }

    #[test]
    fn bad_configuration_is_rejected() {
        for ratio in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9] {
            assert!(matches!(
                RetryBudget::builder().ratio(ratio).build(),
                Err(ConfigError::InvalidRetryRatio(_))
            ));
        }
        assert_eq!(
            RetryBudget::builder().capacity(0).build().err(),
            Some(ConfigError::ZeroRetryCapacity)
        );
        assert_eq!(
            RetryBudget::builder().capacity(2).initial(3).build().err(),
            Some(ConfigError::InitialAboveCapacity {
                initial: 3,
                capacity: 2
            })
        );
    }
}
