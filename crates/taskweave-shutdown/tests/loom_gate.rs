//! Loom model of the phase gate: spawns racing the start of shutdown are either refused or
//! waited for, and the coordinator waiting for the phase to empty is never left asleep.
//!
//! Run with:
//! `RUSTFLAGS="--cfg taskweave_loom" cargo test --release -p taskweave-shutdown --test loom_gate`
#![cfg(taskweave_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use taskweave_shutdown::gate::{Entry, Gate};

/// One spawner: enter; if admitted, run (nothing) and leave. Whoever brings the count to zero
/// wakes the waiter (stands in for `Notify::notify_waiters`).
fn spawn_and_finish(gate: &Gate, wakeups: &AtomicUsize) -> bool {
    match gate.enter() {
        Entry::Admitted => {
            if gate.leave() {
                wakeups.fetch_add(1, Ordering::SeqCst);
            }
            true
        }
        Entry::Refused { now_idle } => {
            if now_idle {
                wakeups.fetch_add(1, Ordering::SeqCst);
            }
            false
        }
    }
}

#[test]
fn spawns_racing_the_close_are_refused_or_waited_for_and_the_waiter_is_woken() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let wakeups = Arc::new(AtomicUsize::new(0));
        let spawners: Vec<_> = (0..2)
            .map(|_| {
                let (gate, wakeups) = (Arc::clone(&gate), Arc::clone(&wakeups));
                thread::spawn(move || spawn_and_finish(&gate, &wakeups))
            })
            .collect();

        // The coordinator: shutdown begins, then it waits for the phase to be empty, having
        // registered for wake-ups (read the counter) before looking at the count.
        let live_at_close = gate.close();
        let seen_wakeups = wakeups.load(Ordering::SeqCst);
        let live = gate.live();

        let admitted: Vec<bool> = spawners.into_iter().map(|s| s.join().unwrap()).collect();
        assert!(live_at_close <= admitted.iter().filter(|a| **a).count());
        assert_eq!(
            gate.live(),
            0,
            "every admitted task left, every refusal undid itself"
        );
        assert_eq!(
            gate.enter(),
            Entry::Refused { now_idle: true },
            "the gate stays closed, and a refusal leaves it empty"
        );
        if live != 0 {
            // The waiter went to sleep: someone must wake it after it registered.
            assert!(
                wakeups.load(Ordering::SeqCst) > seen_wakeups,
                "the waiter saw {live} live tasks and was never woken"
            );
        }
    });
}

#[test]
fn a_refused_spawn_was_never_counted_by_the_close() {
    loom::model(|| {
        let gate = Arc::new(Gate::new());
        let wakeups = Arc::new(AtomicUsize::new(0));
        let spawner = {
            let (gate, wakeups) = (Arc::clone(&gate), Arc::clone(&wakeups));
            thread::spawn(move || {
                let entry = gate.enter();
                let admitted = entry == Entry::Admitted;
                if admitted && gate.leave() {
                    wakeups.fetch_add(1, Ordering::SeqCst);
                }
                admitted
            })
        };
        let live_at_close = gate.close();
        let admitted = spawner.join().unwrap();
        if !admitted {
            assert_eq!(
                live_at_close, 0,
                "the close counted a task that was then refused"
            );
        }
    });
}
