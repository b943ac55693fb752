//! The breaker's states, its transition events, and the packed word that holds the whole state
//! machine in one `AtomicU64`.
//!
//! Keeping everything a transition depends on in one word (state, epoch, open deadline, half-open
//! trial counters) is what makes the breaker lock-free *and* exact: every admission and every
//! transition is a single compare-and-swap, so a transition cannot be lost or taken twice, and
//! half-open admission cannot overshoot.

use std::fmt;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls flow through and their outcomes are recorded in the sliding window.
    Closed,
    /// Calls are rejected until the wait duration has passed.
    Open,
    /// A fixed number of trial calls are admitted; their outcome closes or re-opens the breaker.
    HalfOpen,
    /// Opened by hand with [`Breaker::force_open`](crate::Breaker::force_open): calls are
    /// rejected until another manual transition.
    ForcedOpen,
    /// Switched off by hand with [`Breaker::disable`](crate::Breaker::disable): every call is
    /// admitted and nothing is recorded.
    Disabled,
}

impl State {
    /// Whether calls are rejected in this state (`Open` and `ForcedOpen`; `HalfOpen` rejects
    /// only once its trial calls are taken).
    pub fn rejects_calls(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced open",
            State::Disabled => "disabled",
        })
    }
}

/// A change of state, as delivered by [`Breaker::subscribe`](crate::Breaker::subscribe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// When the transition happened, on Tokio's clock (whatever
    /// [`Clock`](crate::Clock) the breaker reads for its own timing).
    pub at: tokio::time::Instant,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

// Word layout (low to high bits):
//   [0, 3)   tag: the `State`
//   [3, 43)  payload, 40 bits:
//              Open:     deadline in milliseconds since the breaker was built
//              HalfOpen: admitted, recorded, failed, slow — 10 bits each
//   [43, 64) epoch, 21 bits, wrapping: bumped by every transition, so that an outcome recorded
//            under a permit from an earlier epoch is recognised as stale and dropped.
const TAG_BITS: u32 = 3;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const PAYLOAD_BITS: u32 = 40;
const PAYLOAD_MASK: u64 = ((1 << PAYLOAD_BITS) - 1) << TAG_BITS;
const EPOCH_SHIFT: u32 = TAG_BITS + PAYLOAD_BITS;
const EPOCH_MASK: u32 = (1 << (64 - EPOCH_SHIFT)) - 1;
const TRIAL_BITS: u32 = 10;
const TRIAL_MASK: u64 = (1 << TRIAL_BITS) - 1;

/// The most trial calls a half-open breaker can admit (each trial counter has 10 bits).
pub(crate) const MAX_TRIAL_CALLS: u32 = (1 << TRIAL_BITS) - 1;
/// The latest open deadline that fits the payload, in milliseconds (about 34 years).
pub(crate) const MAX_DEADLINE_MS: u64 = (1 << PAYLOAD_BITS) - 1;

/// When a half-open state stops waiting for its trials, packed with the epoch it belongs to
/// (high 21 bits: epoch; low 43 bits: deadline in milliseconds since the breaker was built,
/// about 278 years). A deadline that belongs to another epoch is not this half-open state's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HalfOpenDeadline(pub(crate) u64);

// The epoch sits in the same high bits as in the state word.
const DEADLINE_BITS: u32 = EPOCH_SHIFT;
const DEADLINE_MASK: u64 = (1 << DEADLINE_BITS) - 1;

impl HalfOpenDeadline {
    /// The latest deadline there is: one this far out never passes (it means "wait for ever").
    pub(crate) const NEVER_MS: u64 = DEADLINE_MASK;

    pub(crate) fn new(epoch: u32, deadline_ms: u64) -> HalfOpenDeadline {
        HalfOpenDeadline(
            u64::from(epoch & EPOCH_MASK) << DEADLINE_BITS | deadline_ms.min(Self::NEVER_MS),
        )
    }

    /// The deadline in milliseconds, if it belongs to the half-open state of `epoch`.
    pub(crate) fn deadline_ms(self, epoch: u32) -> Option<u64> {
        ((self.0 >> DEADLINE_BITS) as u32 == epoch).then_some(self.0 & DEADLINE_MASK)
    }
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;

/// The half-open trial counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Trials {
    /// Permits handed out and not released (recorded or in flight).
    pub(crate) admitted: u32,
    /// Outcomes recorded.
    pub(crate) recorded: u32,
    pub(crate) failed: u32,
    pub(crate) slow: u32,
}

