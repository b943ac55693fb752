//! Loom models of the fixed pool's queue and idle-worker hand-off (the production
//! `Handoff` type, built against loom's primitives): whatever the interleaving of pushers,
//! closers and workers that register-then-look, no item is left in the queue while a worker
//! waits for it, and a close always reaches an idle worker.
#![cfg(taskweave_loom)]

use std::future::poll_fn;
use std::task::Poll;

use loom::sync::Arc;
use loom::thread;
use taskweave_pool::handoff::Handoff;

/// Worker `idx`'s loop, reduced to the hand-off: register, look, park until it has `want`
/// items (or the queue is finished). `block_on` reports a deadlock if a wake is lost.
fn work(queue: &Handoff<u32>, idx: usize, want: usize) -> (Vec<u32>, bool) {
    let mut got = Vec::new();
    let mut finished = false;
    loom::future::block_on(poll_fn(|cx| {
        queue.register(idx, cx.waker());
        let popped = queue.pop(idx, want - got.len(), &mut got);
        finished = popped.finished;
        if got.len() == want || finished {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }));
    (got, finished)
}

#[test]
fn a_push_always_reaches_a_waiting_worker() {
    loom::model(|| {
        let queue = Arc::new(Handoff::new(1));
        let pusher = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.push(7).unwrap())
        };
        let (got, _) = work(&queue, 0, 1);
        pusher.join().unwrap();
        assert_eq!(got, vec![7]);
    });
}

#[test]
fn a_batch_reaches_two_waiting_workers() {
    loom::model(|| {
        let queue = Arc::new(Handoff::new(2));
        let second = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || work(&queue, 1, 1).0)
        };
        let pusher = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                let mut batch = vec![1, 2];
                assert!(queue.push_batch(&mut batch));
                assert!(batch.is_empty());
            })
        };
        let (mut got, _) = work(&queue, 0, 1);
        got.extend(second.join().unwrap());
        pusher.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
    });
}

#[test]
fn a_close_reaches_an_idle_worker_after_the_last_item() {
    loom::model(|| {
        let queue = Arc::new(Handoff::new(1));
        let closer = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                queue.push(3).unwrap();
                assert!(queue.close());
                // Closed: a late push is handed back, never stranded.
                assert_eq!(queue.push(4), Err(4));
            })
        };
        // Wants more than will ever come: returns only because the close reached it.
        let (got, finished) = work(&queue, 0, 4);
        closer.join().unwrap();
        assert!(finished);
        assert_eq!(got, vec![3]);
    });
}

#[test]
fn an_abort_takes_what_no_worker_took() {
    loom::model(|| {
        let queue = Arc::new(Handoff::new(1));
        let aborter = {
            let queue = Arc::clone(&queue);
            thread::spawn(move || {
                queue.push(5).unwrap();
                queue.abort().unwrap()
            })
        };
        let (got, finished) = work(&queue, 0, 2);
        let taken = aborter.join().unwrap();
        assert!(finished);
        // The item went to the worker or to the abort, exactly once.
        assert_eq!(got.len() + taken.len(), 1);
    });
}
