//! The lock-free part of an actor's shared state: three bits that the `tell` hot path and the
//! event loop read with one atomic load each.

use crate::loom::{AtomicU8, Ordering};

/// A control signal is waiting on the control channel.
const SIGNAL: u8 = 1;
/// The actor refuses new messages (stopping or stopped).
const REFUSING: u8 = 2;
/// The exit reason has been published.
const EXITED: u8 = 4;

// `pub` only so that the loom models can reach it (re-exported under `cfg(taskweave_loom)`);
// otherwise crate-private.
/// Signal / refusing / exited bits of one actor.
#[allow(unreachable_pub)]
#[derive(Debug)]
pub struct Flags(AtomicU8);

impl Default for Flags {
    fn default() -> Self {
        Self::new()
    }
}

#[allow(unreachable_pub)]
impl Flags {
    /// All bits clear: running, accepting, nothing pending.
    pub fn new() -> Self {
        Self(AtomicU8::new(0))
    }

    /// Whether new messages are refused.
    #[inline]
    pub fn refusing(&self) -> bool {
        self.0.load(Ordering::Acquire) & REFUSING != 0
    }

    /// Whether the exit reason has been published.
    pub fn is_exited(&self) -> bool {
        self.0.load(Ordering::Acquire) & EXITED != 0
    }

    /// Whether a signal is pending, without clearing it.
    pub fn signal_pending(&self) -> bool {
        self.0.load(Ordering::Acquire) & SIGNAL != 0
    }

    /// Announces a signal. Call it *after* pushing the signal on the control channel: whoever
    /// sees the bit then also sees the signal.
    pub fn raise_signal(&self) {
        self.0.fetch_or(SIGNAL, Ordering::Release);
    }

    /// Clears the signal bit and reports whether it was set; the caller then drains the control
    /// channel. One atomic load when nothing is pending.
    #[inline]
    pub fn take_signal(&self) -> bool {
        if self.0.load(Ordering::Acquire) & SIGNAL == 0 {
            return false;
        }
        self.0.fetch_and(!SIGNAL, Ordering::AcqRel);
        true
    }

    /// Refuses new messages from now on.
    pub fn refuse(&self) {
        self.0.fetch_or(REFUSING, Ordering::AcqRel);
    }

    /// Marks the actor exited (and refusing); `true` for the one caller that did it first.
    pub fn mark_exited(&self) -> bool {
        self.0.fetch_or(EXITED | REFUSING, Ordering::AcqRel) & EXITED == 0
    }
}
