//! The generic cell rate algorithm on one atomic word.
//!
//! The whole state of a quota is its theoretical arrival time (TAT): the instant at which the
//! limiter would be idle again if nothing more arrived, in nanoseconds of the limiter's clock.
//! A request for `n` permits at `now` conforms when `max(TAT, now) + n·T <= now + τ`, where `T`
//! is the emission interval (`period / count`) and `τ = burst·T`; admitting it stores the new
//! TAT. Any TAT at or before `now` means "full burst available", which is why idle state can be
//! forgotten (keyed eviction) without changing any decision.

use std::sync::atomic::Ordering;

use crossbeam_utils::CachePadded;

use crate::loom::AtomicU64;

/// The constants of one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// Emission interval `T` in nanoseconds (at least 1).
    pub(crate) interval: u64,
    /// Burst tolerance `τ = burst·T` in nanoseconds.
    pub(crate) tolerance: u64,
    /// Largest request that can ever conform.
    pub(crate) burst: u32,
}

impl Params {
    /// The GCRA decision: `Ok(new TAT)` or `Err(nanoseconds until the request conforms)`.
    /// `n` must not exceed the burst (callers check first, so `n·T <= τ`).
    ///
    /// Written relative to `now` so that nothing saturates into a wrong answer: the test
    /// `max(TAT, now) + n·T <= now + τ` becomes `(TAT − now)⁺ <= τ − n·T`, whose terms are all
    /// at most `τ`. The new TAT is at most `now + τ`, which fits as long as the clock reads
    /// at most `u64::MAX − τ` (centuries, see [`Quota::MAX_TOLERANCE`]). Past that horizon a
    /// request whose TAT would not fit is refused (retry after `u64::MAX`): a saturated TAT
    /// would under-record the permits and admit more than the quota.
    ///
    /// [`Quota::MAX_TOLERANCE`]: crate::Quota::MAX_TOLERANCE
    #[inline]
    pub(crate) fn decide(&self, tat: u64, now: u64, n: u32) -> Result<u64, u64> {
        let need = self.interval * u64::from(n);
        debug_assert!(need <= self.tolerance, "request larger than the burst");
        let slack = self.tolerance - need;
        // How much of the tolerance is in use: 0 when the limiter is idle.
        let used = tat.saturating_sub(now);
        if used <= slack {
            now.max(tat).checked_add(need).ok_or(u64::MAX)
        } else {
            Err(used - slack)
        }
    }
}

/// One quota's TAT, updated with a compare-and-swap loop: no lock, no background task.
#[derive(Debug, Default)]
pub(crate) struct Cell {
    tat: AtomicU64,
}

impl Cell {
    /// A cell whose TAT is `tat`.
    pub(crate) fn new(tat: u64) -> Self {
        Self {
            tat: AtomicU64::new(tat),
        }
    }

    /// The current TAT.
    pub(crate) fn tat(&self) -> u64 {
        self.tat.load(Ordering::Relaxed)
    }

