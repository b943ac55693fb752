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

use std::fmt;
use std::iter::FusedIterator;
use std::time::Duration;

use crate::error::ConfigError;
use crate::jitter::{FixedShare, Jitter};
use crate::rng::{WyRand, loop_seed, next_loop};

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

/// `max_attempts` (bits 0..32), shape (32..40), jitter (40..48), `log2(factor)` when the factor
/// of an exponential policy is a power of two, else 0 (48..56), seeded (56), for such a policy
/// the last step `n` whose `base << (n · log2(factor))` is still within the cap (57..63), and
/// whether the seed is used as is by every loop (63).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Meta(u64);

impl Meta {
    fn new(
        max_attempts: u32,
        shape: Shape,
        jitter: Jitter,
        shift: u8,
        seed: SeedMode,
        last_step: u8,
    ) -> Self {
        let shape = shape as u64;
        let jitter = match jitter {
            Jitter::None => 0,
            Jitter::Full => 1,
            Jitter::Equal => 2,
        };
        Self(
            u64::from(max_attempts)
                | shape << 32
                | jitter << 40
                | u64::from(shift) << 48
                | u64::from(seed != SeedMode::Random) << 56
                | u64::from(last_step & 0x3f) << 57
                | u64::from(seed == SeedMode::Fixed) << 63,
        )
    }

    #[inline]
    fn max_attempts(self) -> u32 {
        self.0 as u32
    }

    #[inline]
    fn shape(self) -> Shape {
        match (self.0 >> 32) as u8 {
            0 => Shape::Constant,
            1 => Shape::Linear,
            2 => Shape::Exponential,
            3 => Shape::Fibonacci,
            _ => Shape::Decorrelated,
        }
    }

    #[inline]
    fn jitter(self) -> Jitter {
        match (self.0 >> 40) as u8 {
            0 => Jitter::None,
            1 => Jitter::Full,
            _ => Jitter::Equal,
        }
    }

    #[inline]
    fn shift(self) -> u32 {
        u32::from((self.0 >> 48) as u8)
    }

    #[inline]
    fn seeded(self) -> bool {
        (self.0 >> 56) & 1 == 1
    }

    #[inline]
    fn last_step(self) -> u32 {
        ((self.0 >> 57) & 0x3f) as u32
    }

    #[inline]
    fn fixed_seed(self) -> bool {
        self.0 >> 63 == 1
    }
}

/// Where a loop's jitter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeedMode {
    /// A fresh seed per loop from the thread's generator.
    Random,
    /// The policy's seed mixed with a process-wide loop number: distinct per loop.
    PerLoop,
    /// The policy's seed as is: every loop draws the same sequence.
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Shape {
    Constant,
    Linear,
    Exponential,
    Fibonacci,
    Decorrelated,
}

/// One in 32.32 fixed point.
const FIXED_ONE: f64 = 4_294_967_296.0;

/// A factor in 32.32 fixed point (saturating: factors of 2^32 and above act as 2^32), and its
/// `log2` when it is a power of two. Float multiplies chained from one delay to the next measured
/// ten times slower than this integer form in a tight loop.
fn fixed_factor(factor: f64) -> (u64, u8) {
    let fixed = (factor * FIXED_ONE) as u64; // float-to-int `as` saturates
    let shift = if fixed.is_power_of_two() && fixed > 1 << 32 {
        (fixed.trailing_zeros() - 32) as u8
    } else {
        0
    };
    (fixed, shift)
}

