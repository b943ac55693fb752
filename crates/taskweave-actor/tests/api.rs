//! The public types can cross threads and tasks as expected.

mod support;

use support::Probe;
use taskweave_actor::{
    ActorConfig, ActorId, ActorRef, AskError, ChildSpec, ConfigError, Context, ExitReason, Monitor,
    Reply, Supervisor, SupervisorSpec, TellError, TryTellError, WeakActorRef,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn handles_and_reasons_are_send_and_sync() {
    send_sync::<ActorRef<Probe>>();
    send_sync::<WeakActorRef<Probe>>();
    send_sync::<ActorRef<Supervisor>>();
    send_sync::<ExitReason>();
    send_sync::<ActorId>();
    send_sync::<ActorConfig>();
    send_sync::<ConfigError>();
    send_sync::<TellError<u32>>();
    send_sync::<TryTellError<u32>>();
    send_sync::<AskError<u32>>();
    send::<Monitor>();
    send::<Reply<u32>>();
    send::<Context<Probe>>();
    send::<ChildSpec>();
    send::<SupervisorSpec>();
}

#[test]
fn errors_say_what_to_do() {
    assert!(TryTellError::Full(()).to_string().contains("retry"));
    assert!(
        AskError::<()>::ReplyTimeout
            .to_string()
            .contains("asking itself")
    );
    assert!(
        ConfigError::ZeroRestartWindow
            .to_string()
            .contains("positive duration")
    );
    assert_eq!(TellError::Closed(7).into_inner(), 7);
    assert_eq!(AskError::MailboxTimeout(3).into_inner(), Some(3));
    assert_eq!(AskError::<u8>::NoReply.into_inner(), None);
}
