//! Dropping a runtime with bus work in flight: a publisher blocked on a full subscription,
//! subscribers parked, a replay half read. Nothing hangs or panics, and the handles kept
//! outside the runtime resolve with an error or a result instead of waiting forever.

use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy, PublishError, RecvError};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

#[test]
fn dropping_the_runtime_mid_flight_neither_hangs_nor_panics() {
    finishes_within(
        HANG_LIMIT,
        "runtime teardown with bus work in flight",
        || {
            let bus: Bus<u64> = Bus::builder().capacity(64).retain_last(64).build().unwrap();
            for i in 0..64 {
                bus.try_publish("replayed", i).unwrap();
            }
            // Kept outside the runtime: it must learn that its publishers are gone.
            let mut outside = bus.subscription("events.>").capacity(128).build().unwrap();
            let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let blocked_publisher = {
                let bus = bus.clone();
                let mut full = bus
                    .subscription("events.block")
                    .lag_policy(LagPolicy::Block)
                    .build()
                    .unwrap();
                let started = started_tx.clone();
                rt.spawn(async move {
                    for i in 0..64 {
                        bus.publish("events.block", i).await.unwrap();
                    }
                    // Waits for room that never comes: nobody reads `full`.
                    let _ = pending_then_signal(bus.publish("events.block", 64), started).await;
                    let _ = full.try_recv();
                })
            };
            let parked: Vec<_> = (0..4)
                .map(|_| {
                    let mut sub = bus.subscribe("quiet").unwrap();
                    let started = started_tx.clone();
                    rt.spawn(async move { pending_then_signal(sub.recv(), started).await })
                })
                .collect();
            let replaying = {
                let mut sub = bus.subscription("replayed").replay(64).build().unwrap();
                let started = started_tx.clone();
                rt.spawn(async move {
                    for _ in 0..32 {
                        sub.recv().await.unwrap();
                    }
                    started.send(()).unwrap();
                    loop {
                        let _ = sub.recv().await;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                })
            };
            // The publisher is waiting, the subscribers are parked, the replay is half read.
            for _ in 0..6 {
                started_rx.recv().unwrap();
            }
            assert!(!blocked_publisher.is_finished());
            assert!(parked.iter().all(|task| !task.is_finished()));
            assert!(!replaying.is_finished());

            drop(rt);

            // The tasks were dropped with the runtime, and with them their subscriptions and
            // their bus handles. The blocking subscription is gone, so a publish goes through;
            // closing ends the subscription kept outside once it has drained.
            let delivery = futures_lite_block_on(bus.publish("events.block", 65)).unwrap();
            assert_eq!(delivery.delivered(), 1, "only `outside` is left");
            assert_eq!(bus.subscription_count(), 1);
            drop(bus);
            for i in (0..64).chain([65]) {
                assert_eq!(futures_lite_block_on(outside.recv()), Ok(i));
            }
            assert_eq!(
                futures_lite_block_on(outside.recv()),
                Err(RecvError::Closed)
            );
        },
    );
}

#[test]
fn a_publish_created_outside_fails_once_the_bus_closes_with_the_runtime() {
    finishes_within(HANG_LIMIT, "publisher outside a dropped runtime", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let token = tokio_util::sync::CancellationToken::new();
        let bus: Bus<u64> = Bus::builder()
            .capacity(64)
            .cancellation_token(token.clone())
            .build()
            .unwrap();
        let sub = bus
            .subscription("t")
            .lag_policy(LagPolicy::Block)
            .build()
            .unwrap();
        for i in 0..64 {
            bus.try_publish("t", i).unwrap();
        }
        // The reader task holds the subscription and waits for a cancellation that, in the
        // shutdown being tested, only happens when its runtime is dropped. One tuple, so that
        // the guard (first field) is dropped before the subscription whether or not the task
        // was ever polled: dropping the subscription first would free the publisher's room
        // before the close, a legitimate outcome this test is not about.
        let held = (token.clone().drop_guard(), sub);
        rt.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        // The publish waits in a thread outside the runtime.
        let (waiting_tx, waiting) = std::sync::mpsc::channel();
        let publisher = std::thread::spawn({
            let bus = bus.clone();
            move || futures_lite_block_on(pending_then_signal(bus.publish("t", 64), waiting_tx))
        });
        waiting.recv().unwrap();
        assert!(!publisher.is_finished());
        drop(rt);
        match publisher.join().unwrap() {
            Err(PublishError::Closed(64)) => {}
            other => panic!("{other:?}"),
        }
    });
}

/// Runs `fut`, sending on `signal` the first time it returns `Pending`: the test then knows
/// that it is waiting, not merely about to.
async fn pending_then_signal<F: std::future::Future>(
    fut: F,
    signal: std::sync::mpsc::Sender<()>,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut signal = Some(signal);
    std::future::poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        if poll.is_pending() {
            if let Some(signal) = signal.take() {
                let _ = signal.send(());
            }
        }
        poll
    })
    .await
}

/// A minimal executor for futures awaited outside any runtime: parks the thread until the
/// future's waker is called.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
