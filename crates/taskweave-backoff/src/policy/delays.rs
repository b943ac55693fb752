//! The delay schedule of one retry loop: the state machine behind [`Backoff::iter`].

use std::iter::FusedIterator;
use std::time::Duration;

use super::Backoff;
use super::jitter::{FixedShare, Jitter};
use super::meta::{Shape, grow};
use crate::rng::WyRand;

impl Backoff {
    /// The delays of one loop drawing its jitter from `rng`.
    #[inline(always)]
    pub(super) fn delays(&self, rng: WyRand) -> Delays {
        let meta = self.meta;
        let (shape, jitter) = (meta.shape(), meta.jitter());
        Delays {
            shape,
            base: self.base,
            cap: self.cap,
            param: self.param,
            jitter: jitter.fixed_share(),
            current: self.base,
            previous: 0,
            shift: meta.shift(),
            last_step: meta.last_step(),
            index: 0,
            len: meta.max_attempts() - 1,
            rng,
        }
    }
}

/// The delays of one retry loop, from [`Backoff::iter`].
///
/// Clock-free: it yields delays and counts attempts, while the total time budget is enforced by
/// the retry loop that sleeps them.
#[derive(Debug, Clone)]
pub struct Delays {
    shape: Shape,
    base: u64,
    cap: u64,
    param: u64,
    jitter: FixedShare,
    /// The next delay before jitter (for decorrelated: the previous delay).
    current: u64,
    /// The delay before `current` (Fibonacci only).
    previous: u64,
    /// `log2(factor)` for an exponential policy whose factor is a power of two, else 0.
    shift: u32,
    /// The last index whose `base << (index · shift)` is within the cap (when `shift != 0`).
    last_step: u32,
    /// Delays yielded so far, and how many there are in all.
    index: u32,
    len: u32,
    rng: WyRand,
}

impl Iterator for Delays {
    type Item = Duration;

    // Always inlined: as a call, moving the state through memory cost more than the delay.
    #[inline(always)]
    fn next(&mut self) -> Option<Duration> {
        if self.index == self.len {
            return None;
        }
        let index = self.index;
        self.index += 1;
        let delay = if self.shift != 0 {
            // Exponential by a power of two, tested before the match to skip its jump table:
            // `base << (index · shift)` has no chain from one delay to the next, so a loop of
            // delays runs like the hand-written `min(cap, base * 2^n)`.
            if index <= self.last_step {
                // Within the cap and without overflow: `index · shift` ≤ 63 by construction.
                self.base << (index * self.shift)
            } else {
                self.cap
            }
        } else {
            self.next_slow()
        };
        Some(duration_from_nanos(Jitter::apply_share(
            delay,
            self.jitter,
            &mut self.rng,
        )))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.len - self.index) as usize;
        (n, Some(n))
    }
}

impl Delays {
    /// The next delay of every shape but exponential by a power of two, before jitter.
    #[inline]
    fn next_slow(&mut self) -> u64 {
        match self.shape {
            Shape::Constant => self.base,
            Shape::Linear => {
                let delay = self.current;
                self.current = self.current.saturating_add(self.param).min(self.cap);
                delay
            }
            Shape::Exponential => {
                let delay = self.current;
                self.current = grow(self.current, self.param, self.cap);
                delay
            }
            Shape::Fibonacci => {
                let delay = self.current;
                let next = self.previous.saturating_add(self.current).min(self.cap);
                self.previous = self.current;
                self.current = next;
                delay
            }
            Shape::Decorrelated => {
                let high = grow(self.current, self.param, self.cap);
                self.current = self.rng.between(self.base, high);
                self.current
            }
        }
    }
}

impl ExactSizeIterator for Delays {}
impl FusedIterator for Delays {}

/// `Duration::from_nanos`, without its division by 10^9 for the usual delay of less than a
/// second: in a loop of delays that division measured as the single largest cost.
#[inline(always)]
fn duration_from_nanos(nanos: u64) -> Duration {
    if nanos < 1_000_000_000 {
        Duration::new(0, nanos as u32)
    } else {
        Duration::from_nanos(nanos)
    }
}
