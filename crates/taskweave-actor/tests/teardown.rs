//! Dropping the runtime mid-flight: actors busy, messages queued, asks waiting for replies,
//! senders blocked on a full mailbox, a supervisor in the middle of a restart. No hang, no
//! panic, and every future held outside the dropped runtime resolves with an error.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{
    Actor, ActorConfig, ActorRef, AskError, ChildSpec, ExitReason, Supervisor, TellError,
};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::oneshot;

const CAPACITY: usize = 64;

type Held<T> = FreshWakers<Pin<Box<dyn Future<Output = T> + Send>>>;

fn held<T>(future: impl Future<Output = T> + Send + 'static) -> Held<T> {
    FreshWakers::new(Box::pin(future) as Pin<Box<dyn Future<Output = T> + Send>>)
}

/// Polls `future` once from outside any runtime; it must be left waiting.
fn park<T>(future: &mut Held<T>, what: &str) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        future.poll_once(&mut cx).is_pending(),
        "{what}: expected to wait"
    );
}

fn mailbox(capacity: usize) -> ActorConfig {
    ActorConfig::builder()
        .mailbox_capacity(capacity)
        .build()
        .unwrap()
}

fn probe_child(log: &Log, name: &'static str) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new::<Probe, _>(name, move || ProbeArgs::tagged(&log, name))
}

fn current_thread_paused() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// What a test leaves in flight in the runtime it is about to drop.
struct InFlight {
    busy: ActorRef<Probe>,
    idle: ActorRef<Probe>,
    supervisor: ActorRef<Supervisor>,
    /// Keeps the busy actor's handler parked until after the teardown (dropping it would let
    /// the handler go on).
    _release: oneshot::Sender<()>,
}

/// Held outside the runtime: asks delivered and queued, senders and asks blocked on the full
/// mailbox, a query queued behind the supervisor's restart, and monitors.
struct Outside {
    delivered_asks: Vec<Held<Result<Vec<u32>, AskError<Msg>>>>,
    blocked_tells: Vec<Held<Result<(), TellError<Msg>>>>,
    blocked_asks: Vec<Held<Result<Vec<u32>, AskError<Msg>>>>,
    supervisor_query: Held<Option<ActorRef<Probe>>>,
    monitors: Vec<taskweave_actor::Monitor>,
}

/// Parks futures against the actors of `in_flight`, from outside their runtime. `queued` is how
/// many messages already wait in the busy actor's mailbox; the asks fill it up.
fn hold_outside(
    in_flight: &InFlight,
    queued: usize,
    outside: &Runtime,
    restarting: bool,
) -> Outside {
    let busy = &in_flight.busy;
    let mut delivered_asks = Vec::new();
    for _ in queued..CAPACITY {
        let busy = busy.clone();
        let mut ask = held(async move { busy.ask(Msg::Seen).await });
        park(&mut ask, "an ask delivered to a busy actor");
        delivered_asks.push(ask);
    }
    assert_eq!(busy.metrics().queued, CAPACITY, "the mailbox is full");
    let mut blocked_tells = Vec::new();
    let mut blocked_asks = Vec::new();
    for n in 0..8 {
        let sender = busy.clone();
        let mut tell = held(async move { sender.tell(Msg::Record(1000 + n)).await });
        park(&mut tell, "a tell on a full mailbox");
        blocked_tells.push(tell);
        let sender = busy.clone();
        let mut ask = held(async move { sender.ask(Msg::Seen).await });
        park(&mut ask, "an ask on a full mailbox");
        blocked_asks.push(ask);
    }
    // One with a deadline, whose timer lives in the outside runtime.
    let sender = busy.clone();
    let mut timed = held(async move {
        sender
            .ask_timeout(Msg::Seen, Duration::from_secs(3600))
            .await
    });
    {
        let _enter = outside.enter();
        park(&mut timed, "an ask_timeout on a full mailbox");
    }
    blocked_asks.push(timed);
    let supervisor = in_flight.supervisor.clone();
    let mut supervisor_query = held(async move { supervisor.child::<Probe>("c").await });
    if restarting {
        park(&mut supervisor_query, "a query to a restarting supervisor");
    } else if let Poll::Ready(answer) =
        supervisor_query.poll_once(&mut Context::from_waker(Waker::noop()))
    {
        // A supervisor that has not begun its restart may answer on another worker at once.
        supervisor_query = held(std::future::ready(answer));
    }
    let monitors = vec![
        in_flight.busy.monitor(),
        in_flight.idle.monitor(),
        in_flight.supervisor.monitor(),
    ];
    Outside {
        delivered_asks,
        blocked_tells,
        blocked_asks,
        supervisor_query,
        monitors,
    }
}

