//! Loom models of the flag protocol between signal senders, `tell` and the event loop.
//!
//! The control slot is a mutex-guarded queue, as in the crate; the mailbox (a Tokio channel,
//! not loom-aware) is modelled by one. What loom explores is the atomics in `Flags` around them.
#![cfg(taskweave_loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;
use taskweave_actor::__loom::Flags;

/// Signal senders push then raise the bit; the event loop takes the bit then drains. Whatever
/// the interleaving, a signal is never stranded: once the senders are done, either the loop
/// has received it or the bit is still raised (so the next loop iteration will).
#[test]
fn a_pushed_signal_is_never_left_behind_a_clear_flag() {
    loom::model(|| {
        let flags = Arc::new(Flags::new());
        let queue = Arc::new(Mutex::new(Vec::new()));
        let senders: Vec<_> = (0..2)
            .map(|signal| {
                let flags = Arc::clone(&flags);
                let queue = Arc::clone(&queue);
                thread::spawn(move || {
                    queue.lock().unwrap().push(signal);
                    flags.raise_signal();
                })
            })
            .collect();

        let mut received = Vec::new();
        // One event-loop iteration racing the senders.
        if flags.take_signal() {
            received.extend(queue.lock().unwrap().drain(..));
        }
        for sender in senders {
            sender.join().unwrap();
        }
        let left = queue.lock().unwrap().len();
        if left > 0 {
            assert!(
                flags.signal_pending(),
                "{left} signal(s) queued behind a clear flag"
            );
            assert!(flags.take_signal());
            received.extend(queue.lock().unwrap().drain(..));
        }
        received.sort_unstable();
        assert_eq!(received, [0, 1]);
    });
}

/// Two racing exits (the event loop finishing and the task being dropped): exactly one
/// publishes, and both leave the actor refusing messages.
#[test]
fn exactly_one_exit_wins() {
    loom::model(|| {
        let flags = Arc::new(Flags::new());
        let other = {
            let flags = Arc::clone(&flags);
            thread::spawn(move || flags.mark_exited())
        };
        let mine = flags.mark_exited();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one caller publishes the exit");
        assert!(flags.refusing());
        assert!(flags.is_exited());
    });
}

/// A `tell` (check the refusing bit, then enqueue unless the mailbox is closed) racing a
/// graceful stop (refuse, push the signal, raise the bit) and the event loop (take the signal,
/// close the mailbox, drain): a message the tell reports as accepted is always drained, and one
/// it reports as refused never is.
#[test]
fn a_message_accepted_before_a_stop_is_drained() {
    loom::model(|| {
        let flags = Arc::new(Flags::new());
        let mailbox = Arc::new(Mutex::new((Vec::new(), false))); // (queue, closed)
        let control = Arc::new(Mutex::new(Vec::new()));

        let teller = {
            let flags = Arc::clone(&flags);
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || {
                if flags.refusing() {
                    return false;
                }
                let mut mailbox = mailbox.lock().unwrap();
                if mailbox.1 {
                    return false; // refused by the closed mailbox: handed back
                }
                mailbox.0.push("msg");
                true
            })
        };
        let stopper = {
            let flags = Arc::clone(&flags);
            let control = Arc::clone(&control);
            thread::spawn(move || {
                flags.refuse();
                control.lock().unwrap().push("stop");
                flags.raise_signal();
            })
        };
        stopper.join().unwrap();
        // The event loop, racing the teller: takes the stop, closes the mailbox, then drains
        // it (two steps, as `mailbox.close()` and the `recv` loop are in the crate). Counting
        // only after the teller has finished would make the check hold trivially.
        assert!(flags.take_signal());
        assert_eq!(control.lock().unwrap().drain(..).count(), 1);
        mailbox.lock().unwrap().1 = true;
        let drained = mailbox.lock().unwrap().0.drain(..).count();
        let accepted = teller.join().unwrap();
        assert_eq!(usize::from(accepted), drained);
        assert!(
            mailbox.lock().unwrap().0.is_empty(),
            "nothing enters a closed mailbox"
        );
    });
}
