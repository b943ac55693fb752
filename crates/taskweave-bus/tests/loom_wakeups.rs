//! Loom models of the lock-free hand-offs between publishers and subscribers: a subscriber
//! parking while a message is written, and a publisher waiting for room while the blocking
//! subscriber frees it, including two blocking subscribers that share a ring (either may be
//! the one that frees the slot). A lost wake-up shows up as a deadlock, which loom reports.
//!
//! The bus has no capacity-dependent code path (a waiting publisher is woken by the read
//! that frees the oldest slot, at every capacity), so rings of one or two slots exercise the
//! same code as rings of thousands.
//!
//! Run with:
//! `RUSTFLAGS="--cfg taskweave_loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo test --release -p taskweave-bus --test loom_wakeups`
#![cfg(taskweave_loom)]

use loom::future::block_on;
use loom::thread;
use taskweave_bus::{Bus, LagPolicy, RecvError};

#[test]
fn a_parking_subscriber_never_misses_a_message() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(2);
        let mut sub = bus.subscribe("t").expect("valid pattern");
        let publisher = thread::spawn(move || {
            bus.try_publish("t", 1).expect("open");
            // Dropping the last handle closes the bus.
        });
        assert_eq!(block_on(sub.recv()), Ok(1));
        assert_eq!(block_on(sub.recv()), Err(RecvError::Closed));
        publisher.join().expect("publisher does not panic");
    });
}

#[test]
fn a_parking_subscriber_of_a_blocking_ring_never_misses_a_message() {
    // A blocking ring is read without the slot's lock, and learns that a message is there
    // from the slot's sequence number rather than the tail: a different hand-off.
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(2);
        let mut sub = blocking(&bus);
        let publisher = thread::spawn(move || {
            bus.try_publish("t", 1).expect("open");
            bus.try_publish("t", 2).expect("open");
        });
        assert_eq!(block_on(sub.recv()), Ok(1));
        assert_eq!(block_on(sub.recv()), Ok(2));
        assert_eq!(block_on(sub.recv()), Err(RecvError::Closed));
        publisher.join().expect("publisher does not panic");
    });
}

#[test]
fn a_blocked_publisher_is_woken_when_room_appears() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(1);
        let mut sub = bus
            .subscription("t")
            .lag_policy(LagPolicy::Block)
            .build()
            .expect("valid pattern");
        let publisher = thread::spawn(move || {
            block_on(async {
                bus.publish("t", 1).await.expect("open");
                bus.publish("t", 2).await.expect("open");
            });
        });
        assert_eq!(block_on(sub.recv()), Ok(1));
        assert_eq!(block_on(sub.recv()), Ok(2));
        publisher.join().expect("publisher does not panic");
    });
}

#[test]
fn a_blocked_publisher_is_woken_by_the_first_freed_slot_of_a_paused_subscriber() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(2);
        let mut sub = bus
            .subscription("t")
            .lag_policy(LagPolicy::Block)
            .build()
            .expect("valid pattern");
        bus.try_publish("t", 1).expect("open");
        bus.try_publish("t", 2).expect("open");
        let publisher =
            thread::spawn(move || block_on(bus.publish("t", 3)).expect("open").delivered());
        assert_eq!(block_on(sub.recv()), Ok(1));
        // The subscriber pauses: it reads nothing more until the publisher is through, so
        // the slot it freed must be enough to wake the publisher.
        assert_eq!(publisher.join().expect("publisher does not panic"), 1);
        assert_eq!(block_on(sub.recv()), Ok(2));
        assert_eq!(block_on(sub.recv()), Ok(3));
        assert_eq!(block_on(sub.recv()), Err(RecvError::Closed));
    });
}

#[test]
fn a_refusal_is_reported_before_the_message_that_follows_it() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(1);
        let mut sub = bus
            .subscription("t")
            .lag_policy(LagPolicy::DropNewest)
            .build()
            .expect("valid pattern");
        bus.try_publish("t", 1).expect("open");
        let publisher = thread::spawn(move || {
            // Refused unless the subscriber took 1 already; 3 may find room.
            bus.try_publish("t", 2).expect("open");
            bus.try_publish("t", 3).expect("open");
        });
        let mut seen = Vec::new();
        loop {
            match block_on(sub.recv()) {
                Ok(n) => seen.push(Ok(n)),
                Err(RecvError::Lagged(n)) => seen.push(Err(n)),
                Err(_) => break,
            }
        }
        publisher.join().expect("publisher does not panic");
        // Two refusals in a row are one report, or two if the subscriber took the first
        // before the second was recorded.
        let possible: [&[Result<u8, u64>]; 5] = [
            &[Ok(1), Ok(2), Ok(3)],
            &[Ok(1), Ok(2), Err(1)],
            &[Ok(1), Err(1), Ok(3)],
            &[Ok(1), Err(2)],
            &[Ok(1), Err(1), Err(1)],
        ];
        assert!(possible.contains(&seen.as_slice()), "{seen:?}");
    });
}

fn blocking(bus: &Bus<u8>) -> taskweave_bus::Subscription<u8> {
    bus.subscription("t")
        .lag_policy(LagPolicy::Block)
        .build()
        .expect("valid pattern")
}

/// Two blocking subscribers share one ring (same pattern, capacity and policy) and are both
/// at its oldest message: the first read frees nothing, so only the second may let the
/// publisher through, and the publisher may be woken (spuriously) by the first and park again
/// in between. Neither reads on until the publisher is through.
#[test]
fn two_readers_sharing_a_ring_wake_the_publisher_when_the_later_frees_the_slot() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(1);
        let mut a = blocking(&bus);
        let mut b = blocking(&bus);
        bus.try_publish("t", 1).expect("open");
        let publisher =
            thread::spawn(move || block_on(bus.publish("t", 2)).expect("open").delivered());
        let other = thread::spawn(move || {
            assert_eq!(block_on(b.recv()), Ok(1));
            b
        });
        assert_eq!(block_on(a.recv()), Ok(1));
        // Both subscribers pause: the publisher must be through on the two reads alone.
        assert_eq!(publisher.join().expect("publisher does not panic"), 2);
        let mut b = other.join().expect("subscriber does not panic");
        for sub in [&mut a, &mut b] {
            assert_eq!(block_on(sub.recv()), Ok(2));
            assert_eq!(block_on(sub.recv()), Err(RecvError::Closed));
        }
    });
}

/// Two subscribers sharing a ring at different cursors: the slower one frees the slot while
/// the faster one reads concurrently (and frees nothing).
#[test]
fn the_slower_of_two_readers_sharing_a_ring_wakes_the_publisher() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(2);
        let mut fast = blocking(&bus);
        let mut slow = blocking(&bus);
        bus.try_publish("t", 1).expect("open");
        bus.try_publish("t", 2).expect("open");
        assert_eq!(block_on(fast.recv()), Ok(1));
        let publisher =
            thread::spawn(move || block_on(bus.publish("t", 3)).expect("open").delivered());
        let other = thread::spawn(move || {
            assert_eq!(block_on(slow.recv()), Ok(1));
            slow
        });
        assert_eq!(block_on(fast.recv()), Ok(2));
        assert_eq!(publisher.join().expect("publisher does not panic"), 2);
        let mut slow = other.join().expect("subscriber does not panic");
        assert_eq!(block_on(fast.recv()), Ok(3));
        assert_eq!(block_on(slow.recv()), Ok(2));
        assert_eq!(block_on(slow.recv()), Ok(3));
    });
}
