//! Loom models of the lifecycle hand-offs: an abort settling a reader's cursor while it reads
//! (every message received or counted as discarded, never both, never neither), and a drain
//! woken by the read that empties the last buffer. A lost wake-up shows up as a deadlock.
//!
//! Run with:
//! `RUSTFLAGS="--cfg taskweave_loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo test --release -p taskweave-bus --test loom_lifecycle`
#![cfg(taskweave_loom)]

use loom::future::block_on;
use loom::thread;
use taskweave_bus::{Bus, LagPolicy, RecvError};

#[test]
fn an_abort_racing_a_read_accounts_for_every_message() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(2);
        let mut sub = bus
            .subscription("t")
            .lag_policy(LagPolicy::Block)
            .build()
            .expect("valid pattern");
        bus.try_publish("t", 1).expect("open");
        bus.try_publish("t", 2).expect("open");
        let reader = thread::spawn(move || {
            let mut got = 0u64;
            while block_on(sub.recv()).is_ok() {
                got += 1;
            }
            assert_eq!(block_on(sub.recv()), Err(RecvError::Closed));
            got
        });
        let report = bus.abort();
        let got = reader.join().expect("reader does not panic");
        assert_eq!(got + report.total_discarded(), 2);
    });
}

#[test]
fn a_drain_is_woken_by_the_read_that_empties_the_buffer() {
    loom::model(|| {
        let bus: Bus<u8> = Bus::new(1);
        let mut sub = bus
            .subscription("t")
            .lag_policy(LagPolicy::Block)
            .build()
            .expect("valid pattern");
        bus.try_publish("t", 1).expect("open");
        let reader = thread::spawn(move || {
            assert_eq!(block_on(sub.recv()), Ok(1));
            // Kept alive: the drain must not rely on the subscription being dropped.
            sub
        });
        block_on(bus.drain());
        let _sub = reader.join().expect("reader does not panic");
    });
}
