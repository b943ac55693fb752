//! Loom models of the control protocol, driving the crate's own `Control` and `Flags` (built
//! on loom's primitives under `--cfg taskweave_loom`, through `src/loom.rs`).
//!
//! What is the production code here: recording a request, raising the flag and waking
//! (`Control::request`), taking requests (`Control::take`), and the register-then-recheck wait
//! (`Control::poll_signal`, `Control::poll_refusing`). What is a stand-in: the actor's mailbox,
//! a Tokio channel (not loom-aware, and not part of the protocol), which the event loop polls
//! before it waits; the models treat it as empty (or as a mutex-guarded queue where its
//! closing matters), and the task that waits is a loom `block_on`, which reports a deadlock if
//! it is never woken — the lost wake-up this protocol exists to prevent.
#![cfg(taskweave_loom)]

use std::future::poll_fn;

use loom::sync::{Arc, Mutex};
use loom::thread;
use taskweave_actor::__loom::{Control, Flags};

/// The event loop's wait with an empty mailbox, as in `spawn.rs`: take the pending requests
/// before the next message; when the mailbox has nothing, wait with `poll_signal`, then go round
/// again. Returns what the first non-empty take held.
fn next_requests(control: &Control<Vec<u32>>) -> Vec<u32> {
    loom::future::block_on(async {
        loop {
            if let Some(requests) = control.take() {
                // A flag raised after an earlier take emptied the slot takes nothing: go on.
                if !requests.is_empty() {
                    return requests;
                }
            }
            // (The mailbox is polled here first; the stand-in is always empty.)
            poll_fn(|cx| control.poll_signal(cx)).await;
        }
    })
}

/// An idle actor is woken by a request, whichever way the request races its registration.
#[test]
fn an_idle_event_loop_is_woken_by_a_request() {
    loom::model(|| {
        let control = Arc::new(Control::<Vec<u32>>::new());
        let requester = {
            let control = Arc::clone(&control);
            thread::spawn(move || assert!(control.request(|pending| pending.push(7))))
        };
        assert_eq!(next_requests(&control), [7]);
        requester.join().unwrap();
    });
}

/// Two requests racing each other and the wait: both are received, each once, and nothing is
/// left behind a clear flag.
#[test]
fn racing_requests_are_each_received_once() {
    loom::model(|| {
        let control = Arc::new(Control::<Vec<u32>>::new());
        let requesters: Vec<_> = (0..2)
            .map(|request| {
                let control = Arc::clone(&control);
                thread::spawn(move || assert!(control.request(|pending| pending.push(request))))
            })
            .collect();
        let mut received = next_requests(&control);
        if received.len() < 2 {
            received.extend(next_requests(&control));
        }
        for requester in requesters {
            requester.join().unwrap();
        }
        received.sort_unstable();
        assert_eq!(received, [0, 1]);
        let left = control.take().unwrap_or_default();
        assert!(left.is_empty(), "received twice: {left:?}");
    });
}

/// A handler waiting on the refusing flag (the supervisor's restart delay) is woken by a stop,
/// and a request that is not a stop (a link exit) wakes it without ending the wait.
#[test]
fn a_stop_ends_a_wait_on_the_refusing_flag() {
    loom::model(|| {
        let control = Arc::new(Control::<Vec<u32>>::new());
        let link_exit = {
            let control = Arc::clone(&control);
            thread::spawn(move || {
                control.request(|pending| pending.push(1));
            })
        };
        let stop = {
            let control = Arc::clone(&control);
            thread::spawn(move || {
                // As `Shared::stop`: refuse first, then request.
                control.flags().refuse();
                control.request(|pending| pending.push(2));
            })
        };
        loom::future::block_on(poll_fn(|cx| control.poll_refusing(cx)));
        assert!(control.flags().refusing());
        link_exit.join().unwrap();
        stop.join().unwrap();
    });
}

/// Two racing exits (the event loop finishing and the task being dropped): exactly one
/// publishes, both leave the actor refusing, and a request after the exit is refused.
#[test]
fn exactly_one_exit_wins() {
    loom::model(|| {
        let control = Arc::new(Control::<Vec<u32>>::new());
        let other = {
            let control = Arc::clone(&control);
            thread::spawn(move || control.flags().mark_exited())
        };
        let mine = control.flags().mark_exited();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one caller publishes the exit");
        let flags: &Flags = control.flags();
        assert!(flags.refusing());
        assert!(flags.is_exited());
        assert!(!control.request(|pending| pending.push(1)));
    });
}

/// The mailbox stand-in for the exit models: a send is two steps, as in Tokio's bounded
/// channel — take a slot (refused once the mailbox is closed), then push the message.
#[derive(Default)]
struct Mailbox {
    queue: Vec<&'static str>,
    closed: bool,
    /// Slots taken by senders that have not pushed yet.
    taken: usize,
}

/// A `tell` (check the refusing bit, take a slot unless the mailbox is closed, push) racing a
/// graceful stop (refuse, then request) and the event loop's exit (take the stop, close the
/// mailbox, receive until nothing is queued *and* no slot is taken — the rule of
/// `src/mailbox.rs`, which is what `recv` returning `None` on a closed Tokio channel means): a
/// message the tell reports as accepted is always received, one it reports as refused never is,
/// and nothing is left behind. Receiving once and dropping the receiver instead (the crate's
/// earlier exit) fails here: a push between the slot and the message lands after the drain.
#[test]
fn a_message_accepted_before_a_stop_is_drained() {
    loom::model(|| {
        let control = Arc::new(Control::<Vec<&'static str>>::new());
        let mailbox = Arc::new(Mutex::new(Mailbox::default()));

        let teller = {
            let control = Arc::clone(&control);
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || {
                if control.flags().refusing() {
                    return false;
                }
                {
                    let mut mailbox = mailbox.lock().unwrap();
                    if mailbox.closed {
                        return false; // refused by the closed mailbox: handed back
                    }
                    mailbox.taken += 1;
                }
                // The gap: a preempted sender holds its slot here.
                let mut mailbox = mailbox.lock().unwrap();
                mailbox.queue.push("msg");
                mailbox.taken -= 1;
                true
            })
        };
        let stopper = {
            let control = Arc::clone(&control);
            thread::spawn(move || {
                control.flags().refuse();
                control.request(|pending| pending.push("stop"));
            })
        };
        stopper.join().unwrap();
        // The event loop, racing the teller: takes the stop, closes the mailbox, then receives
        // until the channel reports nothing left and nothing to come. Counting only after the
        // teller has finished would make the check hold trivially.
        assert_eq!(control.take().as_deref(), Some(&["stop"][..]));
        mailbox.lock().unwrap().closed = true;
        let mut received = 0;
        loop {
            let mut mailbox = mailbox.lock().unwrap();
            received += mailbox.queue.drain(..).count();
            if mailbox.taken == 0 {
                break;
            }
            drop(mailbox);
            thread::yield_now();
        }
        let accepted = teller.join().unwrap();
        assert_eq!(usize::from(accepted), received);
        assert!(
            mailbox.lock().unwrap().queue.is_empty(),
            "a message landed after the receiver was dropped"
        );
    });
}
