//! A tiny, fast, non-cryptographic RNG for jitter.
//!
//! Jitter only needs to de-correlate clients, not to resist an adversary, so wyrand (one add and
//! one 64x64->128 multiply per draw) is plenty; a general-purpose RNG crate would cost more than
//! the whole delay computation.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The wyrand generator (Wang Yi, public domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WyRand {
    state: u64,
}

impl WyRand {
    pub(crate) const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the thread's seed stream, so that every call hands out a
    /// different sequence without touching a global.
    pub(crate) fn from_thread() -> Self {
        thread_local! {
            static SEEDS: Cell<WyRand> = Cell::new(WyRand::new(os_seed()));
        }
        Self::new(SEEDS.with(|seeds| {
            let mut rng = seeds.get();
            let seed = rng.next_u64();
            seeds.set(rng);
            seed
        }))
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }

    /// A uniform value in `[0, n]`, by Lemire's multiply-shift: branch-free, no division, bias
    /// below 2^-64 per value, which jitter cannot notice (`n = u64::MAX` yields `[0, n)`).
    #[inline]
    pub(crate) fn up_to(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.saturating_add(1))) >> 64) as u64
    }

    /// A uniform value in `[low, high]`; `low > high` yields `low`.
    #[inline]
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.up_to(high.saturating_sub(low))
    }
}

/// Numbers the loops of seeded policies, process-wide, so that no two of them share a seed.
static LOOPS: AtomicU64 = AtomicU64::new(0);

/// The next loop number of a seeded policy. One relaxed `fetch_add`, paid only by seeded
/// policies and only when a loop first fails.
pub(crate) fn next_loop() -> u64 {
    LOOPS.fetch_add(1, Ordering::Relaxed)
}

/// The seed of loop number `n` of a policy seeded with `seed`: splitmix64's finalizer over
/// `seed + n · golden`, a bijection of `n` for a given `seed`, so distinct loops get distinct
/// generator states, and neighbouring loops unrelated ones.
pub(crate) fn loop_seed(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Per-thread entropy from std's randomly keyed hasher (its keys come from the OS once per
/// thread): no dependency, no syscall per call.
fn os_seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = WyRand::new(7);
        let mut b = WyRand::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn up_to_stays_in_range_and_covers_it() {
        let mut rng = WyRand::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.up_to(4);
            assert!(v <= 4);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value in [0, 4] shows up");
        assert_eq!(rng.up_to(0), 0);
        let _ = rng.up_to(u64::MAX);
    }

    #[test]
    fn loop_seeds_differ_between_loops_and_repeat_per_loop() {
        assert_eq!(loop_seed(42, 3), loop_seed(42, 3));
        let seeds: std::collections::HashSet<u64> = (0..10_000).map(|n| loop_seed(42, n)).collect();
        assert_eq!(seeds.len(), 10_000);
        assert_ne!(loop_seed(42, 0), loop_seed(43, 0));
        assert_ne!(next_loop(), next_loop());
    }

    #[test]
    fn thread_seeds_differ() {
        let a = WyRand::from_thread();
        let b = WyRand::from_thread();
        assert_ne!(a, b);
    }
}
