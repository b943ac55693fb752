//! Backoff policies: validated, `Copy` values that yield the delays between attempts.
//!
//! A [`Backoff`] is built once from one of five shapes and then handed out by value; each
//! retried call walks its own [`Delays`] iterator, so policies are shared without locks.
//!
//! | shape | delays (before the cap and jitter) | use it for |
//! |---|---|---|
//! | [`Backoff::constant`] | `d, d, d, …` | polling something that recovers on its own schedule |
//! | [`Backoff::linear`] | `b, b+s, b+2s, …` | gentle pressure, short outages |
//! | [`Backoff::exponential`] | `b, b·f, b·f², …` | overloaded or rate-limited remotes (the default) |
//! | [`Backoff::fibonacci`] | `b, b, 2b, 3b, 5b, …` | growth between linear and doubling |
//! | [`Backoff::decorrelated`] | random in `[b, prev·f]` | many clients, no coordination (AWS) |

//!
//! The module is split by concept: this file holds the policy value and its iteration API,
//! [`builder`](BackoffBuilder) its validated configuration, `delays` the per-loop delay state
//! machine, `jitter` the randomisation and `meta` the packed representation they share.

mod builder;
mod delays;
mod jitter;
mod meta;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use crate::rng::{WyRand, loop_seed, next_loop};

pub use builder::{BackoffBuilder, Constant, Decorrelated, Exponential, Fibonacci, Linear};
pub use delays::Delays;
pub use jitter::Jitter;
use meta::{FIXED_ONE, Meta, SeedMode, Shape, nanos};

/// Attempts made by a policy unless told otherwise: one call and two retries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A validated backoff policy: how long to wait before each retry, and when to stop.
///
/// Build one with [`Backoff::exponential`] (or another shape) and
/// [`build`](BackoffBuilder::build); [`Backoff::default`] is a sensible exponential policy with
/// full jitter. A `Backoff` is a small `Copy` value: iterate it with [`iter`](Backoff::iter) to
/// get the delays between attempts (one fewer than [`max_attempts`](Backoff::max_attempts)), or
/// hand it to [`retry`](crate::retry).
///
/// ```
/// use std::time::Duration;
/// use taskweave_backoff::{Backoff, Jitter};
///
/// let policy = Backoff::exponential(Duration::from_millis(100))
///     .factor(2.0)
///     .max_delay(Duration::from_secs(1))
///     .max_attempts(6)
///     .jitter(Jitter::None)
///     .build()?;
/// let delays: Vec<u64> = policy.iter().map(|d| d.as_millis() as u64).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000]);
/// # Ok::<(), taskweave_backoff::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    // Kept small (48 bytes): it is copied into every retry future, even one that succeeds at
    // once. Durations are nanoseconds, saturating at `u64::MAX` (about 584 years).
    base: u64,
    cap: u64,
    /// Linear: the step. Exponential and decorrelated: the factor in 32.32 fixed point.
    param: u64,
    /// The total time budget, 0 for none (a zero budget is rejected at build time).
    max_elapsed: u64,
    seed: u64,
    /// The small settings, packed into one word so that a copy of a `Backoff` is six word moves
    /// (separate byte fields made every retry future measurably slower to build and move).
    meta: Meta,
}

impl Default for Backoff {
    /// Exponential from 100 ms, doubling, capped at 10 s, with full jitter, for 3 attempts.
    fn default() -> Self {
        Self {
            base: 100_000_000,
            cap: 10_000_000_000,
            param: 2 << 32,
            max_elapsed: 0,
            seed: 0,
            meta: Meta::new(
                DEFAULT_MAX_ATTEMPTS,
                Shape::Exponential,
                Jitter::Full,
                1,
                SeedMode::Random,
                6, // 100 ms << 6 = 6.4 s, the last doubling within 10 s
            ),
        }
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Backoff");
        let meta = self.meta;
        d.field("shape", &meta.shape())
            .field("base", &Duration::from_nanos(self.base));
        match meta.shape() {
            Shape::Linear => d.field("step", &Duration::from_nanos(self.param)),
            Shape::Exponential | Shape::Decorrelated => {
                d.field("factor", &(self.param as f64 / FIXED_ONE))
            }
            Shape::Constant | Shape::Fibonacci => &mut d,
        };
        d.field("max_delay", &self.max_delay())
            .field("jitter", &meta.jitter())
            .field("max_attempts", &meta.max_attempts())
            .field("max_elapsed", &self.max_elapsed())
            .field("seed", &meta.seeded().then_some(self.seed))
            .field("fixed_seed", &meta.fixed_seed())
            .finish()
    }
}

impl Backoff {
    /// The same `delay` before every retry.
    ///
    /// A zero delay is allowed here: the loop retries at once, without arming a timer, and
    /// yields to the scheduler only when the task's cooperative budget runs out; the attempt
    /// limit still bounds the loop.
    pub fn constant(delay: Duration) -> BackoffBuilder<Constant> {
        BackoffBuilder::new(Constant(()), delay)
    }

