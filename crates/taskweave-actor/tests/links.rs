//! Monitors and links.

mod support;

use std::ops::ControlFlow;

use support::{Log, Msg, Probe, ProbeArgs, short};
use taskweave_actor::{Actor, ActorId, Context, ExitReason};

#[tokio::test(start_paused = true)]
async fn many_monitors_see_the_same_reason_even_after_the_exit() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let early = probe.monitor();
    probe.tell(Msg::Fail("broken")).await.unwrap();
    assert_eq!(early.await.to_string(), "failed: broken");
    // A monitor taken after the exit resolves at once.
    assert_eq!(probe.monitor().await.to_string(), "failed: broken");
    assert_eq!(probe.exit_reason().unwrap().to_string(), "failed: broken");
}

#[tokio::test(start_paused = true)]
async fn an_abnormal_exit_takes_linked_actors_down() {
    let log = Log::default();
    let left = Probe::spawn(ProbeArgs::tagged(&log, "left:"));
    let right = Probe::spawn(ProbeArgs::tagged(&log, "right:"));
    left.link(&right);
    right.tell(Msg::Panic("right crashed")).await.unwrap();
    let reason = left.monitor().await;
    match &reason {
        ExitReason::LinkDied { id, reason } => {
            assert_eq!(*id, right.id());
            assert_eq!(reason.panic_message(), Some("right crashed"));
        }
        other => panic!("expected LinkDied, got {other}"),
    }
    assert!(log.entries().contains(&"left:stop link-died".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_normal_exit_does_not_take_linked_actors_down() {
    let log = Log::default();
    let left = Probe::spawn(ProbeArgs::new(&log));
    let right = Probe::spawn(ProbeArgs::new(&log));
    right.link(&left);
    right.close();
    assert_eq!(short(&right.monitor().await), "stopped");
    left.tell(Msg::Record(1)).await.unwrap();
    assert_eq!(left.ask(Msg::Seen).await.unwrap(), [1]);
}

#[tokio::test(start_paused = true)]
async fn linking_to_an_actor_that_already_died_notifies_at_once() {
    let log = Log::default();
    let dead = Probe::spawn(ProbeArgs::new(&log));
    dead.abort();
    let _ = dead.monitor().await;
    let alive = Probe::spawn(ProbeArgs::new(&log));
    alive.link(&dead);
    let reason = alive.monitor().await;
    assert_eq!(short(&reason), "link-died");
}

/// Traps link exits instead of dying with them.
struct Trapper {
    exits: Vec<(ActorId, String)>,
}

enum TrapMsg {
    Exits(taskweave_actor::Reply<Vec<(ActorId, String)>>),
}

impl Actor for Trapper {
    type Args = ();
    type Message = TrapMsg;
    type Error = std::convert::Infallible;

    async fn start((): (), _ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
        Ok(Self { exits: Vec::new() })
    }

    async fn handle(
        &mut self,
        message: TrapMsg,
        _ctx: &mut Context<Self>,
    ) -> Result<(), Self::Error> {
        let TrapMsg::Exits(reply) = message;
        let _ = reply.send(self.exits.clone());
        Ok(())
    }

    async fn on_link_exit(
        &mut self,
        id: ActorId,
        reason: &ExitReason,
        _ctx: &mut Context<Self>,
    ) -> ControlFlow<()> {
        self.exits.push((id, short(reason).to_owned()));
        ControlFlow::Continue(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_actor_can_trap_link_exits() {
    let log = Log::default();
    let trapper = Trapper::spawn(());
    let worker = Probe::spawn(ProbeArgs::new(&log));
    trapper.link(&worker);
    worker.tell(Msg::Panic("worker crashed")).await.unwrap();
    let _ = worker.monitor().await;
    let exits = trapper.ask(TrapMsg::Exits).await.unwrap();
    assert_eq!(exits, [(worker.id(), "panicked".to_owned())]);
    assert!(trapper.is_alive());
}
