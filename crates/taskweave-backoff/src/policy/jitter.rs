//! Jitter: spreading retries out so that clients that failed together do not retry together.

use crate::rng::WyRand;

/// How a policy's delay is randomised before it is slept.
///
/// Without jitter, every client that failed at the same moment retries at the same moments too,
/// and the retries arrive as synchronised waves. The AWS architecture blog's "Exponential Backoff
/// and Jitter" analysis shows [`Jitter::Full`] finishing the same work with the fewest calls.
///
/// | mode | delay slept for a policy delay `d` |
/// |---|---|
/// | [`None`](Jitter::None) | exactly `d` |
/// | [`Full`](Jitter::Full) | uniform in `[0, d]` |
/// | [`Equal`](Jitter::Equal) | `d/2` plus uniform in `[0, d/2]`, so within `[d/2, d]` |
///
/// Written in lower case in a config file (feature `serde`): `jitter = "full"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Jitter {
    /// Sleep the policy's delay as is (the default for the explicit constructors).
    #[default]
    None,
    /// Sleep a uniform random time between zero and the policy's delay: the best spread, and the
    /// recommended mode for a fleet of clients.
    Full,
    /// Sleep half the delay plus a uniform random share of the other half: a guaranteed minimum
    /// wait with some spread.
    Equal,
}

impl Jitter {
    /// The share of a delay kept before the random part, as `(delay >> shift) & mask`: all of
    /// it, half of it, or none.
    #[inline]
    pub(crate) fn fixed_share(self) -> FixedShare {
        let (shift, mask) = match self {
            Self::None => (0, u64::MAX),
            Self::Equal => (1, u64::MAX),
            Self::Full => (0, 0),
        };
        FixedShare { shift, mask }
    }

    /// Randomises a delay of `nanos` keeping `share` of it (from
    /// [`fixed_share`](Jitter::fixed_share)); never returns more than `nanos`.
    /// Branch-free: for `None` the random part is empty and its draw always 0.
    #[inline]
    pub(crate) fn apply_share(nanos: u64, share: FixedShare, rng: &mut WyRand) -> u64 {
        let fixed = (nanos >> share.shift) & share.mask;
        fixed + rng.up_to(nanos - fixed)
    }

    /// Randomises a delay of `nanos`; never returns more than `nanos`.
    #[cfg(test)]
    fn apply(self, nanos: u64, rng: &mut WyRand) -> u64 {
        Self::apply_share(nanos, self.fixed_share(), rng)
    }

    pub(crate) fn is_random(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// See [`Jitter::fixed_share`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedShare {
    shift: u32,
    mask: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_stay_within_their_ranges() {
        let mut rng = WyRand::new(3);
        for d in [0, 1, 2, 7, 1_000, u64::MAX] {
            assert_eq!(Jitter::None.apply(d, &mut rng), d);
            for _ in 0..100 {
                assert!(Jitter::Full.apply(d, &mut rng) <= d);
                let e = Jitter::Equal.apply(d, &mut rng);
                assert!(e >= d / 2 && e <= d, "{e} not in [{}, {d}]", d / 2);
            }
        }
    }
}