/// The packed state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    fn new(tag: u64, epoch: u32, payload: u64) -> Word {
        debug_assert!(payload <= PAYLOAD_MASK >> TAG_BITS);
        Word(tag | (payload << TAG_BITS) | (u64::from(epoch & EPOCH_MASK) << EPOCH_SHIFT))
    }

    pub(crate) fn closed(epoch: u32) -> Word {
        Word::new(CLOSED, epoch, 0)
    }

    pub(crate) fn open(epoch: u32, deadline_ms: u64) -> Word {
        Word::new(OPEN, epoch, deadline_ms.min(MAX_DEADLINE_MS))
    }

    pub(crate) fn half_open(epoch: u32, trials: Trials) -> Word {
        let field = |v: u32| u64::from(v) & TRIAL_MASK;
        let payload = field(trials.admitted)
            | field(trials.recorded) << TRIAL_BITS
            | field(trials.failed) << (2 * TRIAL_BITS)
            | field(trials.slow) << (3 * TRIAL_BITS);
        Word::new(HALF_OPEN, epoch, payload)
    }

    pub(crate) fn forced_open(epoch: u32) -> Word {
        Word::new(FORCED_OPEN, epoch, 0)
    }

    pub(crate) fn disabled(epoch: u32) -> Word {
        Word::new(DISABLED, epoch, 0)
    }

    pub(crate) fn state(self) -> State {
        match self.0 & TAG_MASK {
            CLOSED => State::Closed,
            OPEN => State::Open,
            HALF_OPEN => State::HalfOpen,
            FORCED_OPEN => State::ForcedOpen,
            _ => State::Disabled,
        }
    }

    pub(crate) fn epoch(self) -> u32 {
        (self.0 >> EPOCH_SHIFT) as u32
    }

    /// The epoch a transition out of this word enters.
    pub(crate) fn next_epoch(self) -> u32 {
        self.epoch().wrapping_add(1) & EPOCH_MASK
    }

    fn payload(self) -> u64 {
        (self.0 & PAYLOAD_MASK) >> TAG_BITS
    }

    /// The open deadline, in milliseconds since the breaker was built (`Open` words only).
    pub(crate) fn deadline_ms(self) -> u64 {
        self.payload()
    }

    /// The trial counters (`HalfOpen` words only).
    pub(crate) fn trials(self) -> Trials {
        let p = self.payload();
        let field = |i: u32| ((p >> (i * TRIAL_BITS)) & TRIAL_MASK) as u32;
        Trials {
            admitted: field(0),
            recorded: field(1),
            failed: field(2),
            slow: field(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_without_bleeding_into_each_other() {
        let trials = Trials {
            admitted: MAX_TRIAL_CALLS,
            recorded: 7,
            failed: MAX_TRIAL_CALLS,
            slow: 1,
        };
        let w = Word::half_open(EPOCH_MASK, trials);
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!(w.epoch(), EPOCH_MASK);
        assert_eq!(w.trials(), trials);
        assert_eq!(w.next_epoch(), 0);

        let w = Word::open(5, u64::MAX);
        assert_eq!(w.state(), State::Open);
        assert_eq!(w.epoch(), 5);
        assert_eq!(w.deadline_ms(), MAX_DEADLINE_MS);

        let d = HalfOpenDeadline::new(EPOCH_MASK, u64::MAX);
        assert_eq!(d.deadline_ms(EPOCH_MASK), Some(HalfOpenDeadline::NEVER_MS));
        assert_eq!(d.deadline_ms(0), None);
        assert_eq!(HalfOpenDeadline::new(3, 1234).deadline_ms(3), Some(1234));

        for (w, s) in [
            (Word::closed(3), State::Closed),
            (Word::forced_open(3), State::ForcedOpen),
            (Word::disabled(3), State::Disabled),
        ] {
            assert_eq!(w.state(), s);
            assert_eq!(w.epoch(), 3);
        }
    }
}
