//! Loom model of a fixed worker's ready set: a job's wake is never lost, whatever the
//! interleaving of the waking thread with the worker's register-then-take.
#![cfg(taskweave_loom)]

use std::future::poll_fn;
use std::task::Poll;

use loom::future::AtomicWaker;
use loom::sync::Arc;
use loom::thread;
use taskweave_pool::ready::ReadyChunk;

#[test]
fn a_wake_is_never_lost() {
    loom::model(|| {
        let worker = Arc::new(AtomicWaker::new());
        let chunk = Arc::new(ReadyChunk::new(Arc::clone(&worker)));

        let waker_side = {
            let chunk = Arc::clone(&chunk);
            thread::spawn(move || {
                chunk.wake(0b01);
                chunk.wake(0b10);
            })
        };

        // The worker loops until it has seen both slots; `block_on` reports a deadlock if a
        // wake is lost while it waits.
        let mut seen = 0u64;
        loom::future::block_on(poll_fn(|cx| {
            worker.register_by_ref(cx.waker());
            seen |= chunk.take();
            if seen == 0b11 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        waker_side.join().unwrap();
    });
}
