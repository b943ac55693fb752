//! Backpressure, refused messages handed back, drain on a graceful stop, asks and timeouts.

mod support;

use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{
    Actor, ActorConfig, AskError, ConfigError, Context, ExitReason, Reply, TryTellError,
};
use tokio::sync::oneshot;

fn with_mailbox(capacity: usize) -> ActorConfig {
    ActorConfig::builder()
        .mailbox_capacity(capacity)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn try_tell_hands_the_message_back_when_the_mailbox_is_full() {
    let log = Log::default();
    let probe = Probe::spawn_with(ProbeArgs::new(&log), &with_mailbox(2));
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    probe.try_tell(Msg::Record(1)).unwrap();
    probe.try_tell(Msg::Record(2)).unwrap();
    assert_eq!(probe.metrics().queued, 2);
    match probe.try_tell(Msg::Record(3)) {
        Err(TryTellError::Full(Msg::Record(3))) => {}
        Err(other) => panic!("expected Full(Record(3)), got {other:?}"),
        Ok(()) => panic!("a full mailbox accepted a message"),
    }
    release.send(()).unwrap();
    // Backpressure: `tell` waits for space instead of failing.
    probe.tell(Msg::Record(3)).await.unwrap();
    assert_eq!(probe.ask(Msg::Seen).await.unwrap(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_drains_every_queued_message_and_refuses_new_ones() {
    let log = Log::default();
    let probe = Probe::spawn_with(ProbeArgs::new(&log), &with_mailbox(64));
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    for n in 0..50 {
        probe.tell(Msg::Record(n)).await.unwrap();
    }
    probe.close();
    let refused = probe.tell(Msg::Record(1000)).await.unwrap_err();
    assert!(matches!(refused.into_inner(), Msg::Record(1000)));
    match probe.ask(Msg::Seen).await {
        Err(AskError::Closed(Msg::Seen(_))) => {}
        other => panic!("expected the ask handed back as Closed, got {other:?}"),
    }
    release.send(()).unwrap();
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    let entries = log.entries();
    let handled: Vec<String> = (0..50).map(|n| format!("handle {n}")).collect();
    assert_eq!(entries.first().map(String::as_str), Some("start"));
    assert_eq!(&entries[1..51], handled.as_slice());
    assert_eq!(entries.last().map(String::as_str), Some("stop stopped"));
    assert_eq!(entries.len(), 52);
}

#[tokio::test(start_paused = true)]
async fn an_ask_is_answered_through_its_reply() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    probe.tell(Msg::Record(4)).await.unwrap();
    assert_eq!(probe.ask(Msg::Seen).await.unwrap(), [4]);
    let answered = probe
        .ask_timeout(Msg::Seen, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(answered, [4]);
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_with_a_huge_timeout_waits_for_the_answer_instead_of_panicking() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    probe.tell(Msg::Record(9)).await.unwrap();
    let answered = probe.ask_timeout(Msg::Seen, Duration::MAX).await.unwrap();
    assert_eq!(answered, [9]);
}

#[tokio::test(start_paused = true)]
async fn ask_timeout_reports_a_full_mailbox_and_hands_the_request_back() {
    let log = Log::default();
    let probe = Probe::spawn_with(ProbeArgs::new(&log), &with_mailbox(1));
    let (_release, parked) = oneshot::channel::<()>();
    probe.tell(Msg::Block(parked)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    probe.tell(Msg::Record(1)).await.unwrap();
    match probe.ask_timeout(Msg::Seen, Duration::from_secs(1)).await {
        Err(AskError::MailboxTimeout(Msg::Seen(_))) => {}
        other => panic!("expected MailboxTimeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_reply_resolves_the_ask_with_no_reply() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let (release, parked) = oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    let asking = {
        let probe = probe.clone();
        tokio::spawn(async move { probe.ask(Msg::Seen).await })
    };
    tokio::time::sleep(Duration::from_millis(1)).await;
    // Queued behind the parked handler, then discarded by the abort.
    probe.abort();
    drop(release);
    assert!(matches!(asking.await.unwrap(), Err(AskError::NoReply)));
    assert_eq!(probe.metrics().discarded, 1);
}

/// An actor that asks itself from inside a handler: the classic deadlock.
struct Narcissist;

enum SelfMsg {
    AskMyself(Reply<Result<u32, String>>),
    Value(Reply<u32>),
}

impl Actor for Narcissist {
    type Args = ();
    type Message = SelfMsg;
    type Error = std::convert::Infallible;

    async fn start((): (), _ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
        Ok(Self)
    }

    async fn handle(
        &mut self,
        message: SelfMsg,
        ctx: &mut Context<Self>,
    ) -> Result<(), Self::Error> {
        match message {
            SelfMsg::AskMyself(reply) => {
                let myself = ctx.myself().upgrade().expect("running");
                let answer = myself
                    .ask_timeout(SelfMsg::Value, Duration::from_millis(100))
                    .await
                    .map_err(|error| error.to_string());
                let _ = reply.send(answer);
            }
            SelfMsg::Value(reply) => {
                let _ = reply.send(42);
            }
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn asking_yourself_times_out_instead_of_hanging() {
    let actor = Narcissist::spawn(());
    let answer = actor.ask(SelfMsg::AskMyself).await.unwrap();
    assert_eq!(
        answer.unwrap_err(),
        AskError::<()>::ReplyTimeout.to_string()
    );
    // The actor is still healthy and answers the request it queued to itself.
    assert_eq!(actor.ask(SelfMsg::Value).await.unwrap(), 42);
}

#[test]
fn an_oversized_mailbox_is_a_config_error() {
    let error = ActorConfig::builder()
        .mailbox_capacity(usize::MAX)
        .build()
        .unwrap_err();
    assert!(matches!(error, ConfigError::MailboxTooLarge { .. }));
    assert!(error.to_string().contains("too large"));
    let error = ActorConfig::builder()
        .mailbox_capacity(0)
        .build()
        .unwrap_err();
    assert_eq!(error, ConfigError::ZeroMailboxCapacity);
    assert!(error.to_string().contains("at least 1"));
    assert_eq!(
        ActorConfig::builder()
            .mailbox_capacity(ActorConfig::MAX_MAILBOX_CAPACITY)
            .build()
            .map(|config| config.mailbox_capacity()),
        Ok(ActorConfig::MAX_MAILBOX_CAPACITY)
    );
    assert_eq!(
        ActorConfig::default().mailbox_capacity(),
        ActorConfig::DEFAULT_MAILBOX_CAPACITY
    );
}
