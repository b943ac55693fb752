//! What happens when a subscriber's buffer is full.

use std::fmt;

/// What the bus does with a new message for a subscription whose buffer is full.
///
/// Chosen per subscription; see `docs/bus.md` for how to pick one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LagPolicy {
    /// Make room by dropping the oldest queued message. The subscriber keeps up with the most
    /// recent messages and learns how many it missed ([`RecvError::Lagged`]) just before the
    /// first message after the gap. The publisher never waits. This is the default, and what
    /// `tokio::sync::broadcast` does.
    ///
    /// [`RecvError::Lagged`]: crate::RecvError::Lagged
    #[default]
    DropOldest,
    /// Keep the queued messages and drop the new one. The subscriber sees an unbroken prefix
    /// and learns how many it missed right after it. The publisher never waits.
    DropNewest,
    /// Make [`Bus::publish`](crate::Bus::publish) wait until the subscription has room:
    /// lossless, at the cost of slowing every publisher of matching subjects down to this
    /// subscriber's pace. [`Bus::try_publish`](crate::Bus::try_publish) never waits; it skips
    /// a full blocking subscription, names it in the [`Delivery`](crate::Delivery) and counts
    /// the message as missed for it.
    Block,
}

impl fmt::Display for LagPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::DropOldest => "drop-oldest",
            Self::DropNewest => "drop-newest",
            Self::Block => "block",
        })
    }
}