/// `min(cap, nanos · factor)` with the factor in 32.32 fixed point, saturating; never below
/// `nanos`, since the factor is at least one.
#[inline]
fn grow(nanos: u64, fixed: u64, cap: u64) -> u64 {
    let product = (u128::from(nanos) * u128::from(fixed)) >> 32;
    u64::try_from(product).unwrap_or(u64::MAX).min(cap)
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

    #[inline(always)]
    fn delays(&self, rng: WyRand) -> Delays {
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

/// A duration in nanoseconds, saturating at `u64::MAX`.
#[inline]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Shape marker of [`Backoff::constant`].
#[derive(Debug, Clone, Copy)]
pub struct Constant(());

/// Shape marker of [`Backoff::linear`], holding its step.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    step: Option<Duration>,
}

/// Shape marker of [`Backoff::exponential`], holding its factor.
#[derive(Debug, Clone, Copy)]
pub struct Exponential {
    factor: f64,
}

/// Shape marker of [`Backoff::fibonacci`].
#[derive(Debug, Clone, Copy)]
pub struct Fibonacci(());

/// Shape marker of [`Backoff::decorrelated`], holding its factor.
#[derive(Debug, Clone, Copy)]
pub struct Decorrelated {
    factor: f64,
}

/// Configures a [`Backoff`]; [`build`](BackoffBuilder::build) validates it.
///
/// Defaults: no cap on a single delay (delays saturate rather than overflow), no jitter,
/// [`DEFAULT_MAX_ATTEMPTS`] attempts, no total time budget, a fresh random seed per loop.
///
/// Every setting is bounded by its type and saturates instead of overflowing: durations are
/// kept in nanoseconds up to `u64::MAX` (about 584 years, longer ones act as that), factors of
/// 2^32 and above act as 2^32, attempts are a `u32`. Nothing is allocated per attempt or in
/// proportion to a setting.
#[derive(Debug, Clone, Copy)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BackoffBuilder<S> {
    shape: S,
    base: Duration,
    max_delay: Option<Duration>,
    jitter: Jitter,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    seed: Option<u64>,
    seed_mode: SeedMode,
}

impl<S> BackoffBuilder<S> {
    fn new(shape: S, base: Duration) -> Self {
        Self {
            shape,
            base,
            max_delay: None,
            jitter: Jitter::None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_elapsed: None,
            seed: None,
            seed_mode: SeedMode::Random,
        }
    }

    /// Caps every single delay, before jitter (so jitter never exceeds it) and for server hints.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.max_delay = Some(cap);
        self
    }

    /// Randomises each delay (default [`Jitter::None`]; [`Jitter::Full`] is the one to use for a
    /// fleet of clients).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many times the operation may run in total, the first call included (default
    /// [`DEFAULT_MAX_ATTEMPTS`]); `1` disables retries, `0` is a configuration error.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// A total time budget for a retry loop: no sleep starts that would end after it, counted
    /// from the first call. Setting it costs one clock read per call; without it the loop never
    /// reads the clock.
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = Some(budget);
        self
    }

    /// Seeds the jitter of the built policy's loops: each loop mixes `seed` with a process-wide
    /// loop number, so loops of one policy still draw different delays (no lock-step retries),
    /// and a deterministic program sees the same delays run after run. Replay one loop with
    /// [`Backoff::iter_seeded`], or give every loop the same sequence with
    /// [`fixed_seed`](Self::fixed_seed). A fleet should still keep distinct seeds per process.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self.seed_mode = SeedMode::PerLoop;
        self
    }

    /// Gives every loop of the built policy the same jitter, drawn from `seed`: fully
    /// reproducible, and for that reason in lock-step. Meant for unit tests that check exact
    /// delays; use [`seed`](Self::seed) for anything with more than one loop.
    pub fn fixed_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self.seed_mode = SeedMode::Fixed;
        self
    }

    /// Validates the settings for `shape`, whose `param` is the linear step or the factor.
    fn validate(self, shape: Shape, param: Param) -> Result<Backoff, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::ZeroAttempts);
        }
        if self.max_elapsed == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroTimeBudget);
        }
        let (param, shift) = match param {
            Param::None => (0, 0),
            Param::Step(step) => (nanos(step), 0),
            Param::Factor(factor) => {
                if !factor.is_finite() {
                    return Err(ConfigError::FactorNotFinite(factor));
                }
                if factor < 1.0 {
                    return Err(ConfigError::FactorBelowOne(factor));
                }
                fixed_factor(factor)
            }
        };
        let base = nanos(self.base);
        let cap = self.max_delay.map_or(u64::MAX, nanos);
        let zero_base = match shape {
            Shape::Constant => false,
            Shape::Linear => base == 0 && param == 0,
            Shape::Exponential | Shape::Fibonacci | Shape::Decorrelated => base == 0,
        };
        if zero_base {
            return Err(ConfigError::ZeroBase);
        }
        if let Some(cap) = self.max_delay {
            if cap < self.base {
                return Err(ConfigError::CapBelowBase {
                    base: self.base,
                    cap,
                });
            }
        }
        let shift = if shape == Shape::Exponential {
            shift
        } else {
            0
        };
        // The last n with base << (n · shift) <= cap: 2^m <= cap / base for m up to
        // floor(log2(cap / base)), of which n · shift may use all.
        let last_step = if shift == 0 {
            0
        } else {
            (63 - (cap / base).leading_zeros()) / u32::from(shift)
        };
        Ok(Backoff {
            base,
            cap,
            param,
            max_elapsed: self.max_elapsed.map_or(0, nanos),
            seed: self.seed.unwrap_or(0),
            meta: Meta::new(
                self.max_attempts,
                shape,
                self.jitter,
                shift,
                self.seed_mode,
                last_step as u8,
            ),
        })
    }
}

