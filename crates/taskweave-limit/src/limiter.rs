//! [`Limiter`]: a rate limit and a concurrency limit taken together.

use std::fmt;

use crate::clock::{Clock, TokioClock};
use crate::concurrency::{ConcurrencyLimit, ConcurrencyPermit};
use crate::error::{ConfigError, Limited};
use crate::rate::RateLimiter;

/// A rate limit and a concurrency limit applied together: at most N requests per period *and*
/// at most M in flight. Clones share the same limits.
///
/// The concurrency slot is taken first and the rate permit second, so a request starts (and
/// counts against the rate) only once it can run; starts therefore follow the quota even
/// after a backlog, instead of bunching up when slots free.
pub struct Limiter<C: Clock = TokioClock> {
    rate: Option<RateLimiter<C>>,
    concurrency: Option<ConcurrencyLimit>,
}

impl<C: Clock> Clone for Limiter<C> {
    fn clone(&self) -> Self {
        Self {
            rate: self.rate.clone(),
            concurrency: self.concurrency.clone(),
        }
    }
}

impl<C: Clock> fmt::Debug for Limiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("rate", &self.rate)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// Held while a request admitted by a [`Limiter`] runs; frees the concurrency slot on drop.
#[derive(Debug)]
#[must_use = "the concurrency slot is released as soon as the permit is dropped"]
pub struct LimiterPermit {
    _concurrency: Option<ConcurrencyPermit>,
}

impl Limiter {
    /// A builder; give it a rate limit, a concurrency limit, or both.
    pub fn builder() -> LimiterBuilder {
        LimiterBuilder {
            rate: None,
            concurrency: None,
        }
    }
}

impl<C: Clock> Limiter<C> {
    /// Waits for a concurrency slot, then for a rate permit, both in arrival order.
    ///
    /// The request is counted as admitted by both limits once it holds both; a wait for
    /// either is counted as a wait ([`Metrics::waited`](crate::Metrics::waited)) by the limit
    /// it waited for, never as a rejection.
    ///
    /// # Cancel safety
    /// Cancel-safe: if dropped while waiting for the rate permit, the slot is released and
    /// nothing is counted as admitted; no rate permit is consumed unless this returns.
    pub async fn acquire(&self) -> LimiterPermit {
        let slot = match &self.concurrency {
            Some(limit) => Some(limit.acquire_slot().await),
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.acquire().await;
        }
        if let Some(limit) = &self.concurrency {
            limit.note_admitted();
        }
        LimiterPermit { _concurrency: slot }
    }

    /// Admits a request now if both limits allow it, without waiting.
    ///
    /// # Errors
    /// [`Limited::Concurrency`] if every slot is in use (counted as a rejection by the
    /// concurrency limit), [`Limited::Rate`] with the wait until the rate would allow it
    /// (counted by the rate limit; the slot it had borrowed is returned uncounted). A refused
    /// request holds nothing.
    pub fn try_acquire(&self) -> Result<LimiterPermit, Limited> {
        let slot = match &self.concurrency {
            Some(limit) => match limit.take_slot() {
                Ok(slot) => Some(slot),
                Err(full) => {
                    limit.note_rejected();
                    return Err(full.into());
                }
            },
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.check()?;
        }
        if let Some(limit) = &self.concurrency {
            limit.note_admitted();
        }
        Ok(LimiterPermit { _concurrency: slot })
    }

    /// The rate limit, if any.
    pub fn rate(&self) -> Option<&RateLimiter<C>> {
        self.rate.as_ref()
    }

    /// The concurrency limit, if any.
    pub fn concurrency(&self) -> Option<&ConcurrencyLimit> {
        self.concurrency.as_ref()
    }
}

/// Builds a [`Limiter`]; see [`Limiter::builder`].
#[derive(Debug)]
pub struct LimiterBuilder<C: Clock = TokioClock> {
    rate: Option<RateLimiter<C>>,
    concurrency: Option<ConcurrencyLimit>,
}

impl<C: Clock> LimiterBuilder<C> {
    /// Applies `rate` (shared with its other clones).
    pub fn rate<C2: Clock>(self, rate: RateLimiter<C2>) -> LimiterBuilder<C2> {
        LimiterBuilder {
            rate: Some(rate),
            concurrency: self.concurrency,
        }
    }

    /// Applies `limit` (shared with its other clones).
    pub fn concurrency(mut self, limit: ConcurrencyLimit) -> Self {
        self.concurrency = Some(limit);
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    /// [`ConfigError::EmptyLimiter`] if neither limit was given.
    pub fn build(self) -> Result<Limiter<C>, ConfigError> {
        if self.rate.is_none() && self.concurrency.is_none() {
            return Err(ConfigError::EmptyLimiter);
        }
        Ok(Limiter {
            rate: self.rate,
            concurrency: self.concurrency,
        })
    }
}
