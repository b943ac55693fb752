//! The option slots of a [`Retry`](crate::Retry) loop: what each of its hook type parameters may
//! hold.
//!
//! Each builder method of `Retry` fills one slot: [`when`](crate::Retry::when) the [`When`] slot,
//! [`notify`](crate::Retry::notify) [`Notify`], [`retry_after`](crate::Retry::retry_after)
//! [`Hint`], [`cancellation_token`](crate::Retry::cancellation_token) [`Cancel`] and
//! [`budget`](crate::Retry::budget) [`Budget`]. A slot that was not filled holds `()`, which
//! does what the option's absence means (retry every error, tell no one, take no hint, never
//! cancel, never run out) and takes no space, needs no drop and is compiled away: a loop that
//! uses none of them costs little more than the call it wraps.
//!
//! The traits are sealed: they only name what a slot may hold, and are not meant to be
//! implemented outside this crate.

use std::fmt;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::budget::RetryBudget;

/// The predicate slot: `()` (retry every error) or a `FnMut(&E) -> bool`.
pub trait When<E>: sealed::When<E> {}

/// The hook slot: `()` (tell no one) or a `FnMut(&E, u32, Duration)`.
pub trait Notify<E>: sealed::Notify<E> {}

/// The server-hint slot: `()` (no hint) or a `FnMut(&E) -> Option<Duration>`.
pub trait Hint<E>: sealed::Hint<E> {}

/// The cancellation slot: `()` (never cancelled) or a [`CancellationToken`].
pub trait Cancel: sealed::Cancel + fmt::Debug {}

/// The budget slot: `()` (no shared budget) or a [`RetryBudget`].
pub trait Budget: sealed::Budget + fmt::Debug {}

impl<E, T: sealed::When<E>> When<E> for T {}
impl<E, T: sealed::Notify<E>> Notify<E> for T {}
impl<E, T: sealed::Hint<E>> Hint<E> for T {}
impl<T: sealed::Cancel + fmt::Debug> Cancel for T {}
impl<T: sealed::Budget + fmt::Debug> Budget for T {}

/// The slots' behaviour, out of reach of other crates. The blocking loop and the tower layer
/// keep their token and budget as `Option`s, hence the impls for those.
pub(crate) mod sealed {
    use super::{CancellationToken, Duration, RetryBudget, WaitForCancellationFutureOwned};

    pub trait When<E> {
        fn retryable(&mut self, error: &E) -> bool;
    }

    pub trait Notify<E> {
        fn notify(&mut self, error: &E, attempt: u32, delay: Duration);
    }

    pub trait Hint<E> {
        fn hint(&mut self, error: &E) -> Option<Duration>;
    }

    pub trait Cancel {
        fn is_cancelled(&self) -> bool;
        /// A future that completes when the token is cancelled, if there is a token.
        fn waiter(&self) -> Option<WaitForCancellationFutureOwned>;
    }

    pub trait Budget {
        fn deposit(&self);
        /// `true` if a retry may go ahead; no budget never refuses.
        fn try_withdraw(&self) -> bool;
    }

    impl<E> When<E> for () {
        #[inline]
        fn retryable(&mut self, _: &E) -> bool {
            true
        }
    }

    impl<E, F: FnMut(&E) -> bool> When<E> for F {
        #[inline]
        fn retryable(&mut self, error: &E) -> bool {
            self(error)
        }
    }

    impl<E> Notify<E> for () {
        #[inline]
        fn notify(&mut self, _: &E, _: u32, _: Duration) {}
    }

    impl<E, F: FnMut(&E, u32, Duration)> Notify<E> for F {
        #[inline]
        fn notify(&mut self, error: &E, attempt: u32, delay: Duration) {
            self(error, attempt, delay);
        }
    }

    impl<E> Hint<E> for () {
        #[inline]
        fn hint(&mut self, _: &E) -> Option<Duration> {
            None
        }
    }

    impl<E, F: FnMut(&E) -> Option<Duration>> Hint<E> for F {
        #[inline]
        fn hint(&mut self, error: &E) -> Option<Duration> {
            self(error)
        }
    }

    impl Cancel for () {
        #[inline]
        fn is_cancelled(&self) -> bool {
            false
        }

        #[inline]
        fn waiter(&self) -> Option<WaitForCancellationFutureOwned> {
            None
        }
    }

    impl Cancel for CancellationToken {
        fn is_cancelled(&self) -> bool {
            CancellationToken::is_cancelled(self)
        }

        fn waiter(&self) -> Option<WaitForCancellationFutureOwned> {
            Some(self.clone().cancelled_owned())
        }
    }

    impl Cancel for Option<CancellationToken> {
        fn is_cancelled(&self) -> bool {
            self.as_ref().is_some_and(CancellationToken::is_cancelled)
        }

        fn waiter(&self) -> Option<WaitForCancellationFutureOwned> {
            self.clone().map(CancellationToken::cancelled_owned)
        }
    }

    impl Budget for () {
        #[inline]
        fn deposit(&self) {}

        #[inline]
        fn try_withdraw(&self) -> bool {
            true
        }
    }

    impl Budget for RetryBudget {
        #[inline]
        fn deposit(&self) {
            RetryBudget::deposit(self);
        }

        fn try_withdraw(&self) -> bool {
            RetryBudget::try_withdraw(self)
        }
    }

    impl Budget for Option<RetryBudget> {
        #[inline]
        fn deposit(&self) {
            if let Some(budget) = self {
                budget.deposit();
            }
        }

        fn try_withdraw(&self) -> bool {
            self.as_ref().is_none_or(RetryBudget::try_withdraw)
        }
    }
}