    /// `base`, then one `step` more before each further retry (the step defaults to `base`).
    pub fn linear(base: Duration) -> BackoffBuilder<Linear> {
        BackoffBuilder::new(Linear { step: None }, base)
    }

    /// `base`, then multiplied by a factor (default 2.0) before each further retry.
    pub fn exponential(base: Duration) -> BackoffBuilder<Exponential> {
        BackoffBuilder::new(Exponential { factor: 2.0 }, base)
    }

    /// `base` times the Fibonacci numbers: `base, base, 2·base, 3·base, 5·base, …`.
    pub fn fibonacci(base: Duration) -> BackoffBuilder<Fibonacci> {
        BackoffBuilder::new(Fibonacci(()), base)
    }

    /// "Decorrelated jitter" from the AWS analysis: each delay is uniform in
    /// `[base, previous · factor]` (factor 3.0 by default), capped. The randomness is built in,
    /// so the separate [`Jitter`] mode defaults to [`Jitter::None`]; every delay stays within
    /// `[base, cap]`.
    pub fn decorrelated(base: Duration) -> BackoffBuilder<Decorrelated> {
        BackoffBuilder::new(Decorrelated { factor: 3.0 }, base)
    }

    /// The delays between attempts: at most `max_attempts - 1` of them. Every retry loop walks
    /// its own.
    ///
    /// Each call starts over with its own jitter: without a seed it draws a fresh one from a
    /// per-thread generator; with a [`seed`](BackoffBuilder::seed) it mixes that seed with a
    /// process-wide loop number, so that two loops never draw the same sequence; only with a
    /// [`fixed_seed`](BackoffBuilder::fixed_seed) does every call yield the same sequence.
    #[inline]
    pub fn iter(&self) -> Delays {
        let meta = self.meta;
        let needs_rng = meta.jitter().is_random() || meta.shape() == Shape::Decorrelated;
        let rng = if meta.fixed_seed() {
            WyRand::new(self.seed)
        } else if meta.seeded() {
            WyRand::new(loop_seed(self.seed, next_loop()))
        } else if needs_rng {
            WyRand::from_thread()
        } else {
            WyRand::new(0)
        };
        self.delays(rng)
    }

    /// The delays that loop number `loop_id` of this policy draws: reproducible, whatever
    /// other loops ran before, so a test or a simulation can replay one loop exactly.
    ///
    /// The generator is seeded from the policy's seed (0 without one) mixed with `loop_id`;
    /// distinct `loop_id`s give unrelated sequences. With a
    /// [`fixed_seed`](BackoffBuilder::fixed_seed), `loop_id` is ignored.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_backoff::{Backoff, Jitter};
    ///
    /// let policy = Backoff::exponential(Duration::from_millis(100))
    ///     .jitter(Jitter::Full)
    ///     .max_attempts(5)
    ///     .seed(7)
    ///     .build()?;
    /// let replay: Vec<Duration> = policy.iter_seeded(3).collect();
    /// assert_eq!(replay, policy.iter_seeded(3).collect::<Vec<_>>());
    /// # Ok::<(), taskweave_backoff::ConfigError>(())
    /// ```
    pub fn iter_seeded(&self, loop_id: u64) -> Delays {
        let seed = if self.meta.fixed_seed() {
            self.seed
        } else {
            loop_seed(self.seed, loop_id)
        };
        self.delays(WyRand::new(seed))
    }

    /// The policy's seed, if it has one ([`seed`](BackoffBuilder::seed) or
    /// [`fixed_seed`](BackoffBuilder::fixed_seed)).
    pub fn seed(&self) -> Option<u64> {
        self.meta.seeded().then_some(self.seed)
    }

    /// How many times the operation may run in total (the first call included).
    pub fn max_attempts(&self) -> u32 {
        self.meta.max_attempts()
    }

    /// The cap on a single delay, if one was set.
    pub fn max_delay(&self) -> Option<Duration> {
        (self.cap != u64::MAX).then(|| Duration::from_nanos(self.cap))
    }

    /// The total time budget of a retry loop, if one was set.
    pub fn max_elapsed(&self) -> Option<Duration> {
        (self.max_elapsed != 0).then(|| Duration::from_nanos(self.max_elapsed))
    }

    /// The jitter mode.
    pub fn jitter(&self) -> Jitter {
        self.meta.jitter()
    }

    /// Clamps `delay` to this policy's single-delay cap (used for server hints).
    #[inline]
    pub(crate) fn cap_delay(&self, delay: Duration) -> Duration {
        if nanos(delay) > self.cap {
            Duration::from_nanos(self.cap)
        } else {
            delay
        }
    }
}

impl IntoIterator for Backoff {
    type Item = Duration;
    type IntoIter = Delays;

    fn into_iter(self) -> Delays {
        self.iter()
    }
}

impl IntoIterator for &Backoff {
    type Item = Duration;
    type IntoIter = Delays;

    fn into_iter(self) -> Delays {
        self.iter()
    }
}
