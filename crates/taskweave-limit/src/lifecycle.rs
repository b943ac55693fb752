//! Closing a limiter when a `CancellationToken` is cancelled, without a task.
//!
//! The token's `cancelled_owned()` future is polled once, at build time, with a waker that
//! closes the limiter when woken; the future is then kept in the limiter, so that its
//! registration with the token lives exactly as long as the limiter. No runtime is needed to
//! build a limiter with a token, and a limiter dropped before its token is cancelled leaves
//! nothing behind (the waker only holds a weak reference).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Wake, Waker};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Something a cancellation token can close.
pub(crate) trait Close: Send + Sync + 'static {
    /// Does what the limiter's public `close()` does.
    fn close(&self);

    /// Where the pending `cancelled()` futures are kept.
    fn watches(&self) -> &Watches;
}

/// The pending `cancelled()` futures of the tokens a limiter watches.
#[derive(Default)]
pub(crate) struct Watches(Mutex<Vec<Pin<Box<WaitForCancellationFutureOwned>>>>);

impl fmt::Debug for Watches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map_or(0, |w| w.len());
        f.debug_struct("Watches").field("tokens", &n).finish()
    }
}

/// Closes `target` when `token` is cancelled (at once if it already is).
pub(crate) fn close_on_cancel<T: Close>(target: &Arc<T>, token: CancellationToken) {
    let mut cancelled = Box::pin(token.cancelled_owned());
    let waker = Waker::from(Arc::new(CloseOnWake {
        target: Arc::downgrade(target),
    }));
    if cancelled
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready()
    {
        target.close();
        return;
    }
    // Pushing never panics halfway, so a poisoned lock still holds a valid list.
    let mut watches = target.watches().0.lock().unwrap_or_else(|e| e.into_inner());
    watches.push(cancelled);
}

/// The waker registered with a token: closes its target when woken.
struct CloseOnWake<T> {
    target: Weak<T>,
}

impl<T: Close> Wake for CloseOnWake<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(target) = self.target.upgrade() {
            tracing::debug!("cancellation token cancelled; closing the limiter");
            target.close();
        }
    }
}

/// The closed flag of a limiter whose waiters sleep on their own timers (keyed limiters):
/// closing sets the flag and wakes every waiter through a `Notify`.
#[derive(Debug)]
pub(crate) struct Shutter {
    closed: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
    watches: Watches,
    name: std::borrow::Cow<'static, str>,
    kind: &'static str,
}

impl Shutter {
    pub(crate) fn new(kind: &'static str, name: std::borrow::Cow<'static, str>) -> Self {
        Self {
            closed: std::sync::atomic::AtomicBool::new(false),
            notify: tokio::sync::Notify::new(),
            watches: Watches::default(),
            name,
            kind,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once the shutter closes. Create it, and `enable` it, *before* testing
    /// [`is_closed`](Self::is_closed), so that a close in between is not missed.
    pub(crate) fn closing(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Close for Shutter {
    fn close(&self) {
        if self.closed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        self.notify.notify_waiters();
        tracing::debug!(limiter = %self.name, kind = self.kind, "limiter closed");
    }

    fn watches(&self) -> &Watches {
        &self.watches
    }
}