/// The shape-specific setting handed to `validate`.
enum Param {
    None,
    Step(Duration),
    Factor(f64),
}

impl BackoffBuilder<Linear> {
    /// How much each delay grows over the previous one (default: the base delay).
    pub fn step(mut self, step: Duration) -> Self {
        self.shape.step = Some(step);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base and step are both zero, the cap is below the base, or
    /// `max_attempts` or `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let step = self.shape.step.unwrap_or(self.base);
        self.validate(Shape::Linear, Param::Step(step))
    }
}

impl BackoffBuilder<Exponential> {
    /// What each delay is multiplied by (default 2.0); must be finite and at least 1.0. It is
    /// kept with 32 fractional bits, and factors of 2^32 and above act as 2^32 (delays reach
    /// any cap at once either way). Powers of two take the fastest path.
    pub fn factor(mut self, factor: f64) -> Self {
        self.shape.factor = factor;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base is zero, the factor is below 1.0 or not finite, the cap is
    /// below the base, or `max_attempts` or `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let factor = self.shape.factor;
        self.validate(Shape::Exponential, Param::Factor(factor))
    }
}

impl BackoffBuilder<Decorrelated> {
    /// The upper bound of each delay as a multiple of the previous one (default 3.0); must be
    /// finite and at least 1.0 (kept with 32 fractional bits, like the exponential factor).
    pub fn factor(mut self, factor: f64) -> Self {
        self.shape.factor = factor;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base is zero, the factor is below 1.0 or not finite, the cap is
    /// below the base, or `max_attempts` or `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        let factor = self.shape.factor;
        self.validate(Shape::Decorrelated, Param::Factor(factor))
    }
}

impl BackoffBuilder<Constant> {
    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the cap is below the delay, or `max_attempts` or `max_elapsed` is
    /// zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        self.validate(Shape::Constant, Param::None)
    }
}

