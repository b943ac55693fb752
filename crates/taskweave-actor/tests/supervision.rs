//! Supervision strategies, restart policies, the intensity limit and the restart delay, all on
//! paused time.

mod support;

use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{
    Actor, ActorId, ActorRef, ChildSpec, ConfigError, ExitReason, Restart, Strategy, Supervisor,
    SupervisorError, SupervisorSpec,
};

/// Lets every spawned task run until the runtime is idle (time is paused, so this is instant).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn probe(log: &Log, name: &'static str, tag: &'static str) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new::<Probe, _>(name, move || ProbeArgs::tagged(&log, tag))
}

fn three_children(log: &Log, strategy: Strategy) -> SupervisorSpec {
    Supervisor::builder()
        .strategy(strategy)
        .child(probe(log, "a", "a:"))
        .child(probe(log, "b", "b:"))
        .child(probe(log, "c", "c:"))
        .build()
        .unwrap()
}

async fn ids(supervisor: &ActorRef<Supervisor>) -> Vec<Option<ActorId>> {
    supervisor
        .children()
        .await
        .unwrap()
        .iter()
        .map(|child| child.id)
        .collect()
}

async fn crash(supervisor: &ActorRef<Supervisor>, name: &str) {
    let child = supervisor
        .child::<Probe>(name)
        .await
        .expect("the child is running");
    child.tell(Msg::Panic("crash")).await.unwrap();
    let _ = child.monitor().await;
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let log = Log::default();
    let supervisor = Supervisor::spawn(three_children(&log, Strategy::OneForOne));
    settle().await;
    let before = ids(&supervisor).await;
    crash(&supervisor, "b").await;
    let after = ids(&supervisor).await;
    assert_eq!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    assert!(after[1].is_some());
    assert_eq!(after[2], before[2]);
    let children = supervisor.children().await.unwrap();
    assert_eq!(children[1].restarts, 1);
    assert_eq!(
        children[1].last_exit.as_ref().unwrap().panic_message(),
        Some("crash")
    );
    assert_eq!(children[0].restarts, 0);
    assert_eq!(supervisor.metrics().restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_every_child_stopping_the_others_in_reverse() {
    let log = Log::default();
    let supervisor = Supervisor::spawn(three_children(&log, Strategy::OneForAll));
    settle().await;
    let before = ids(&supervisor).await;
    crash(&supervisor, "b").await;
    let after = ids(&supervisor).await;
    for (old, new) in before.iter().zip(&after) {
        assert!(new.is_some());
        assert_ne!(old, new);
    }
    let entries = log.entries();
    let tail: Vec<&str> = entries[3..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "b:stop panicked",
            "c:stop stopped",
            "a:stop stopped",
            "a:start",
            "b:start",
            "c:start"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let log = Log::default();
    let supervisor = Supervisor::spawn(three_children(&log, Strategy::RestForOne));
    settle().await;
    let before = ids(&supervisor).await;
    crash(&supervisor, "b").await;
    let after = ids(&supervisor).await;
    assert_eq!(after[0], before[0]);
    assert_ne!(after[1], before[1]);
    assert_ne!(after[2], before[2]);
    let entries = log.entries();
    let tail: Vec<&str> = entries[3..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        ["b:stop panicked", "c:stop stopped", "b:start", "c:start"]
    );
    // One restart decision, two children started again.
    assert_eq!(supervisor.metrics().restarts, 2);
}

#[tokio::test(start_paused = true)]
async fn exceeding_the_restart_intensity_fails_the_supervisor() {
    let log = Log::default();
    let spec = Supervisor::builder()
        .intensity(2, Duration::from_secs(10))
        .child(probe(&log, "a", "a:"))
        .child(probe(&log, "b", "b:"))
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    let exited = supervisor.monitor();
    crash(&supervisor, "b").await;
    crash(&supervisor, "b").await;
    assert!(supervisor.is_alive(), "two restarts are within the limit");
    crash(&supervisor, "b").await;
    let reason = exited.await;
    match &reason {
        ExitReason::Failed(error) => {
            let error = error
                .downcast_ref::<SupervisorError>()
                .expect("a SupervisorError");
            assert_eq!(
                *error,
                SupervisorError::RestartIntensity {
                    max_restarts: 2,
                    within: Duration::from_secs(10)
                }
            );
        }
        other => panic!("expected Failed, got {other}"),
    }
    // The surviving child was stopped by the failing supervisor.
    assert_eq!(
        log.entries().last().map(String::as_str),
        Some("a:stop stopped")
    );
}

#[tokio::test(start_paused = true)]
async fn restarts_older_than_the_window_do_not_count() {
    let log = Log::default();
    let spec = Supervisor::builder()
        .intensity(1, Duration::from_secs(10))
        .child(probe(&log, "a", "a:"))
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    for _ in 0..3 {
        crash(&supervisor, "a").await;
        tokio::time::sleep(Duration::from_secs(11)).await;
    }
    assert!(supervisor.is_alive());
    assert_eq!(supervisor.children().await.unwrap()[0].restarts, 3);
}

#[tokio::test(start_paused = true)]
async fn restart_policies_decide_who_comes_back() {
    let log = Log::default();
    let spec = Supervisor::builder()
        .intensity(10, Duration::from_secs(1))
        .child(probe(&log, "permanent", "p:"))
        .child(probe(&log, "transient", "t:").restart(Restart::Transient))
        .child(probe(&log, "transient-crash", "tc:").restart(Restart::Transient))
        .child(probe(&log, "temporary", "x:").restart(Restart::Temporary))
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    for name in ["permanent", "transient"] {
        let child = supervisor.child::<Probe>(name).await.unwrap();
        child.tell(Msg::StopSelf).await.unwrap();
        let _ = child.monitor().await;
    }
    crash(&supervisor, "transient-crash").await;
    crash(&supervisor, "temporary").await;
    settle().await;
    let children = supervisor.children().await.unwrap();
    let running: Vec<(&str, bool)> = children
        .iter()
        .map(|child| (child.name.as_str(), child.id.is_some()))
        .collect();
    assert_eq!(
        running,
        [
            ("permanent", true),
            ("transient", false),
            ("transient-crash", true),
            ("temporary", false)
        ]
    );
    assert!(supervisor.child::<Probe>("temporary").await.is_none());
}

#[tokio::test(start_paused = true)]
async fn the_restart_delay_is_waited_before_restarting() {
    let log = Log::default();
    let spec = Supervisor::builder()
        .restart_delay(Duration::from_secs(2))
        .child(probe(&log, "a", "a:"))
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    let started = tokio::time::Instant::now();
    let child = supervisor.child::<Probe>("a").await.unwrap();
    child.tell(Msg::Panic("crash")).await.unwrap();
    let _ = child.monitor().await;
    // The next query waits behind the delayed restart.
    let restarted = supervisor.child::<Probe>("a").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_ne!(restarted.id(), child.id());
}

#[tokio::test(start_paused = true)]
async fn stopping_a_supervisor_stops_children_in_reverse_start_order() {
    let log = Log::default();
    let supervisor = Supervisor::spawn(three_children(&log, Strategy::OneForOne));
    settle().await;
    supervisor.close();
    let reason = supervisor.monitor().await;
    assert!(matches!(reason, ExitReason::Stopped));
    assert_eq!(
        log.entries(),
        [
            "a:start",
            "b:start",
            "c:start",
            "c:stop stopped",
            "b:stop stopped",
            "a:stop stopped"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_nested_supervisor_is_restarted_by_its_parent() {
    let log = Log::default();
    let inner_log = log.clone();
    let parent = Supervisor::spawn(
        Supervisor::builder()
            .child(Supervisor::child_spec("inner", move || {
                Supervisor::builder()
                    .intensity(0, Duration::from_secs(1))
                    .child(probe(&inner_log, "leaf", "leaf:"))
                    .build()
                    .unwrap()
            }))
            .build()
            .unwrap(),
    );
    settle().await;
    let inner = parent.child::<Supervisor>("inner").await.unwrap();
    // Zero restarts allowed: the leaf's crash fails the inner supervisor.
    crash(&inner, "leaf").await;
    let reason = inner.monitor().await;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason}");
    settle().await;
    let restarted = parent.child::<Supervisor>("inner").await.unwrap();
    assert_ne!(restarted.id(), inner.id());
    assert!(restarted.child::<Probe>("leaf").await.is_some());
}

#[tokio::test(start_paused = true)]
async fn aborting_a_supervisor_aborts_its_children() {
    let log = Log::default();
    let supervisor = Supervisor::spawn(three_children(&log, Strategy::OneForOne));
    settle().await;
    let children = [
        supervisor.child::<Probe>("a").await.unwrap(),
        supervisor.child::<Probe>("b").await.unwrap(),
        supervisor.child::<Probe>("c").await.unwrap(),
    ];
    supervisor.abort();
    for child in &children {
        let reason = child.monitor().await;
        assert!(matches!(reason, ExitReason::Killed), "{reason}");
    }
    assert!(matches!(supervisor.monitor().await, ExitReason::Killed));
    // Aborted, not closed: no stop hook ran.
    assert_eq!(log.entries(), ["a:start", "b:start", "c:start"]);
}

/// `shutdown(grace)` on a supervisor: the children are closed in reverse order within the grace
/// period; one that hangs past it is aborted with its supervisor.
#[tokio::test(start_paused = true)]
async fn shutting_a_supervisor_down_closes_in_order_then_aborts_what_hangs() {
    let log = Log::default();
    let supervisor = Supervisor::spawn(
        Supervisor::builder()
            .child(probe(&log, "a", "a:"))
            .child(probe(&log, "b", "b:").shutdown_timeout(Duration::from_secs(60)))
            .build()
            .unwrap(),
    );
    settle().await;
    let a = supervisor.child::<Probe>("a").await.unwrap();
    let b = supervisor.child::<Probe>("b").await.unwrap();
    let (_release, parked) = tokio::sync::oneshot::channel();
    b.tell(Msg::Block(parked)).await.unwrap();
    drop(b);
    let report = supervisor.shutdown(Duration::from_secs(1)).await;
    assert!(report.aborted && !report.is_clean(), "{report:?}");
    assert!(matches!(report.reason, ExitReason::Killed));
    // `b` (last started) was being closed first and hung; `a` was never reached, and is
    // aborted along with its supervisor.
    assert!(matches!(a.monitor().await, ExitReason::Killed));
    assert_eq!(log.entries(), ["a:start", "b:start"]);

    let clean = Supervisor::spawn(three_children(&log, Strategy::OneForOne));
    settle().await;
    let report = clean.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_clean(), "{report:?}");
    assert!(matches!(report.reason, ExitReason::Stopped));
}

#[test]
fn invalid_supervisor_configs_are_rejected() {
    let log = Log::default();
    let duplicate = Supervisor::builder()
        .child(probe(&log, "a", ""))
        .child(probe(&log, "a", ""))
        .build()
        .unwrap_err();
    assert_eq!(duplicate, ConfigError::DuplicateChild { name: "a".into() });
    let empty = Supervisor::builder()
        .child(probe(&log, "", ""))
        .build()
        .unwrap_err();
    assert_eq!(empty, ConfigError::EmptyChildName);
    let zero = Supervisor::builder()
        .intensity(3, Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(zero, ConfigError::ZeroRestartWindow);
    // Would make the supervisor panic when it creates the child's mailbox.
    let oversized = Supervisor::builder()
        .child(probe(&log, "a", "").mailbox_capacity(usize::MAX))
        .build()
        .unwrap_err();
    assert!(
        matches!(oversized, ConfigError::MailboxTooLarge { requested, .. } if requested == usize::MAX),
        "{oversized:?}"
    );
    let zero_mailbox = Supervisor::builder()
        .child(probe(&log, "a", "").mailbox_capacity(0))
        .build()
        .unwrap_err();
    assert_eq!(zero_mailbox, ConfigError::ZeroMailboxCapacity);
}

/// A stop that arrives while the supervisor waits out its restart delay ends the wait: the
/// pending restart is dropped and the supervisor stops at once, instead of an hour later.
#[tokio::test(start_paused = true)]
async fn a_stop_during_the_restart_delay_does_not_wait_for_it() {
    let log = Log::default();
    let spec = Supervisor::builder()
        .restart_delay(Duration::from_secs(3600))
        .child(probe(&log, "a", "a:"))
        .child(probe(&log, "b", "b:"))
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    // `crash` settles: the supervisor is now inside the restart delay of "a".
    crash(&supervisor, "a").await;
    let asked = tokio::time::Instant::now();
    supervisor.close();
    let reason = supervisor.monitor().await;
    let waited = asked.elapsed();
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    assert!(
        waited < Duration::from_secs(60),
        "the stop waited {waited:?} for the restart delay"
    );
    let entries = log.entries();
    let starts = entries.iter().filter(|e| *e == "a:start").count();
    assert_eq!(
        starts, 1,
        "a stopping supervisor restarted a child: {entries:?}"
    );
    assert!(
        entries.contains(&"b:stop stopped".to_owned()),
        "{entries:?}"
    );
}

/// A restart limit is a size: the supervisor keeps one timestamp per counted restart, so an
/// absurd limit is refused instead of letting a crash loop grow memory without bound.
#[test]
fn an_absurd_restart_limit_is_a_config_error() {
    let absurd = Supervisor::builder()
        .intensity(u32::MAX, Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert_eq!(
        absurd,
        ConfigError::RestartLimitTooLarge {
            requested: u32::MAX,
            max: Supervisor::MAX_RESTARTS
        }
    );
    let largest = Supervisor::builder()
        .intensity(Supervisor::MAX_RESTARTS, Duration::MAX)
        .build();
    assert!(largest.is_ok(), "{largest:?}");
}

/// Children that exit while their supervisor is stopping are not restarted, and their exits
/// do not count against the intensity limit: a stopping supervisor ends `Stopped`, not failed.
#[tokio::test(start_paused = true)]
async fn exits_seen_while_stopping_are_neither_restarted_nor_counted() {
    let log = Log::default();
    let spec = Supervisor::builder()
        .intensity(1, Duration::from_secs(3600))
        .restart_delay(Duration::from_secs(3600))
        .child(probe(&log, "a", "a:"))
        .child(probe(&log, "b", "b:"))
        .build()
        .unwrap();
    let supervisor = Supervisor::spawn(spec);
    settle().await;
    let b = supervisor.child::<Probe>("b").await.unwrap();
    // "a" uses up the one restart allowed; the supervisor waits out the delay.
    crash(&supervisor, "a").await;
    // "b" exits meanwhile: its notice waits in the supervisor's mailbox.
    b.tell(Msg::Panic("crash")).await.unwrap();
    let _ = b.monitor().await;
    settle().await;
    supervisor.close();
    let reason = supervisor.monitor().await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    let entries = log.entries();
    assert_eq!(
        entries.iter().filter(|e| *e == "b:start").count(),
        1,
        "{entries:?}"
    );
}