/// Drives everything held outside to completion on `outside` and checks each resolved with an
/// error (the dropped runtime can answer nothing).
fn resolve_outside(held: Outside, outside: &Runtime, restarting: bool) {
    outside.block_on(async move {
        for ask in held.delivered_asks {
            let (answer, _) = ask.await;
            assert!(
                matches!(answer, Err(AskError::NoReply)),
                "a delivered ask: {answer:?}"
            );
        }
        for tell in held.blocked_tells {
            let (sent, _) = tell.await;
            assert!(
                matches!(sent, Err(TellError::Closed(Msg::Record(n))) if n >= 1000),
                "a blocked tell: {sent:?}"
            );
        }
        for ask in held.blocked_asks {
            let (answer, _) = ask.await;
            assert!(
                matches!(answer, Err(AskError::Closed(Msg::Seen(_)))),
                "a blocked ask: {answer:?}"
            );
        }
        let (child, _) = held.supervisor_query.await;
        if restarting {
            // Queued behind the restart: the supervisor never got to answer.
            assert!(child.is_none(), "the restarting supervisor answered");
        }
        for monitor in held.monitors {
            let reason = monitor.await;
            assert!(matches!(reason, ExitReason::Killed), "{reason}");
        }
    });
}

#[test]
fn dropping_a_paused_runtime_mid_flight_resolves_everything_held_outside() {
    finishes_within(HANG_LIMIT, "runtime teardown (current thread)", || {
        let outside = Builder::new_current_thread().enable_all().build().unwrap();
        let rt = current_thread_paused();
        let log = Log::default();
        let in_flight = rt.block_on(async {
            let busy = Probe::spawn_with(ProbeArgs::tagged(&log, "busy:"), &mailbox(CAPACITY));
            let (release, parked) = oneshot::channel();
            busy.tell(Msg::Block(parked)).await.unwrap();
            let idle = Probe::spawn(ProbeArgs::tagged(&log, "idle:"));
            let spec = Supervisor::builder()
                .restart_delay(Duration::from_secs(3600))
                .child(probe_child(&log, "c"))
                .child(probe_child(&log, "d"))
                .build()
                .unwrap();
            let supervisor = Supervisor::spawn(spec);
            tokio::time::sleep(Duration::from_millis(1)).await;
            let child = supervisor.child::<Probe>("c").await.unwrap();
            child.tell(Msg::Panic("crash")).await.unwrap();
            // Settles with paused time: the supervisor is now waiting out its restart delay.
            tokio::time::sleep(Duration::from_millis(1)).await;
            for n in 0..32 {
                busy.tell(Msg::Record(n)).await.unwrap();
            }
            InFlight {
                busy,
                idle,
                supervisor,
                _release: release,
            }
        });
        let held = hold_outside(&in_flight, 32, &outside, true);
        drop(rt);
        resolve_outside(held, &outside, true);
        drop(in_flight);
    });
}

#[test]
fn dropping_a_multi_thread_runtime_mid_flight_resolves_everything_held_outside() {
    finishes_within(HANG_LIMIT, "runtime teardown (multi thread)", || {
        let outside = Builder::new_current_thread().enable_all().build().unwrap();
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let log = Log::default();
        let in_flight = rt.block_on(async {
            let busy = Probe::spawn_with(ProbeArgs::tagged(&log, "busy:"), &mailbox(CAPACITY));
            let (release, parked) = oneshot::channel();
            busy.tell(Msg::Block(parked)).await.unwrap();
            // The handler has taken the message once the mailbox is empty again.
            while busy.metrics().queued > 0 {
                tokio::task::yield_now().await;
            }
            let idle = Probe::spawn(ProbeArgs::tagged(&log, "idle:"));
            let spec = Supervisor::builder()
                .restart_delay(Duration::from_secs(3600))
                .child(probe_child(&log, "c"))
                .build()
                .unwrap();
            let supervisor = Supervisor::spawn(spec);
            let child = supervisor.child::<Probe>("c").await.unwrap();
            child.tell(Msg::Panic("crash")).await.unwrap();
            let _ = child.monitor().await;
            InFlight {
                busy,
                idle,
                supervisor,
                _release: release,
            }
        });
        // The workers keep running meanwhile; the busy actor stays parked, so what is parked
        // here stays where it is.
        let held = hold_outside(&in_flight, 0, &outside, false);
        drop(rt);
        // The supervisor may or may not have begun its restart: either way its query resolves.
        resolve_outside(held, &outside, false);
        drop(in_flight);
    });
}