impl BackoffBuilder<Fibonacci> {
    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the base is zero, the cap is below the base, or `max_attempts` or
    /// `max_elapsed` is zero.
    pub fn build(self) -> Result<Backoff, ConfigError> {
        self.validate(Shape::Fibonacci, Param::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(policy: Backoff) -> Vec<u128> {
        policy.iter().map(|d| d.as_millis()).collect()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn shapes_yield_their_sequences() {
        let c = Backoff::constant(5 * MS).max_attempts(4).build().unwrap();
        assert_eq!(millis(c), [5, 5, 5]);
        let l = Backoff::linear(10 * MS).max_attempts(4).build().unwrap();
        assert_eq!(millis(l), [10, 20, 30]);
        let l = Backoff::linear(10 * MS)
            .step(5 * MS)
            .max_delay(18 * MS)
            .max_attempts(5)
            .build()
            .unwrap();
        assert_eq!(millis(l), [10, 15, 18, 18]);
        let e = Backoff::exponential(MS)
            .factor(3.0)
            .max_attempts(5)
            .build()
            .unwrap();
        assert_eq!(millis(e), [1, 3, 9, 27]);
        let f = Backoff::fibonacci(MS).max_attempts(8).build().unwrap();
        assert_eq!(millis(f), [1, 1, 2, 3, 5, 8, 13]);
    }

    #[test]
    fn one_attempt_means_no_delay() {
        let p = Backoff::exponential(MS).max_attempts(1).build().unwrap();
        assert_eq!(p.iter().next(), None);
        assert_eq!(p.iter().len(), 0);
    }

    #[test]
    fn bad_configuration_is_a_typed_error() {
        assert_eq!(
            Backoff::exponential(MS).factor(0.5).build(),
            Err(ConfigError::FactorBelowOne(0.5))
        );
        assert!(matches!(
            Backoff::exponential(MS).factor(f64::NAN).build(),
            Err(ConfigError::FactorNotFinite(f)) if f.is_nan()
        ));
        assert_eq!(
            Backoff::exponential(MS).factor(f64::INFINITY).build(),
            Err(ConfigError::FactorNotFinite(f64::INFINITY))
        );
        assert_eq!(
            Backoff::decorrelated(MS).factor(-1.0).build(),
            Err(ConfigError::FactorBelowOne(-1.0))
        );
        assert_eq!(
            Backoff::exponential(Duration::ZERO).build(),
            Err(ConfigError::ZeroBase)
        );
        assert_eq!(
            Backoff::fibonacci(Duration::ZERO).build(),
            Err(ConfigError::ZeroBase)
        );
        assert_eq!(
            Backoff::decorrelated(Duration::ZERO).build(),
            Err(ConfigError::ZeroBase)
        );
        assert_eq!(
            Backoff::linear(Duration::ZERO).build(),
            Err(ConfigError::ZeroBase)
        );
        assert!(Backoff::linear(Duration::ZERO).step(MS).build().is_ok());
        assert!(Backoff::constant(Duration::ZERO).build().is_ok());
        assert_eq!(
            Backoff::exponential(10 * MS).max_delay(MS).build(),
            Err(ConfigError::CapBelowBase {
                base: 10 * MS,
                cap: MS
            })
        );
        assert_eq!(
            Backoff::constant(MS).max_attempts(0).build(),
            Err(ConfigError::ZeroAttempts)
        );
        assert_eq!(
            Backoff::constant(MS).max_elapsed(Duration::ZERO).build(),
            Err(ConfigError::ZeroTimeBudget)
        );
    }

    #[test]
    fn huge_values_saturate_instead_of_overflowing() {
        let p = Backoff::exponential(Duration::MAX)
            .factor(1e300)
            .max_attempts(5)
            .build()
            .unwrap();
        for d in p.iter() {
            assert_eq!(d, Duration::from_nanos(u64::MAX));
        }
        let p = Backoff::fibonacci(Duration::from_secs(u64::MAX / 2_000_000_000))
            .max_attempts(200)
            .build()
            .unwrap();
        assert_eq!(p.iter().last(), Some(Duration::from_nanos(u64::MAX)));
        let p = Backoff::linear(Duration::MAX)
            .max_attempts(10)
            .build()
            .unwrap();
        assert!(p.iter().all(|d| d == Duration::from_nanos(u64::MAX)));
    }

    #[test]
    fn seeded_policies_repeat() {
        let p = Backoff::exponential(MS)
            .jitter(Jitter::Full)
            .max_attempts(20)
            .fixed_seed(42)
            .build()
            .unwrap();
        assert_eq!(p.iter().collect::<Vec<_>>(), p.iter().collect::<Vec<_>>());
        let per_loop = Backoff::exponential(MS)
            .jitter(Jitter::Full)
            .max_attempts(20)
            .seed(42)
            .build()
            .unwrap();
        assert_ne!(
            per_loop.iter().collect::<Vec<_>>(),
            per_loop.iter().collect::<Vec<_>>()
        );
        assert_eq!(
            per_loop.iter_seeded(9).collect::<Vec<_>>(),
            per_loop.iter_seeded(9).collect::<Vec<_>>()
        );
        let unseeded = Backoff::exponential(Duration::from_secs(1))
            .jitter(Jitter::Full)
            .max_attempts(20)
            .build()
            .unwrap();
        assert_ne!(
            unseeded.iter().collect::<Vec<_>>(),
            unseeded.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn default_is_capped_exponential_with_full_jitter() {
        let p = Backoff::default();
        assert_eq!(p.jitter(), Jitter::Full);
        assert_eq!(p.max_attempts(), DEFAULT_MAX_ATTEMPTS);
        assert_eq!(p.max_delay(), Some(Duration::from_secs(10)));
        assert_eq!(p.max_elapsed(), None);
        let fresh = Backoff::exponential(Duration::from_millis(100))
            .max_delay(Duration::from_secs(10))
            .jitter(Jitter::Full)
            .build()
            .unwrap();
        assert_eq!(fresh, p);
    }
}
