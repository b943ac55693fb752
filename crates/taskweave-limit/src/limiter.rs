//! [`Limiter`]: a rate limit and a concurrency limit taken together.

use std::fmt;

use tokio_util::sync::CancellationToken;

use crate::concurrency::{ConcurrencyLimit, ConcurrencyPermit};
use crate::error::{Closed, ConfigError, Limited};
use crate::rate::RateLimiter;
use taskweave_clock::{Clock, DefaultClock};

/// A rate limit and a concurrency limit applied together: at most N requests per period *and*
/// at most M in flight. Clones share the same limits.
///
/// The concurrency slot is taken first and the rate permit second, so a request starts (and
/// counts against the rate) only once it can run; starts therefore follow the quota even
/// after a backlog, instead of bunching up when slots free.
///
/// [`close`](Self::close) closes both limits (they are shared with their other handles), and
/// [`drain`](Self::drain) also waits for the concurrency permits handed out to come back.
pub struct Limiter<C: Clock = DefaultClock> {
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
            token: None,
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
    /// # Errors
    /// [`Closed`] if either limit is closed, at once for a new call and as soon as it closes
    /// for a waiting one (a slot taken meanwhile is given back).
    ///
    /// # Cancel safety
    /// Cancel-safe: if dropped while waiting for the rate permit, the slot is released and
    /// nothing is counted as admitted; no rate permit is consumed unless this returns.
    pub async fn acquire(&self) -> Result<LimiterPermit, Closed> {
        let slot = match &self.concurrency {
            Some(limit) => Some(limit.acquire_slot().await?),
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.acquire().await?;
        }
        if let Some(limit) = &self.concurrency {
            limit.note_admitted();
        }
        Ok(LimiterPermit { _concurrency: slot })
    }

    /// Admits a request now if both limits allow it, without waiting.
    ///
    /// # Errors
    /// [`Limited::Concurrency`] if every slot is in use (counted as a rejection by the
    /// concurrency limit), [`Limited::Rate`] with the wait until the rate would allow it
    /// (counted by the rate limit; the slot it had borrowed is returned uncounted),
    /// [`Limited::Closed`] if either limit is closed. A refused request holds nothing.
    pub fn try_acquire(&self) -> Result<LimiterPermit, Limited> {
        let slot = match &self.concurrency {
            Some(limit) => match limit.take_slot() {
                Ok(slot) => Some(slot),
                Err(e) => {
                    if e == crate::TryAcquireError::AtCapacity {
                        limit.note_rejected();
                    }
                    return Err(e.into());
                }
            },
            None => None,
        };
        if let Some(rate) = &self.rate {
            // The rate limiter's own `check` ignores close; a `Limiter` is not that hot path.
            if rate.is_closed() {
                return Err(Limited::Closed);
            }
            rate.check()?;
        }
        if let Some(limit) = &self.concurrency {
            limit.note_admitted();
        }
        Ok(LimiterPermit { _concurrency: slot })
    }

    /// Closes both limits: waiters in `acquire` return [`Closed`] at once, later requests are
    /// refused. Permits held stay valid. Idempotent; returns at once.
    pub fn close(&self) {
        if let Some(rate) = &self.rate {
            rate.close();
        }
        if let Some(limit) = &self.concurrency {
            limit.close();
        }
    }

    /// Whether either limit is closed (and so refuses every request).
    pub fn is_closed(&self) -> bool {
        self.rate.as_ref().is_some_and(RateLimiter::is_closed)
            || self
                .concurrency
                .as_ref()
                .is_some_and(ConcurrencyLimit::is_closed)
    }

    /// [`close`](Self::close)s, then waits until every concurrency permit handed out has been
    /// dropped (a rate permit is spent when taken: there is nothing to wait for). Never
    /// aborts anything.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future does not undo the close; call `drain` again to wait.
    pub async fn drain(&self) {
        self.close();
        if let Some(limit) = &self.concurrency {
            limit.drain().await;
        }
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
pub struct LimiterBuilder<C: Clock = DefaultClock> {
    rate: Option<RateLimiter<C>>,
    concurrency: Option<ConcurrencyLimit>,
    token: Option<CancellationToken>,
}

impl<C: Clock> LimiterBuilder<C> {
    /// Applies `rate` (shared with its other clones).
    pub fn rate<C2: Clock>(self, rate: RateLimiter<C2>) -> LimiterBuilder<C2> {
        LimiterBuilder {
            rate: Some(rate),
            concurrency: self.concurrency,
            token: self.token,
        }
    }

    /// Applies `limit` (shared with its other clones).
    pub fn concurrency(mut self, limit: ConcurrencyLimit) -> Self {
        self.concurrency = Some(limit);
        self
    }

    /// Closes the limiter when `token` is cancelled: exactly what [`Limiter::close`] does (both
    /// limits close). Graceful; needs no runtime and no task.
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
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
        if let Some(token) = self.token {
            if let Some(rate) = &self.rate {
                rate.close_on_cancel(token.clone());
            }
            if let Some(limit) = &self.concurrency {
                limit.close_on_cancel(token);
            }
        }
        Ok(Limiter {
            rate: self.rate,
            concurrency: self.concurrency,
        })
    }
}
