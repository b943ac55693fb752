//! Ending a bus: waiting for subscriptions to drain, and the abort that ends them at once.

use std::sync::Arc;
use std::task::Waker;

use crate::loom::{Ordering, fence};
use crate::member::Member;
use crate::registry::{Shared, WaitTicket};
use crate::ring::Ring;
use crate::{Pattern, SubscriberId};

/// What a [`Bus::shutdown`](crate::Bus::shutdown) or [`Bus::abort`](crate::Bus::abort) had to
/// cut short: the subscriptions that still had unread messages, and how many each lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// One entry per subscription that lost messages, in no particular order.
    pub discarded: Vec<Discarded>,
}

impl ShutdownReport {
    /// Whether nothing had to be discarded: every subscription had read everything published
    /// to it (or had been dropped) when the bus ended.
    pub fn is_clean(&self) -> bool {
        self.discarded.is_empty()
    }

    /// How many messages were discarded over all subscriptions.
    pub fn total_discarded(&self) -> u64 {
        self.discarded.iter().map(|d| d.count).sum()
    }
}

/// The messages one subscription had not read when the bus was aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discarded {
    /// The subscription.
    pub id: SubscriberId,
    /// What it subscribed to.
    pub pattern: Pattern,
    /// How many messages published to it it will never receive: those still buffered for it
    /// (or overwritten and not yet reported as lag) and replayed ones it had not taken.
    pub count: u64,
}

impl<T> Shared<T> {
    /// Whether every live, non-aborted subscription has read everything written to its ring.
    /// If not, registers `waker` with the first ring still being read, to be woken when a
    /// member reaches its end (or leaves, or the bus is aborted), and returns `false`.
    ///
    /// Call only once the bus is closed: nothing is written any more, so the tails are final,
    /// and the rings' publisher hand-off (`Ring::wait_for_room`) is free for drainers, who
    /// all wait on the same value, the tail.
    pub(crate) fn poll_drained(&self, waker: &Waker, ticket: &mut WaitTicket<T>) -> bool {
        let registry = self.lock();
        let behind = |members: &[Arc<Member>], tail: u64| {
            members
                .iter()
                .any(|m| m.next.load(Ordering::Acquire) < tail && !m.is_aborted())
        };
        for group in registry.groups.iter().flatten() {
            if !behind(&group.members, group.tail) {
                continue;
            }
            let mut place = match ticket.take() {
                Some((ring, place)) if Arc::ptr_eq(&ring, &group.ring) => Some(place),
                _ => None,
            };
            // Woken by the read that moves a member's cursor to the tail.
            group.ring.wait_for_room(waker, &mut place, group.tail);
            *ticket = place.map(|place| (Arc::clone(&group.ring), place));
            // A member may have moved between our look and the registration.
            if behind(&group.members, group.tail) {
                return false;
            }
        }
        true
    }

    /// Closes the bus and ends every subscription now: what each has not read is discarded
    /// and counted, and its next receive reports the bus closed.
    pub(crate) fn abort_all(&self, why: &str) -> ShutdownReport {
        self.close();
        let mut report = ShutdownReport::default();
        let rings: Vec<Arc<Ring<T>>> = {
            let mut registry = self.lock();
            for group in registry.groups.iter().flatten() {
                for member in &group.members {
                    let Some(held) = member.begin_abort() else {
                        continue;
                    };
                    let settled = settle(member, group.tail);
                    let count = (group.tail - settled).saturating_add(held as u64);
                    if count > 0 {
                        report.discarded.push(Discarded {
                            id: member.id,
                            pattern: member.pattern.clone(),
                            count,
                        });
                    }
                }
            }
            registry.counters.discarded += report.total_discarded();
            registry
                .groups
                .iter()
                .flatten()
                .map(|group| Arc::clone(&group.ring))
                .collect()
        };
        // After the lock: wake parked readers (to see the end) and drainers.
        rings.iter().for_each(|ring| ring.close());
        for discarded in &report.discarded {
            tracing::warn!(
                subscriber = discarded.id.as_u64(),
                pattern = %discarded.pattern,
                discarded = discarded.count,
                why,
                "bus aborted: unread messages discarded"
            );
        }
        tracing::debug!(
            why,
            subscriptions_cut = report.discarded.len(),
            discarded = report.total_discarded(),
            "bus aborted"
        );
        report
    }
}

/// Where an aborted `member` ends: its cursor, unless a read in flight got there first; see
/// [`Member::settle`].
fn settle(member: &Member, tail: u64) -> u64 {
    // Pairs with the `SeqCst` store that moves a reader's cursor before it looks at the gap
    // flag, which `begin_abort` has set.
    fence(Ordering::SeqCst);
    member.settle().min(tail)
}
