//! Lifecycle order, the ways an actor stops, and weak handles.

mod support;

use support::{Log, Msg, Probe, ProbeArgs, short};
use taskweave_actor::{Actor, ActorConfig, AskError, ExitReason};
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn hooks_run_in_order_start_handle_stop() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    for n in 0..3 {
        probe.tell(Msg::Record(n)).await.unwrap();
    }
    let exited = probe.monitor();
    drop(probe);
    let reason = exited.await;
    assert!(matches!(reason, ExitReason::Normal), "{reason}");
    assert_eq!(
        log.entries(),
        ["start", "handle 0", "handle 1", "handle 2", "stop normal"]
    );
}

#[tokio::test(start_paused = true)]
async fn failed_start_reports_the_error_and_skips_stop() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs {
        fail_start: true,
        ..ProbeArgs::new(&log)
    });
    let reason = probe.monitor().await;
    match &reason {
        ExitReason::Failed(error) => assert_eq!(error.to_string(), "refused to start"),
        other => panic!("expected Failed, got {other}"),
    }
    assert_eq!(log.entries(), ["start"]);
    assert!(!probe.is_alive());
    let refused = probe.tell(Msg::Record(1)).await.unwrap_err();
    assert!(matches!(refused.into_inner(), Msg::Record(1)));
}

#[tokio::test(start_paused = true)]
async fn handler_error_stops_the_actor_with_failed() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    probe.tell(Msg::Fail("bad input")).await.unwrap();
    let reason = probe.monitor().await;
    assert!(!reason.is_normal());
    assert_eq!(reason.to_string(), "failed: bad input");
    assert_eq!(log.entries(), ["start", "stop failed"]);
}

#[tokio::test(start_paused = true)]
async fn abort_discards_queued_messages_counts_them_and_skips_the_stop_hook() {
    let log = Log::default();
    let probe = Probe::spawn_with(
        ProbeArgs::new(&log),
        &ActorConfig::builder().mailbox_capacity(8).build().unwrap(),
    );
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    for n in 0..5 {
        probe.tell(Msg::Record(n)).await.unwrap();
    }
    let asking = {
        let probe = probe.clone();
        tokio::spawn(async move { probe.ask(Msg::Seen).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    assert_eq!(probe.metrics().queued, 6);
    probe.abort();
    assert!(probe.is_closed());
    // Refused from the moment abort returns, and handed back.
    assert!(matches!(
        probe.try_tell(Msg::Record(99)).unwrap_err().into_inner(),
        Msg::Record(99)
    ));
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Killed), "{reason}");
    // The submitter whose request was discarded is told, never left hanging.
    assert!(matches!(asking.await.unwrap(), Err(AskError::NoReply)));
    assert_eq!(log.entries(), ["start"]);
    let metrics = probe.metrics();
    assert_eq!((metrics.handled, metrics.discarded), (0, 6));
    assert!(metrics.closed && metrics.exited);
    drop(release);
}

#[tokio::test(start_paused = true)]
async fn kill_aborts_without_the_stop_hook() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let (_release, parked) = oneshot::channel::<()>();
    probe.tell(Msg::Record(1)).await.unwrap();
    probe.tell(Msg::Block(parked)).await.unwrap();
    // Let it reach the parked handler.
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    probe.abort();
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Killed), "{reason}");
    assert_eq!(log.entries(), ["start", "handle 1"]);
}

#[tokio::test(start_paused = true)]
async fn control_signals_do_not_wait_behind_a_full_mailbox() {
    let log = Log::default();
    let probe = Probe::spawn_with(
        ProbeArgs::new(&log),
        &ActorConfig::builder().mailbox_capacity(2).build().unwrap(),
    );
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    probe.tell(Msg::Record(1)).await.unwrap();
    probe.tell(Msg::Record(2)).await.unwrap();
    assert!(
        probe.try_tell(Msg::Record(3)).is_err(),
        "the mailbox is full"
    );
    // Returns at once although the mailbox is full, and refuses at once: a send now is
    // `Closed`, not `Full`. The queued messages are still handled.
    probe.close();
    assert!(matches!(
        probe.try_tell(Msg::Record(3)),
        Err(taskweave_actor::TryTellError::Closed(Msg::Record(3)))
    ));
    release.send(()).unwrap();
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Stopped));
    assert_eq!(
        log.entries(),
        ["start", "handle 1", "handle 2", "stop stopped"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_weak_handle_does_not_keep_the_actor_alive() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let weak = probe.downgrade();
    let upgraded = weak.upgrade().expect("alive while a strong handle exists");
    upgraded.tell(Msg::Record(7)).await.unwrap();
    assert_eq!(upgraded.id(), weak.id());
    drop(upgraded);
    drop(probe);
    let reason = weak.monitor().await;
    assert!(matches!(reason, ExitReason::Normal), "{reason}");
    assert!(weak.upgrade().is_none());
    assert!(!weak.is_alive());
    assert_eq!(log.entries(), ["start", "handle 7", "stop normal"]);
}

#[tokio::test(start_paused = true)]
async fn a_stop_requested_by_the_actor_itself_drains_first() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    probe.tell(Msg::Record(1)).await.unwrap();
    probe.tell(Msg::StopSelf).await.unwrap();
    probe.tell(Msg::Record(2)).await.unwrap();
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    assert_eq!(
        log.entries(),
        ["start", "handle 1", "handle 2", "stop stopped"]
    );
    assert_eq!(short(&probe.exit_reason().unwrap()), "stopped");
}

#[tokio::test(start_paused = true)]
async fn names_and_ids_identify_actors() {
    let log = Log::default();
    let named = Probe::spawn_with(
        ProbeArgs::new(&log),
        &ActorConfig::builder().name("probe-1").build().unwrap(),
    );
    let unnamed = Probe::spawn(ProbeArgs::new(&log));
    assert_eq!(named.name(), "probe-1");
    assert_eq!(unnamed.name(), "Probe");
    assert_ne!(named.id(), unnamed.id());
    assert_eq!(named.clone(), named);
}

#[tokio::test(start_paused = true)]
async fn abort_overrides_a_pending_close_and_repeats_are_harmless() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    probe.tell(Msg::Record(1)).await.unwrap();
    // Parked in the blocking handler, with `Record(1)` queued behind it.
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    for _ in 0..1000 {
        probe.close();
    }
    probe.abort();
    probe.close();
    probe.abort();
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Killed), "{reason}");
    // The abort won: the queued message was discarded, not handled.
    assert_eq!(log.entries(), ["start"]);
    assert_eq!(probe.metrics().discarded, 1);
    drop(release);
}
