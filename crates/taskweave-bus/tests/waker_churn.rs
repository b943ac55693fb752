//! Every future of the bus that can wait, polled with a new waker on every poll: it completes,
//! its poll count stays small (no self-wake spin), and a waiter polled again and again is
//! registered once, not once per waker.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use taskweave_bus::{Bus, LagPolicy, RecvError, Subscription};
use taskweave_testkit::FreshWakers;

const CAPACITY: usize = 64;

/// A waker that counts how often it is woken (test support of this file).
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl CountingWaker {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls of a subscription that received something and then finds nothing: it yields up to
/// four times in a row (a publisher may be about to write more), then parks.
const IDLE_EPISODE_POLLS: usize = 5;

fn subscription(bus: &Bus<u64>, policy: LagPolicy) -> Subscription<u64> {
    bus.subscription("t").lag_policy(policy).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn recv_under_waker_churn_completes_in_two_polls_for_every_policy() {
    for policy in [
        LagPolicy::DropOldest,
        LagPolicy::DropNewest,
        LagPolicy::Block,
    ] {
        let bus: Bus<u64> = Bus::new(CAPACITY);
        let mut sub = subscription(&bus, policy);
        let waiting = tokio::spawn(async move {
            let (got, polls) = FreshWakers::new(sub.recv()).await;
            (got, polls, sub)
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        bus.publish("t", 7).await.unwrap();
        let (got, polls, mut sub) = waiting.await.unwrap();
        assert_eq!(got, Ok(7), "{policy}");
        assert!(polls <= 2, "{policy}: {polls} polls for one message");

        // After a message, a subscriber that finds nothing more yields a few times, then
        // parks: the polls that find nothing, then the one that sees the close.
        let again = tokio::spawn(async move { FreshWakers::new(sub.recv()).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        bus.close();
        let (got, polls) = again.await.unwrap();
        assert_eq!(got, Err(RecvError::Closed), "{policy}");
        assert!(
            polls <= IDLE_EPISODE_POLLS + 1,
            "{policy}: {polls} polls while idle"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn publish_under_backpressure_with_waker_churn_completes_in_two_polls() {
    let bus: Bus<u64> = Bus::new(CAPACITY);
    let mut sub = subscription(&bus, LagPolicy::Block);
    for i in 0..CAPACITY as u64 {
        bus.publish("t", i).await.unwrap();
    }
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move { FreshWakers::new(bus.publish("t", 64)).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!publisher.is_finished());
    for i in 0..8 {
        assert_eq!(sub.recv().await, Ok(i));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (delivery, polls) = publisher.await.unwrap();
    assert_eq!(delivery.unwrap().delivered(), 1);
    assert!(polls <= 2, "{polls} polls for one blocked publish");
}

#[tokio::test(start_paused = true)]
async fn replay_then_live_under_waker_churn_completes_in_two_polls() {
    let bus: Bus<u64> = Bus::builder()
        .capacity(CAPACITY)
        .retain_last(CAPACITY)
        .build()
        .unwrap();
    for i in 0..100 {
        bus.publish("t", i).await.unwrap();
    }
    let mut sub = bus.subscription("t").replay(CAPACITY).build().unwrap();
    let reader = tokio::spawn(async move {
        FreshWakers::new(async move {
            let mut got = Vec::new();
            for _ in 0..=CAPACITY {
                got.push(sub.recv().await.unwrap());
            }
            got
        })
        .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!reader.is_finished(), "waits for the live message");
    bus.publish("t", 100).await.unwrap();
    let (got, polls) = reader.await.unwrap();
    assert_eq!(got, (36..=100).collect::<Vec<_>>());
    assert!(
        polls <= 2,
        "{polls} polls for a replay and one live message"
    );
}

/// A subscription polled 100 times while idle, each time with another waker, is woken once
/// when a message arrives: it holds one place among the parked readers, not one per waker.
#[test]
fn an_idle_subscription_polled_with_many_wakers_is_woken_once() {
    let bus: Bus<u64> = Bus::new(CAPACITY);
    let mut sub = subscription(&bus, LagPolicy::DropOldest);
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    let mut recv = FreshWakers::new(poll_fn(|cx| sub.poll_recv(cx)));
    for _ in 0..100 {
        assert!(recv.poll_once(&mut cx).is_pending());
    }
    let before = counter.count();
    assert!(
        before <= 1,
        "an idle subscription woke itself {before} times"
    );
    bus.try_publish("t", 1).unwrap();
    assert_eq!(counter.count() - before, 1, "woken once per message");
    assert_eq!(recv.poll_once(&mut cx), Poll::Ready(Ok(1)));
}

/// The same for a publisher waiting for room.
#[test]
fn a_blocked_publish_polled_with_many_wakers_is_woken_once() {
    let bus: Bus<u64> = Bus::new(CAPACITY);
    let mut sub = subscription(&bus, LagPolicy::Block);
    for i in 0..CAPACITY as u64 {
        bus.try_publish("t", i).unwrap();
    }
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    let mut publish = FreshWakers::new(bus.publish("t", 64));
    for _ in 0..100 {
        assert!(publish.poll_once(&mut cx).is_pending());
    }
    assert_eq!(counter.count(), 0);
    for i in 0..8 {
        assert_eq!(sub.try_recv(), Ok(i));
    }
    assert_eq!(counter.count(), 1, "woken once when room appeared");
    match publish.poll_once(&mut cx) {
        Poll::Ready(Ok(delivery)) => assert_eq!(delivery.delivered(), 1),
        other => panic!("{other:?}"),
    }
}

/// An idle subscription inside `select!`, re-polled every time another branch fires, parks
/// at its first poll instead of waking itself to look again.
#[tokio::test(start_paused = true)]
async fn an_idle_subscriber_in_select_parks_at_once() {
    let bus: Bus<u64> = Bus::new(CAPACITY);
    let mut sub = subscription(&bus, LagPolicy::DropOldest);
    let mut polls = 0;
    for _ in 0..10 {
        tokio::select! {
            // Timer first, so the subscription is polled only when the task is woken for it
            // (or by it) and for the round's first poll, not by `select!`'s random order.
            biased;
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            got = poll_fn(|cx| { polls += 1; sub.poll_recv(cx) }) => panic!("{got:?}"),
        }
    }
    assert_eq!(polls, 10, "one poll per select! round");

    // After receiving a message, the next idle episode costs a few yields, then parks.
    bus.publish("t", 1).await.unwrap();
    assert_eq!(sub.recv().await, Ok(1));
    let mut polls = 0;
    tokio::select! {
        biased;
        () = tokio::time::sleep(Duration::from_millis(100)) => {}
        got = poll_fn(|cx| { polls += 1; sub.poll_recv(cx) }) => panic!("{got:?}"),
    }
    assert!(
        polls <= IDLE_EPISODE_POLLS,
        "{polls} polls for one idle episode"
    );
}

/// `drain` and `shutdown(grace)` wait under waker churn without waking themselves: each is
/// polled a handful of times across a reader that takes a message at a time.
#[tokio::test(start_paused = true)]
async fn drain_and_shutdown_under_waker_churn_complete_in_few_polls() {
    let bus: Bus<u64> = Bus::builder().capacity(64).build().unwrap();
    let mut sub = subscription(&bus, LagPolicy::Block);
    for i in 0..3 {
        bus.publish("t", i).await.unwrap();
    }
    let reader = tokio::spawn(async move {
        for i in 0..3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(sub.recv().await, Ok(i));
        }
        sub
    });
    let ((), polls) = FreshWakers::new(bus.drain()).await;
    assert!(polls <= 8, "drain polled {polls} times for 3 reads");
    let mut sub = reader.await.unwrap();
    assert_eq!(sub.recv().await, Err(RecvError::Closed));

    // A subscriber that never reads: shutdown waits out its grace, then reports.
    let bus: Bus<u64> = Bus::builder().capacity(64).build().unwrap();
    let _idle = subscription(&bus, LagPolicy::Block);
    bus.publish("t", 1).await.unwrap();
    let (report, polls) = FreshWakers::new(bus.shutdown(Duration::from_secs(5))).await;
    assert!(!report.is_clean());
    assert!(polls <= 4, "shutdown polled {polls} times");
}
