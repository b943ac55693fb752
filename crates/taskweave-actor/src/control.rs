//! The control channel of one actor: how close, abort and link-exit requests reach its event loop
//! without waiting behind a full mailbox, and without an idle actor sleeping through them.
//!
//! The protocol is *register, then recheck*:
//!
//! - A requester records its request in the pending slot, raises the `SIGNAL` flag, then wakes
//!   whatever waker is registered ([`Control::request`]).
//! - The event loop checks the flag before every message — one atomic load
//!   ([`Control::take`]). When its mailbox is empty it registers its waker, then checks the flag
//!   again before it sleeps ([`Control::poll_signal`]). A request raised before the
//!   registration is seen by the recheck; one raised after it finds the waker. Either way an
//!   idle actor never sleeps through a request.
//!
//! A handler that waits for something slow but must give way to a stop (the supervisor's
//! restart delay) waits with the same protocol on the refusing flag ([`Control::poll_refusing`]).
//!
//! The waker slot identifies its waiter by position, not by waker identity: it has exactly one
//! waiter, the actor's own task, and always holds the waker of that task's latest poll.
//!
//! Everything here uses the primitives of [`crate::loom`], so `tests/loom_control.rs` drives
//! this very code under loom.

use std::fmt;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use crate::flags::Flags;
use crate::loom::Mutex;

// `pub` only so that the loom models can reach it (re-exported under `cfg(taskweave_loom)`);
// otherwise crate-private.
/// The control channel of one actor: pending requests `S`, the flag word, and the waker of the
/// actor's task while it waits.
#[allow(unreachable_pub)]
pub struct Control<S> {
    flags: Flags,
    /// Requests wait here. Short critical sections, never held across `.await` or a wake.
    pending: Mutex<S>,
    /// The waker of the actor's task, registered while it waits. One waiter only: the slot is
    /// its identity, so no waker comparison ever decides who is woken.
    waker: Mutex<Option<Waker>>,
}

#[allow(unreachable_pub)]
impl<S: Default> Control<S> {
    /// No request pending, accepting messages, no waker registered.
    pub fn new() -> Self {
        Self {
            flags: Flags::new(),
            pending: Mutex::new(S::default()),
            waker: Mutex::new(None),
        }
    }

    /// The refusing / exited / signal bits.
    #[inline]
    pub fn flags(&self) -> &Flags {
        &self.flags
    }

    /// Records a request with `update`, raises the signal flag and wakes the actor's task.
    /// Returns `false`, recording nothing, once the actor has exited.
    pub fn request(&self, update: impl FnOnce(&mut S)) -> bool {
        if self.flags.is_exited() {
            return false;
        }
        update(&mut self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        // Record first, flag second: whoever sees the flag also finds the request. Flag first,
        // wake second: a task that registered before this wake is woken, and one that registers
        // after it sees the flag when it rechecks.
        self.flags.raise_signal();
        self.wake();
        true
    }

    /// Takes every pending request, if the signal flag says there are any. One atomic load when
    /// nothing is pending: the event loop calls this before every message.
    #[inline]
    pub fn take(&self) -> Option<S> {
        if !self.flags.take_signal() {
            return None;
        }
        Some(std::mem::take(
            &mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Ready once a request is pending (without taking it); otherwise registers `cx`'s waker so
    /// that the next request wakes the task. The event loop calls this when its mailbox is empty.
    pub fn poll_signal(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_until(cx, Flags::signal_pending)
    }

    /// Ready once the actor refuses new messages (a close or abort was requested, or it is
    /// exiting); otherwise registers `cx`'s waker so that the next request wakes the task.
    /// Close and abort raise the refusing bit before they request, so their wake finds it set.
    pub fn poll_refusing(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_until(cx, Flags::refusing)
    }

    fn poll_until(&self, cx: &mut Context<'_>, ready: fn(&Flags) -> bool) -> Poll<()> {
        if ready(&self.flags) {
            return Poll::Ready(());
        }
        self.register(cx.waker());
        // The recheck: a request raised before the registration found no waker to wake.
        if ready(&self.flags) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *slot {
            // Always the latest waker of the one waiter; `clone_from` merely skips the clone
            // when it is unchanged.
            Some(registered) => registered.clone_from(waker),
            None => *slot = Some(waker.clone()),
        }
    }

    fn wake(&self) {
        // Taken out under the lock, woken after it is released.
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<S: Default> Default for Control<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> fmt::Debug for Control<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}
