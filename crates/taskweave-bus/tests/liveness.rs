//! Liveness under lossless backpressure at realistic capacities: a publisher waiting for a
//! blocking subscription resumes as soon as that subscription frees a slot, even if the
//! subscriber then pauses.

use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy, RecvError};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

const CAPACITY: usize = 64;

fn blocking(bus: &Bus<u64>) -> taskweave_bus::Subscription<u64> {
    bus.subscription("t")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap()
}

/// The reviewer's reproduction: a full ring of 64, the subscriber takes a few messages and
/// then pauses for an hour. The waiting publisher must have gone through long before.
#[tokio::test(start_paused = true)]
async fn a_blocked_publisher_resumes_when_a_paused_subscriber_has_freed_slots() {
    for freed in [1, 3, 7] {
        let bus: Bus<u64> = Bus::new(CAPACITY);
        let mut sub = blocking(&bus);
        for i in 0..CAPACITY as u64 {
            bus.publish("t", i).await.unwrap();
        }
        let publisher = {
            let bus = bus.clone();
            tokio::spawn(async move {
                for i in CAPACITY as u64..CAPACITY as u64 + freed {
                    bus.publish("t", i).await.unwrap();
                }
            })
        };
        tokio::task::yield_now().await;
        assert!(!publisher.is_finished(), "the ring is full");
        for i in 0..freed {
            assert_eq!(sub.recv().await, Ok(i));
        }
        // The subscriber pauses.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(
            publisher.is_finished(),
            "{freed} slot(s) free for an hour, publisher still parked"
        );
        publisher.await.unwrap();
        assert_eq!(sub.metrics().queued, CAPACITY);
    }
}

/// Subscribers that take a few messages, then wait until the publisher has published again
/// since their last read before they read on. If the publisher stays parked while there is
/// room, they wait for each other forever and the watchdog fails the test.
///
/// Why the test cannot deadlock on its own: a subscriber waits for a publish that came after
/// its last read began. If the publisher is stuck on message `p` (the ring is full), the
/// slowest subscriber is at `p - CAPACITY`, so its last read was of message
/// `p - CAPACITY - 1`; when that read began, message `p - 1` could not have been published
/// yet, so the subscriber saw a progress below `p` and is not waiting.
#[test]
fn lossless_publisher_progresses_whenever_a_pausing_subscriber_frees_slots() {
    finishes_within(HANG_LIMIT, "publisher and pausing subscriber", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            const N: u64 = 5_000;
            let bus: Bus<u64> = Bus::new(CAPACITY);
            let mut subs: Vec<_> = (0..2).map(|_| blocking(&bus)).collect();
            let (progress_tx, progress) = tokio::sync::watch::channel(0u64);
            let publisher = {
                let bus = bus.clone();
                tokio::spawn(async move {
                    for i in 0..N {
                        bus.publish("t", i).await.unwrap();
                        progress_tx.send_replace(i + 1);
                    }
                })
            };
            let readers: Vec<_> = subs
                .drain(..)
                .enumerate()
                .map(|(r, mut sub)| {
                    let mut progress = progress.clone();
                    tokio::spawn(async move {
                        let mut expected = 0;
                        let mut burst = 1 + r as u64;
                        loop {
                            // Read a short burst (1 to 7 messages), then pause until the
                            // publisher has published something after the burst's last read.
                            // The progress is taken *before* that read: the read may free the
                            // slot the publisher waits for, and the publisher may fill it
                            // before this task looks again. Taken after, it would already
                            // count that publish, and the subscriber would wait for one more
                            // that a full ring cannot take: a deadlock of the test, not of
                            // the bus.
                            let mut seen = 0;
                            for i in 0..burst {
                                if i + 1 == burst {
                                    seen = *progress.borrow_and_update();
                                }
                                match sub.recv().await {
                                    Ok(v) => {
                                        assert_eq!(v, expected);
                                        expected += 1;
                                    }
                                    Err(RecvError::Closed) => return expected,
                                    Err(e) => panic!("{e}"),
                                }
                            }
                            burst = burst % 7 + 1;
                            if expected >= N {
                                continue;
                            }
                            progress
                                .wait_for(|&published| published > seen || published == N)
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            publisher.await.unwrap();
            drop(bus);
            for reader in readers {
                assert_eq!(reader.await.unwrap(), N);
            }
        });
    });
}

/// Many blocking subscribers sharing one ring of 256, on two worker threads, each pausing at
/// its own rhythm: every message reaches every subscriber, in order.
#[test]
fn shared_blocking_ring_delivers_everything_to_pausing_subscribers() {
    finishes_within(HANG_LIMIT, "shared blocking ring", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            const N: u64 = 20_000;
            let bus: Bus<u64> = Bus::new(256);
            let readers: Vec<_> = (0..8u64)
                .map(|r| {
                    let mut sub = bus
                        .subscription("t.>")
                        .lag_policy(LagPolicy::Block)
                        .build()
                        .unwrap();
                    tokio::spawn(async move {
                        let mut expected = 0;
                        loop {
                            match sub.recv().await {
                                Ok(v) => {
                                    assert_eq!(v, expected);
                                    expected += 1;
                                    if expected % (64 + r * 13) == 0 {
                                        tokio::task::yield_now().await;
                                    }
                                }
                                Err(RecvError::Closed) => return expected,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    })
                })
                .collect();
            for i in 0..N {
                bus.publish("t.x", i).await.unwrap();
            }
            drop(bus);
            for reader in readers {
                assert_eq!(reader.await.unwrap(), N);
            }
        });
    });
}
