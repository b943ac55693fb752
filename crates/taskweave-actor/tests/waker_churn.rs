//! Every future of the crate that can wait, polled with a brand-new waker on every poll
//! (`FreshWakers`): it completes, and its poll count stays small — nothing recognises "its"
//! waker by identity, and nothing wakes itself in a loop.

mod support;

use std::future::{Future, poll_fn};
use std::task::Poll;
use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{Actor, ActorConfig, ActorRef, ChildSpec, ExitReason, Supervisor};
use taskweave_testkit::{FreshWakers, HANG_LIMIT};
use tokio::sync::oneshot;

const CAPACITY: usize = 64;
/// A waiting future is polled once to wait, then once per wake-up that concerns it. A spin
/// would show up as hundreds of polls.
const FEW_POLLS: usize = 4;

/// Polls once with a fresh waker from inside the task, so that wake-ups reach this task.
async fn poll_once<F: Future>(future: &mut FreshWakers<F>) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(future.poll_once(cx))).await
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// A probe whose handler is parked and whose mailbox of `CAPACITY` is full.
async fn full_probe(log: &Log) -> (ActorRef<Probe>, oneshot::Sender<()>) {
    let config = ActorConfig::builder()
        .mailbox_capacity(CAPACITY)
        .build()
        .unwrap();
    let probe = Probe::spawn_with(ProbeArgs::new(log), &config);
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    settle().await;
    for n in 0..CAPACITY as u32 {
        probe.tell(Msg::Record(n)).await.unwrap();
    }
    assert_eq!(probe.metrics().queued, CAPACITY);
    (probe, release)
}

#[tokio::test(start_paused = true)]
async fn a_tell_waiting_for_space_completes_in_few_polls() {
    let log = Log::default();
    let (probe, release) = full_probe(&log).await;
    let mut tell = FreshWakers::new(probe.tell(Msg::Record(999)));
    assert!(poll_once(&mut tell).await.is_pending());
    release.send(()).unwrap();
    let (sent, polls) = tell.await;
    assert!(sent.is_ok());
    assert!(polls <= FEW_POLLS, "{polls} polls");
    let seen = probe.ask(Msg::Seen).await.unwrap();
    assert_eq!(seen.last(), Some(&999));
}

#[tokio::test(start_paused = true)]
async fn an_ask_waiting_for_space_then_for_its_reply_completes_in_few_polls() {
    let log = Log::default();
    let (probe, release) = full_probe(&log).await;
    let mut ask = FreshWakers::new(probe.ask(Msg::Seen));
    assert!(poll_once(&mut ask).await.is_pending());
    let mut timed = FreshWakers::new(probe.ask_timeout(Msg::Seen, Duration::from_secs(60)));
    assert!(poll_once(&mut timed).await.is_pending());
    release.send(()).unwrap();
    let (answer, polls) = ask.await;
    assert_eq!(answer.unwrap().len(), CAPACITY);
    assert!(polls <= FEW_POLLS, "ask: {polls} polls");
    let (answer, polls) = timed.await;
    assert_eq!(answer.unwrap().len(), CAPACITY);
    assert!(polls <= FEW_POLLS, "ask_timeout: {polls} polls");
}

#[tokio::test(start_paused = true)]
async fn an_ask_waiting_for_a_busy_actor_completes_in_few_polls() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    let mut ask = FreshWakers::new(probe.ask(Msg::Seen));
    assert!(poll_once(&mut ask).await.is_pending());
    settle().await;
    release.send(()).unwrap();
    let (answer, polls) = ask.await;
    assert!(answer.unwrap().is_empty());
    assert!(polls <= FEW_POLLS, "{polls} polls");
}

