//! The taskweave lifecycle contract on an actor: `close`, `drain`, `shutdown(grace)`, `abort`,
//! the cancellation token, dropping the last handle, and `metrics()`.

mod support;

use std::pin::pin;
use std::task::{Context as TaskContext, Waker};
use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{Actor, ActorConfig, ExitReason, TellError};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// A probe parked in a blocking handler with `Record(0..n)` queued behind it.
async fn parked_with_queue(
    log: &Log,
    n: u32,
) -> (taskweave_actor::ActorRef<Probe>, oneshot::Sender<()>) {
    let probe = Probe::spawn(ProbeArgs::new(log));
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    for i in 0..n {
        probe.tell(Msg::Record(i)).await.unwrap();
    }
    settle().await;
    (probe, release)
}

#[tokio::test(start_paused = true)]
async fn close_refuses_new_messages_and_handles_the_queued_ones() {
    let log = Log::default();
    let (probe, release) = parked_with_queue(&log, 3).await;
    assert!(!probe.is_closed());
    probe.close();
    probe.close(); // idempotent
    assert!(probe.is_closed());
    assert!(matches!(
        probe.tell(Msg::Record(99)).await,
        Err(TellError::Closed(Msg::Record(99)))
    ));
    release.send(()).unwrap();
    assert!(matches!(probe.monitor().await, ExitReason::Stopped));
    assert_eq!(
        log.entries(),
        ["start", "handle 0", "handle 1", "handle 2", "stop stopped"]
    );
    let metrics = probe.metrics();
    assert_eq!((metrics.handled, metrics.discarded), (4, 0));
}

#[tokio::test(start_paused = true)]
async fn drain_waits_for_everything_accepted_and_returns_the_exit_reason() {
    let log = Log::default();
    let (probe, release) = parked_with_queue(&log, 2).await;
    let draining = tokio::spawn({
        let probe = probe.clone();
        async move { probe.drain().await }
    });
    settle().await;
    assert!(probe.is_closed());
    assert!(
        !draining.is_finished(),
        "drain returned with work still queued"
    );
    release.send(()).unwrap();
    assert!(matches!(draining.await.unwrap(), ExitReason::Stopped));
    assert_eq!(
        log.entries(),
        ["start", "handle 0", "handle 1", "stop stopped"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_drain_future_does_not_undo_the_close() {
    let log = Log::default();
    let (probe, release) = parked_with_queue(&log, 2).await;
    {
        let mut drain = pin!(probe.drain());
        let polled = drain
            .as_mut()
            .poll(&mut TaskContext::from_waker(Waker::noop()));
        assert!(polled.is_pending());
    }
    assert!(probe.is_closed());
    release.send(()).unwrap();
    assert!(matches!(probe.monitor().await, ExitReason::Stopped));
    assert_eq!(probe.metrics().handled, 3);
}

#[tokio::test(start_paused = true)]
async fn shutdown_within_the_grace_period_is_clean() {
    let log = Log::default();
    let (probe, release) = parked_with_queue(&log, 2).await;
    let shutting = tokio::spawn({
        let probe = probe.clone();
        async move { probe.shutdown(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    release.send(()).unwrap();
    let report = shutting.await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(matches!(report.reason, ExitReason::Stopped));
    assert!(!report.aborted);
    assert_eq!(report.discarded, 0);
    assert_eq!(log.entries().last().unwrap(), "stop stopped");
}

#[tokio::test(start_paused = true)]
async fn shutdown_past_the_grace_period_aborts_and_reports_the_discards() {
    let log = Log::default();
    let (probe, _release) = parked_with_queue(&log, 3).await;
    let started = tokio::time::Instant::now();
    let report = probe.shutdown(Duration::from_secs(2)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert!(!report.is_clean());
    assert!(report.aborted);
    assert!(matches!(report.reason, ExitReason::Killed), "{report:?}");
    assert_eq!(report.discarded, 3);
    // Aborted: the stop hook did not run, the queued messages were not handled.
    assert_eq!(log.entries(), ["start"]);
}

#[tokio::test(start_paused = true)]
async fn the_cancellation_token_closes_gracefully_and_never_aborts() {
    let log = Log::default();
    let token = CancellationToken::new();
    let config = ActorConfig::builder()
        .cancellation_token(token.child_token())
        .build()
        .unwrap();
    let probe = Probe::spawn_with(ProbeArgs::new(&log), &config);
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    probe.tell(Msg::Record(1)).await.unwrap();
    probe.tell(Msg::Record(2)).await.unwrap();
    settle().await;
    token.cancel();
    settle().await;
    // As `close()`: refusing at once, the running handler is not interrupted.
    assert!(probe.is_closed());
    assert!(probe.is_alive());
    assert!(probe.try_tell(Msg::Record(3)).is_err());
    release.send(()).unwrap();
    assert!(matches!(probe.monitor().await, ExitReason::Cancelled));
    assert_eq!(
        log.entries(),
        ["start", "handle 1", "handle 2", "stop cancelled"]
    );
    assert_eq!(probe.metrics().discarded, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_last_handle_closes_the_actor_and_a_weak_handle_does_not_keep_it() {
    let log = Log::default();
    let (probe, release) = parked_with_queue(&log, 3).await;
    let weak = probe.downgrade();
    let exited = probe.monitor();
    drop(probe);
    // Intake is closed: nothing can reach the actor any more.
    assert!(weak.upgrade().is_none());
    settle().await;
    assert!(weak.is_alive(), "queued work is finished, not aborted");
    release.send(()).unwrap();
    assert!(matches!(exited.await, ExitReason::Normal));
    assert_eq!(
        log.entries(),
        ["start", "handle 0", "handle 1", "handle 2", "stop normal"]
    );
    assert!(!weak.is_alive());
    assert!(weak.is_closed());
}

#[tokio::test(start_paused = true)]
async fn metrics_report_queued_handled_and_capacity() {
    let log = Log::default();
    let config = ActorConfig::builder().mailbox_capacity(8).build().unwrap();
    let probe = Probe::spawn_with(ProbeArgs::new(&log), &config);
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Record(0)).await.unwrap();
    probe.tell(Msg::Block(parked)).await.unwrap();
    settle().await;
    probe.tell(Msg::Record(1)).await.unwrap();
    let metrics = probe.metrics();
    assert_eq!(metrics.queued, 1);
    assert_eq!(metrics.mailbox_capacity, 8);
    assert_eq!(metrics.handled, 1);
    assert_eq!((metrics.discarded, metrics.restarts), (0, 0));
    assert!(!metrics.closed && !metrics.exited);
    release.send(()).unwrap();
    settle().await;
    assert_eq!(probe.metrics().handled, 3);
    assert_eq!(probe.metrics().queued, 0);
}

#[test]
fn ids_have_the_contract_traits() {
    fn contract<T: Copy + Eq + Ord + std::hash::Hash + std::fmt::Debug + std::fmt::Display>() {}
    contract::<taskweave_actor::ActorId>();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = Log::default();
        let probe = Probe::spawn(ProbeArgs::new(&log));
        let id = probe.id();
        assert_eq!(id.to_string(), format!("#{}", id.as_u64()));
    });
}
