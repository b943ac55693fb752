//! The packed form of a policy: its shape, small settings and fixed-point arithmetic.

use std::time::Duration;

use super::jitter::Jitter;

/// `max_attempts` (bits 0..32), shape (32..40), jitter (40..48), `log2(factor)` when the factor
/// of an exponential policy is a power of two, else 0 (48..56), seeded (56), for such a policy
/// the last step `n` whose `base << (n · log2(factor))` is still within the cap (57..63), and
/// whether the seed is used as is by every loop (63).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta(u64);

impl Meta {
    pub(super) fn new(
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
    pub(super) fn max_attempts(self) -> u32 {
        self.0 as u32
    }

    #[inline]
    pub(super) fn shape(self) -> Shape {
        match (self.0 >> 32) as u8 {
            0 => Shape::Constant,
            1 => Shape::Linear,
            2 => Shape::Exponential,
            3 => Shape::Fibonacci,
            _ => Shape::Decorrelated,
        }
    }

    #[inline]
    pub(super) fn jitter(self) -> Jitter {
        match (self.0 >> 40) as u8 {
            0 => Jitter::None,
            1 => Jitter::Full,
            _ => Jitter::Equal,
        }
    }

    #[inline]
    pub(super) fn shift(self) -> u32 {
        u32::from((self.0 >> 48) as u8)
    }

    #[inline]
    pub(super) fn seeded(self) -> bool {
        (self.0 >> 56) & 1 == 1
    }

    #[inline]
    pub(super) fn last_step(self) -> u32 {
        ((self.0 >> 57) & 0x3f) as u32
    }

    #[inline]
    pub(super) fn fixed_seed(self) -> bool {
        self.0 >> 63 == 1
    }
}

/// Where a loop's jitter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeedMode {
    /// A fresh seed per loop from the thread's generator.
    Random,
    /// The policy's seed mixed with a process-wide loop number: distinct per loop.
    PerLoop,
    /// The policy's seed as is: every loop draws the same sequence.
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Shape {
    Constant,
    Linear,
    Exponential,
    Fibonacci,
    Decorrelated,
}

/// One in 32.32 fixed point.
pub(super) const FIXED_ONE: f64 = 4_294_967_296.0;

/// A factor in 32.32 fixed point (saturating: factors of 2^32 and above act as 2^32), and its
/// `log2` when it is a power of two. Float multiplies chained from one delay to the next measured
/// ten times slower than this integer form in a tight loop.
pub(super) fn fixed_factor(factor: f64) -> (u64, u8) {
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
pub(super) fn grow(nanos: u64, fixed: u64, cap: u64) -> u64 {
    let product = (u128::from(nanos) * u128::from(fixed)) >> 32;
    u64::try_from(product).unwrap_or(u64::MAX).min(cap)
}

/// A duration in nanoseconds, saturating at `u64::MAX`.
#[inline]
pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