#[tokio::test(start_paused = true)]
async fn waiting_for_an_actor_to_stop_completes_in_few_polls() {
    let log = Log::default();
    let (probe, release) = full_probe(&log).await;
    let mut joined = FreshWakers::new(probe.monitor());
    let mut weak_joined = FreshWakers::new(probe.downgrade().monitor());
    assert!(poll_once(&mut joined).await.is_pending());
    assert!(poll_once(&mut weak_joined).await.is_pending());
    probe.close();
    settle().await;
    release.send(()).unwrap();
    let (reason, polls) = joined.await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    assert!(polls <= FEW_POLLS, "monitor: {polls} polls");
    let (reason, polls) = weak_joined.await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    assert!(polls <= FEW_POLLS, "weak monitor: {polls} polls");
}

#[tokio::test(start_paused = true)]
async fn waiting_on_a_restarting_supervisor_completes_in_few_polls() {
    let log = Log::default();
    let child = {
        let log = log.clone();
        ChildSpec::new::<Probe, _>("c", move || ProbeArgs::tagged(&log, "c:"))
    };
    let spec = Supervisor::builder()
        .restart_delay(Duration::from_secs(10))
        .child(child)
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    let first = supervisor.child::<Probe>("c").await.unwrap();
    first.tell(Msg::Panic("crash")).await.unwrap();
    settle().await;
    // The supervisor is waiting out its restart delay: both queries wait behind it.
    let mut child = FreshWakers::new(supervisor.child::<Probe>("c"));
    let mut children = FreshWakers::new(supervisor.children());
    assert!(poll_once(&mut child).await.is_pending());
    assert!(poll_once(&mut children).await.is_pending());
    let (restarted, polls) = child.await;
    assert!(restarted.is_some_and(|c| c.id() != first.id()));
    assert!(polls <= FEW_POLLS, "child: {polls} polls");
    let (infos, polls) = children.await;
    assert_eq!(infos.unwrap()[0].restarts, 1);
    assert!(polls <= FEW_POLLS, "children: {polls} polls");

    let mut joined = FreshWakers::new(supervisor.monitor());
    assert!(poll_once(&mut joined).await.is_pending());
    supervisor.close();
    let (reason, polls) = joined.await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    assert!(polls <= FEW_POLLS, "supervisor monitor: {polls} polls");
}

/// The same on a multi-thread runtime under contention: many tasks ask a slow actor at
/// capacity, each ask under a fresh waker every poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contended_asks_with_fresh_wakers_complete_in_few_polls() {
    tokio::time::timeout(HANG_LIMIT, async {
        let log = Log::default();
        let config = ActorConfig::builder()
            .mailbox_capacity(CAPACITY)
            .build()
            .unwrap();
        let probe = Probe::spawn_with(ProbeArgs::new(&log), &config);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let probe = probe.clone();
                tokio::spawn(async move {
                    let mut most = 0;
                    for n in 0..50 {
                        let (sent, polls) = FreshWakers::new(probe.tell(Msg::Record(n))).await;
                        sent.unwrap();
                        most = most.max(polls);
                        let (answer, polls) = FreshWakers::new(probe.ask(Msg::Seen)).await;
                        answer.unwrap();
                        most = most.max(polls);
                    }
                    most
                })
            })
            .collect();
        for task in tasks {
            let most = task.await.unwrap();
            assert!(most <= FEW_POLLS, "{most} polls");
        }
    })
    .await
    .expect("hung");
}

#[tokio::test(start_paused = true)]
async fn drain_and_shutdown_of_a_busy_actor_complete_in_few_polls() {
    let log = Log::default();
    let (probe, release) = full_probe(&log).await;
    let mut drain = FreshWakers::new(probe.drain());
    assert!(poll_once(&mut drain).await.is_pending());
    release.send(()).unwrap();
    let (reason, polls) = drain.await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason:?}");
    assert!(polls <= FEW_POLLS, "drain: {polls} polls");

    // Past its grace, `shutdown` aborts what is still queued.
    let log = Log::default();
    let (probe, _parked) = full_probe(&log).await;
    let (report, polls) = FreshWakers::new(probe.shutdown(Duration::from_secs(5))).await;
    assert!(!report.is_clean());
    assert!(polls <= FEW_POLLS, "shutdown: {polls} polls");
}