    /// Admits `n` permits at `now` (returning the new TAT) or says how many nanoseconds until
    /// they would conform.
    #[inline]
    pub(crate) fn try_consume(&self, params: &Params, now: u64, n: u32) -> Result<u64, u64> {
        // Relaxed is enough: the limiter orders nothing but this word, whose modification
        // order is total; admission does not publish other memory.
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            let new_tat = params.decide(current, now, n)?;
            match self.tat.compare_exchange_weak(
                current,
                new_tat,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(new_tat),
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives back `n` permits admitted with resulting TAT `granted_tat`; see [`Gate::refund`].
    fn refund(&self, params: &Params, now: u64, n: u32, granted_tat: u64) -> bool {
        if now >= granted_tat {
            return false;
        }
        let amount = params.interval * u64::from(n);
        let mut current = self.tat.load(Ordering::Relaxed);
        loop {
            match self.tat.compare_exchange_weak(
                current,
                current.saturating_sub(amount),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}

/// The quotas of a limiter: one lock-free cell, or several updated all-or-nothing.
#[derive(Debug)]
pub(crate) enum Gate {
    /// The cell sits alone on its cache line(s): two threads checking one limiter both write
    /// its TAT, and padding keeps that line from also holding the read-only data every check
    /// reads (the quota's constants, the clock's origin, the counters' pointers), which would
    /// otherwise be invalidated on every admission. Keyed limiters keep plain cells: one per
    /// key, and many keys.
    One(Params, CachePadded<Cell>),
    /// Several words cannot be updated atomically without a lock; the critical section is a
    /// handful of integer comparisons, never held across an `.await`.
    Many(Box<[Params]>, std::sync::Mutex<Box<[u64]>>),
}

impl Gate {
    pub(crate) fn new(params: Vec<Params>) -> Self {
        if params.len() == 1 {
            Self::One(params[0], CachePadded::new(Cell::default()))
        } else {
            let tats = vec![0; params.len()].into_boxed_slice();
            Self::Many(params.into_boxed_slice(), std::sync::Mutex::new(tats))
        }
    }

    /// The largest request that every quota can admit.
    pub(crate) fn burst(&self) -> u32 {
        match self {
            Self::One(p, _) => p.burst,
            Self::Many(ps, _) => ps.iter().map(|p| p.burst).min().unwrap_or(0),
        }
    }

    /// Admits `n` permits from every quota (returning the smallest new TAT), or from none and
    /// says how long until all conform.
    #[inline]
    pub(crate) fn try_consume(&self, now: u64, n: u32) -> Result<u64, u64> {
        match self {
            Self::One(params, cell) => cell.try_consume(params, now, n),
            Self::Many(params, tats) => {
                // A poisoned lock only means another thread panicked between two integer
                // stores of this function, which cannot happen; the data is still valid.
                let mut tats = tats.lock().unwrap_or_else(|e| e.into_inner());
                let mut wait = 0;
                for (p, &tat) in params.iter().zip(tats.iter()) {
                    if let Err(w) = p.decide(tat, now, n) {
                        wait = wait.max(w);
                    }
                }
                if wait > 0 {
                    return Err(wait);
                }
                let mut smallest = u64::MAX;
                for (p, tat) in params.iter().zip(tats.iter_mut()) {
                    if let Ok(new_tat) = p.decide(*tat, now, n) {
                        *tat = new_tat;
                        smallest = smallest.min(new_tat);
                    }
                }
                Ok(smallest)
            }
        }
    }

    /// How late a waiter for `n` permits that does not conform at `now` may be served, after the
    /// instant it conforms, without the limiter losing capacity: `τ − n·T` of the quota that
    /// makes it wait (or more, if others consumed meanwhile). Once the waiter is later than
    /// that, the quota sits full and what it accrues beyond the burst is gone.
    pub(crate) fn headroom(&self, now: u64, n: u32) -> u64 {
        // At the instant the request conforms, the quota's TAT is this far ahead of it.
        let headroom = |tat: u64, wait: u64| tat.saturating_sub(now.saturating_add(wait));
        match self {
            Self::One(params, cell) => {
                let tat = cell.tat();
                match params.decide(tat, now, n) {
                    Ok(_) => params
                        .tolerance
                        .saturating_sub(params.interval * u64::from(n)),
                    Err(wait) => headroom(tat, wait),
                }
            }
            Self::Many(params, tats) => {
                let tats = tats.lock().unwrap_or_else(|e| e.into_inner());
                // The quota with the longest wait is the one that paces the waiter; capacity
                // the others lose meanwhile could not have been used anyway.
                let mut binding: Option<(u64, u64)> = None;
                for (p, &tat) in params.iter().zip(tats.iter()) {
                    if let Err(wait) = p.decide(tat, now, n) {
                        if binding.is_none_or(|(w, _)| wait > w) {
                            binding = Some((wait, headroom(tat, wait)));
                        }
                    }
                }
                binding.map_or(u64::MAX, |(_, h)| h)
            }
        }
    }

    /// Undoes an admission of `n` permits whose `try_consume` returned `granted_tat`, if that
    /// can be done exactly: while `now` is before `granted_tat`, every admission since then
    /// stacked on top of it (none found the limiter idle), so removing `n·T` from each TAT
    /// yields exactly the state in which it never happened. Returns whether it refunded;
    /// otherwise the permits stay consumed, which errs on the side of the limit.
    pub(crate) fn refund(&self, now: u64, n: u32, granted_tat: u64) -> bool {
        match self {
            Self::One(params, cell) => cell.refund(params, now, n, granted_tat),
            Self::Many(params, tats) => {
                if now >= granted_tat {
                    return false;
                }
                let mut tats = tats.lock().unwrap_or_else(|e| e.into_inner());
                for (p, tat) in params.iter().zip(tats.iter_mut()) {
                    *tat = tat.saturating_sub(p.interval * u64::from(n));
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(interval: u64, burst: u32) -> Params {
        Params {
            interval,
            tolerance: interval * u64::from(burst),
            burst,
        }
    }

    #[test]
    fn burst_then_spacing() {
        let p = params(10, 3);
        let cell = Cell::default();
        for _ in 0..3 {
            assert!(cell.try_consume(&p, 100, 1).is_ok());
        }
        assert_eq!(cell.try_consume(&p, 100, 1), Err(10));
        assert_eq!(cell.try_consume(&p, 110, 1), Ok(140));
        assert_eq!(cell.tat(), 140);
        // Refunding before the granted TAT restores the state exactly.
        assert!(cell.refund(&p, 115, 1, 140));
        assert_eq!(cell.tat(), 130);
        assert!(!cell.refund(&p, 140, 1, 140));
    }

    #[test]
    fn headroom_is_the_burst_left_when_the_request_conforms() {
        // Interval 10, burst 3: after the burst at 100, one more conforms at 110, when the TAT
        // is still 20 ahead (τ − n·T = 30 − 10); two conform at 120, 10 ahead.
        let gate = Gate::new(vec![params(10, 3)]);
        assert_eq!(gate.try_consume(100, 3), Ok(130));
        assert_eq!(gate.headroom(100, 1), 20);
        assert_eq!(gate.headroom(100, 2), 10);
        assert_eq!(gate.headroom(100, 3), 0);
        // The quota that makes a request wait longest decides its headroom.
        let gate = Gate::new(vec![params(10, 5), params(100, 2)]);
        assert_eq!(gate.try_consume(0, 2), Ok(20));
        assert_eq!(gate.try_consume(0, 1), Err(100));
        // The second quota paces it (conforms at 100, TAT 200): 100 = τ − T of that quota.
        assert_eq!(gate.headroom(0, 1), 100);
    }

    #[test]
    fn decisions_do_not_saturate_at_the_end_of_the_clock() {
        // τ = u64::MAX / 4: `now + τ` overflows late in the clock; the decision must not.
        let p = params(u64::MAX / 8, 2);
        let now = u64::MAX - p.tolerance;
        let tat = p.decide(0, now, 2).unwrap();
        assert_eq!(tat, u64::MAX);
        // The burst is spent: refused (a saturating `now + τ` used to admit this).
        assert_eq!(p.decide(tat, now, 1), Err(p.interval));
        // Beyond the horizon a TAT that would not fit refuses rather than saturates.
        assert_eq!(p.decide(tat, now + p.interval, 1), Err(u64::MAX));
        assert_eq!(p.decide(u64::MAX, now + p.interval, 2), Err(p.interval));
        // Earlier in the clock, the same sequence admits the next permit one interval later.
        let earlier = now - p.tolerance;
        let tat = p.decide(0, earlier, 2).unwrap();
        assert_eq!(p.decide(tat, earlier, 1), Err(p.interval));
        assert_eq!(p.decide(tat, earlier + p.interval, 1), Ok(tat + p.interval));
    }

    #[test]
    fn many_is_all_or_nothing() {
        let gate = Gate::new(vec![params(10, 5), params(100, 2)]);
        assert_eq!(gate.try_consume(0, 2), Ok(20));
        // The second quota has no room; the first must not be charged either.
        assert_eq!(gate.try_consume(0, 1), Err(100));
        assert_eq!(gate.try_consume(100, 1), Ok(110));
    }
}
