//! The blocking retry loop: the same decisions as the async one, sleeping the thread.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::budget::RetryBudget;
use crate::error::{RetryError, StopReason};
use crate::policy::Backoff;
use crate::schedule::{Hooks, Progress};

/// A blocking retry loop being configured, from [`retry_blocking`](crate::retry_blocking);
/// finish it with [`call`](RetryBlocking::call).
///
/// It takes the same options as the async [`Retry`](crate::Retry), with the same meaning.
#[must_use = "a retry loop does nothing until it is called"]
pub struct RetryBlocking<
    F,
    E,
    W = fn(&E) -> bool,
    N = fn(&E, u32, Duration),
    H = fn(&E) -> Option<Duration>,
> {
    op: F,
    backoff: Backoff,
    hooks: Hooks<W, N, H>,
    error: PhantomData<fn(&E)>,
}

impl<F, E> RetryBlocking<F, E> {
    pub(crate) fn new(backoff: Backoff, op: F) -> Self {
        Self {
            op,
            backoff,
            hooks: Hooks::new(),
            error: PhantomData,
        }
    }
}

impl<F, E, W, N, H> RetryBlocking<F, E, W, N, H> {
    /// Retries only the errors for which `retryable` returns `true`; see
    /// [`Retry::when`](crate::Retry::when).
    pub fn when<W2>(self, retryable: W2) -> RetryBlocking<F, E, W2, N, H>
    where
        W2: FnMut(&E) -> bool,
    {
        RetryBlocking {
            op: self.op,
            backoff: self.backoff,
            hooks: self.hooks.set_when(retryable),
            error: PhantomData,
        }
    }

    /// Calls `hook(error, attempt, delay)` before each sleep; see
    /// [`Retry::notify`](crate::Retry::notify).
    pub fn notify<N2>(self, hook: N2) -> RetryBlocking<F, E, W, N2, H>
    where
        N2: FnMut(&E, u32, Duration),
    {
        RetryBlocking {
            op: self.op,
            backoff: self.backoff,
            hooks: self.hooks.set_notify(hook),
            error: PhantomData,
        }
    }

    /// Lets the error choose the delay, still capped; see
    /// [`Retry::retry_after`](crate::Retry::retry_after).
    pub fn retry_after<H2>(self, hint: H2) -> RetryBlocking<F, E, W, N, H2>
    where
        H2: FnMut(&E) -> Option<Duration>,
    {
        RetryBlocking {
            op: self.op,
            backoff: self.backoff,
            hooks: self.hooks.set_hint(hint),
            error: PhantomData,
        }
    }

    /// Stops retrying when `token` is cancelled, waking the sleeping thread at once; see
    /// [`Retry::cancellation_token`](crate::Retry::cancellation_token).
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.hooks.cancel = Some(token);
        self
    }

    /// Spends from, and deposits into, a shared retry budget; see
    /// [`Retry::budget`](crate::Retry::budget).
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.hooks.budget = Some(budget);
        self
    }

    /// Runs the operation to completion, sleeping the current thread between attempts.
    ///
    /// Do not call this from async code: it blocks the executor thread; `.await` an async
    /// operation with [`retry`](crate::retry) instead, or wrap this in
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// The operation's last error, in a [`RetryError`] that says why the loop stopped.
    pub fn call<T>(self) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Result<T, E>,
        W: FnMut(&E) -> bool,
        N: FnMut(&E, u32, Duration),
        H: FnMut(&E) -> Option<Duration>,
    {
        run(self.op, self.backoff, self.hooks)
    }
}

impl<F, E, W, N, H> fmt::Debug for RetryBlocking<F, E, W, N, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBlocking")
            .field("backoff", &self.backoff)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

fn run<F, T, E, W, N, H>(
    mut op: F,
    backoff: Backoff,
    mut hooks: Hooks<W, N, H>,
) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Result<T, E>,
    W: FnMut(&E) -> bool,
    N: FnMut(&E, u32, Duration),
    H: FnMut(&E) -> Option<Duration>,
{
    let started = backoff.max_elapsed().map(|_| Instant::now());
    let mut delays = None;
    let mut attempts = 0u32;
    loop {
        let result = op();
        attempts = attempts.saturating_add(1);
        let error = match result {
            Ok(value) => {
                hooks.succeeded();
                return Ok(value);
            }
            Err(error) => error,
        };
        let progress = Progress {
            backoff: &backoff,
            delays: &mut delays,
            attempts,
        };
        match hooks.decide(&error, progress, || started.map(|s| s.elapsed())) {
            Ok(delay) => {
                if !sleep_unless_cancelled(delay, hooks.cancel.as_ref()) {
                    tracing::debug!(attempts, "retry cancelled while waiting");
                    return Err(RetryError::new(error, StopReason::Cancelled, attempts));
                }
            }
            Err(reason) => return Err(RetryError::new(error, reason, attempts)),
        }
    }
}

/// Sleeps for `delay`, or until `token` is cancelled; `false` if it was.
fn sleep_unless_cancelled(delay: Duration, token: Option<&CancellationToken>) -> bool {
    if delay.is_zero() {
        // A zero delay retries at once: no sleep call (the token was checked when deciding).
        return true;
    }
    let Some(token) = token else {
        thread::sleep(delay);
        return true;
    };
    // The token's future is runtime-agnostic: poll it with a waker that unparks this thread,
    // and park until either it fires or the deadline passes (parks may wake spuriously).
    let deadline = Instant::now().checked_add(delay);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut cancelled = pin!(token.cancelled());
    loop {
        if cancelled.as_mut().poll(&mut cx).is_ready() {
            return false;
        }
        match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return true;
                }
                thread::park_timeout(deadline - now);
            }
            None => thread::park(),
        }
    }
}

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
