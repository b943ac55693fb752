//! The tasks parked on a ring, each holding one place identified by a ticket.
//!
//! A task polled again while it waits (inside `select!`, or by an executor that hands out a
//! new waker on every poll) replaces the waker at its place instead of adding another, so the
//! list holds one waker per waiter however often it is polled. Waiters are told apart by
//! their ticket, never by comparing wakers: `Waker::will_wake` is best effort and may answer
//! differently for the same task from one build to the next.

use std::task::Waker;

/// A waiter's place in a [`Waiters`] list, valid until the list is next taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    round: u64,
    index: usize,
}

/// Wakers of waiting tasks, taken all at once when whatever they wait for happens.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    /// Bumped each time the list is taken: a ticket from an earlier round names no place.
    round: u64,
    wakers: Vec<Waker>,
}

impl Waiters {
    /// Registers `waker`: at the place `ticket` names if it is from this round, otherwise at
    /// a new place, which `ticket` then names.
    pub(crate) fn register(&mut self, waker: &Waker, ticket: &mut Option<Ticket>) {
        if let Some(Ticket { round, index }) = *ticket {
            if round == self.round {
                if let Some(place) = self.wakers.get_mut(index) {
                    *place = waker.clone();
                    return;
                }
            }
        }
        *ticket = Some(Ticket {
            round: self.round,
            index: self.wakers.len(),
        });
        self.wakers.push(waker.clone());
    }

    /// Moves every waker to the end of `out` and voids every ticket. Both buffers keep their
    /// capacity, so a caller that keeps `out` around wakes without allocating.
    pub(crate) fn take_into(&mut self, out: &mut Vec<Waker>) {
        self.round = self.round.wrapping_add(1);
        out.append(&mut self.wakers);
    }

    /// Takes every waker and voids every ticket.
    pub(crate) fn take(&mut self) -> Vec<Waker> {
        let mut out = Vec::new();
        self.take_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_ticket_keeps_one_place_per_waiter_until_the_list_is_taken() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut waiters = Waiters::default();
        let (mut a, mut b) = (None, None);
        for _ in 0..10 {
            // A new waker every time, as a `FreshWakers` poll would give.
            waiters.register(&Waker::from(Arc::clone(&count)), &mut a);
            waiters.register(&Waker::from(Arc::clone(&count)), &mut b);
        }
        let taken = waiters.take();
        assert_eq!(taken.len(), 2);
        taken.into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        // The old tickets name no place in the new round.
        waiters.register(&Waker::from(Arc::clone(&count)), &mut a);
        assert_eq!(waiters.take().len(), 1);
    }
}
