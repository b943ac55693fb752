//! A send that reserved a mailbox slot before the actor stopped and pushes its message after:
//! the message must be discarded and counted, and an `ask` among such messages must resolve to
//! `NoReply`, never hang.
//!
//! The public API cannot be paused between tokio's reserve and push (the gap is synchronous,
//! inside `Sender::send`), so these tests hold the reservation themselves: a `Permit` from the
//! actor's own `Sender`, sent through once the actor has exited.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt as _};

use crate::{Actor, ActorRef, AskError, Context, ExitReason, Reply, TellError};

/// Longer than anything here takes; with the clock paused, a hang reaches it at once.
const BOUND: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("refused")
    }
}

impl Error for Refused {}

enum Msg {
    Ask(Reply<u32>),
    Tell,
    Fail,
    Panic,
}

/// Answers asks with 7; `Fail` and `Panic` end it. `Args`: whether `start` fails.
struct Echo;

impl Actor for Echo {
    type Args = bool;
    type Message = Msg;
    type Error = Refused;

    async fn start(fail: bool, _: &mut Context<Self>) -> Result<Self, Refused> {
        if fail { Err(Refused) } else { Ok(Self) }
    }

    async fn handle(&mut self, msg: Msg, _: &mut Context<Self>) -> Result<(), Refused> {
        match msg {
            Msg::Ask(reply) => {
                let _ = reply.send(7);
            }
            Msg::Tell => {}
            Msg::Fail => return Err(Refused),
            Msg::Panic => panic!("echo panicked"),
        }
        Ok(())
    }
}

/// Sums the `discarded` field of every event — the crate's count of accepted messages it
/// dropped — and the `in_flight` field, of sends it could not wait for.
#[derive(Clone, Default)]
struct Discards(Arc<[AtomicU64; 2]>);

impl Discards {
    fn get(&self) -> u64 {
        self.0[0].load(Ordering::Relaxed)
    }

    fn in_flight(&self) -> u64 {
        self.0[1].load(Ordering::Relaxed)
    }

    /// Counts discards on this thread (the tests run on a current-thread runtime) until the
    /// guard is dropped.
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(tracing_subscriber::registry().with(self.clone()))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Discards {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        struct Count<'a>(&'a [AtomicU64; 2]);
        impl Visit for Count<'_> {
            fn record_u64(&mut self, field: &Field, value: u64) {
                let sum = match field.name() {
                    "discarded" => &self.0[0],
                    "in_flight" => &self.0[1],
                    _ => return,
                };
                sum.fetch_add(value, Ordering::Relaxed);
            }
            fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
        }
        event.record(&mut Count(&self.0));
    }
}

/// Lets every runnable task run (with the clock paused, the sleep ends only once all are idle).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Polls `future` once with a no-op waker.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut TaskContext::from_waker(Waker::noop()))
}

#[derive(Debug, Clone, Copy)]
enum Exit {
    Fail,
    Panic,
    Abort,
    LinkDied,
    StartFailed,
}

/// Spawns an `Echo` and makes it exit the `how` way while the test holds a reserved slot in its
/// mailbox; returns the handle, the reservation's sender and the exit reason.
async fn exit_with_a_slot_reserved(
    how: Exit,
    in_flight: impl FnOnce(Reply<u32>) -> Msg,
) -> (ActorRef<Echo>, oneshot::Receiver<u32>, ExitReason) {
    let actor = Echo::spawn(matches!(how, Exit::StartFailed));
    // A clone of the actor's own sender: the permit borrows it, the actor's handle stays free.
    let tx = actor.tx.clone();
    let permit = tx.reserve().await.expect("the mailbox is open");
    if !matches!(how, Exit::StartFailed) {
        settle().await;
        assert!(actor.is_alive());
    }
    match how {
        Exit::Fail => actor.try_tell(Msg::Fail).expect("room for it"),
        Exit::Panic => actor.try_tell(Msg::Panic).expect("room for it"),
        Exit::Abort => actor.abort(),
        Exit::LinkDied => {
            let doomed = Echo::spawn(false);
            actor.link(&doomed);
            doomed.try_tell(Msg::Fail).expect("room for it");
        }
        Exit::StartFailed => {}
    }
    let reason = tokio::time::timeout(BOUND, actor.monitor())
        .await
        .unwrap_or_else(|_| panic!("{how:?}: the actor did not exit with a send in flight"));
    // Exited: now the held reservation pushes its message, as a preempted sender would.
    let (reply, answer) = Reply::channel();
    permit.send(in_flight(reply));
    (actor, answer, reason)
}

fn expected(how: Exit, reason: &ExitReason) -> bool {
    match how {
        Exit::Fail | Exit::StartFailed => matches!(reason, ExitReason::Failed(_)),
        Exit::Panic => matches!(reason, ExitReason::Panicked(_)),
        Exit::Abort => matches!(reason, ExitReason::Killed),
        Exit::LinkDied => matches!(reason, ExitReason::LinkDied { .. }),
    }
}

const EXITS: [Exit; 5] = [
    Exit::Fail,
    Exit::Panic,
    Exit::Abort,
    Exit::LinkDied,
    Exit::StartFailed,
];

#[tokio::test(start_paused = true)]
async fn an_ask_pushed_after_the_exit_resolves_to_no_reply_and_is_counted() {
    let mut failures = Vec::new();
    for how in EXITS {
        let discards = Discards::default();
        let _capture = discards.capture();
        let (actor, answer, reason) = exit_with_a_slot_reserved(how, Msg::Ask).await;
        assert!(expected(how, &reason), "{how:?}: {reason}");
        // `ask` maps a dropped reply to `NoReply`; the asker holds a handle meanwhile, so the
        // channel itself never goes away to drop it.
        let answered = tokio::time::timeout(BOUND, answer).await;
        if !matches!(answered, Ok(Err(_))) {
            failures.push(format!(
                "{how:?}: the ask hung instead of resolving to NoReply"
            ));
        }
        settle().await;
        if discards.get() != 1 || actor.metrics().discarded != 1 {
            failures.push(format!(
                "{how:?}: {} discard(s) logged and {} counted, not 1",
                discards.get(),
                actor.metrics().discarded
            ));
        }
        drop(actor);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_tell_pushed_after_the_exit_is_counted_as_discarded() {
    let mut failures = Vec::new();
    for how in EXITS {
        let discards = Discards::default();
        let _capture = discards.capture();
        let (actor, _, reason) = exit_with_a_slot_reserved(how, |_| Msg::Tell).await;
        assert!(expected(how, &reason), "{how:?}: {reason}");
        settle().await;
        if discards.get() != 1 || actor.metrics().discarded != 1 {
            failures.push(format!(
                "{how:?}: {} discard(s) logged and {} counted, not 1",
                discards.get(),
                actor.metrics().discarded
            ));
        }
        drop(actor);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Through the public API: an `ask` whose message lands after the exit resolves to `NoReply`
/// while the asker still holds its handle.
#[tokio::test(start_paused = true)]
async fn an_ask_through_the_handle_does_not_hang_on_a_late_push() {
    let actor = Echo::spawn(false);
    let tx = actor.tx.clone();
    let permit = tx.reserve().await.unwrap();
    settle().await;
    actor.abort();
    let _ = actor.monitor().await;
    // The `ask` future is what a caller holds; its request is the one that lands late.
    let (reply, answer) = Reply::<u32>::channel();
    permit.send(Msg::Ask(reply));
    let asked = async { answer.await.map_err(|_| AskError::<Msg>::NoReply) };
    match tokio::time::timeout(BOUND, asked).await {
        Ok(Err(AskError::NoReply)) => {}
        Ok(other) => panic!(
            "expected NoReply, got {:?}",
            other.map_err(|e| e.to_string())
        ),
        Err(_) => panic!("the ask hung"),
    }
    // The handle is still usable, and refuses.
    assert!(matches!(
        actor.tell(Msg::Tell).await,
        Err(TellError::Closed(Msg::Tell))
    ));
}

/// A graceful stop handles what was accepted, including a send that reserved its slot before
/// the stop: the actor waits for it (a stop is not complete while a slot is reserved).
#[tokio::test(start_paused = true)]
async fn a_graceful_stop_waits_for_a_reserved_slot_and_handles_its_message() {
    let discards = Discards::default();
    let _capture = discards.capture();
    let actor = Echo::spawn(false);
    let tx = actor.tx.clone();
    let permit = tx.reserve().await.unwrap();
    settle().await;
    actor.close();
    settle().await;
    assert!(actor.is_alive(), "exited with a slot still reserved");
    let (reply, answer) = Reply::channel();
    permit.send(Msg::Ask(reply));
    assert_eq!(tokio::time::timeout(BOUND, answer).await, Ok(Ok(7)));
    let reason = tokio::time::timeout(BOUND, actor.monitor()).await.unwrap();
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    assert_eq!(discards.get(), 0);
}

/// A `tell` future that was granted a slot while waiting on a full mailbox, and then is not
/// polled, holds that slot. An abort does not wait for it; when the future finally runs, it
/// gets its message back in `Closed`, and nothing is counted as discarded.
#[tokio::test(start_paused = true)]
async fn an_abort_does_not_wait_for_a_granted_but_unpolled_send() {
    let discards = Discards::default();
    let _capture = discards.capture();
    let config = crate::ActorConfig::builder()
        .mailbox_capacity(1)
        .build()
        .unwrap();
    let actor = Echo::spawn_with(false, &config);
    let blocker = actor.tx.clone();
    // Fill the one slot before the actor runs, then queue a tell behind it.
    let held = blocker.reserve().await.unwrap();
    let mut granted = pin!(actor.tell(Msg::Tell));
    assert!(poll_once(granted.as_mut()).is_pending());
    held.send(Msg::Tell);
    // The actor takes the first message: the freed slot is granted to the queued tell, which
    // is not polled again yet.
    settle().await;
    actor.abort();
    let reason = tokio::time::timeout(BOUND, actor.monitor())
        .await
        .expect("the exit waited for a granted but unpolled send");
    assert!(matches!(reason, ExitReason::Killed), "{reason}");
    assert!(matches!(
        poll_once(granted.as_mut()),
        Poll::Ready(Err(TellError::Closed(Msg::Tell)))
    ));
    settle().await;
    assert_eq!(discards.get(), 0);
}

/// A graceful stop, by contrast, waits for such a slot — the send was accepted before the stop —
/// and ends once the future is polled (its message comes back in `Closed`: the mailbox is closed).
#[tokio::test(start_paused = true)]
async fn a_graceful_stop_waits_for_a_granted_send_until_it_is_polled() {
    let config = crate::ActorConfig::builder()
        .mailbox_capacity(1)
        .build()
        .unwrap();
    let actor = Echo::spawn_with(false, &config);
    let blocker = actor.tx.clone();
    let held = blocker.reserve().await.unwrap();
    let mut granted = pin!(actor.tell(Msg::Tell));
    assert!(poll_once(granted.as_mut()).is_pending());
    held.send(Msg::Tell);
    settle().await;
    actor.close();
    settle().await;
    assert!(actor.is_alive(), "stopped with a granted slot outstanding");
    assert!(matches!(
        poll_once(granted.as_mut()),
        Poll::Ready(Err(TellError::Closed(Msg::Tell)))
    ));
    let reason = tokio::time::timeout(BOUND, actor.monitor())
        .await
        .expect("the stop never noticed the slot released");
    assert!(matches!(reason, ExitReason::Stopped), "{reason}");
}

/// The one case that cannot be waited for: the actor's runtime is dropped while a sender holds
/// a slot. Nothing panics or recurses, what is queued is counted, and the slot still taken is
/// reported; a message pushed through it later is dropped with the actor's last handle.
#[test]
fn a_runtime_dropped_with_a_slot_taken_reports_it() {
    let discards = Discards::default();
    let _capture = discards.capture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let (actor, tx) = runtime.block_on(async {
        let actor = Echo::spawn(false);
        settle().await;
        let tx = actor.tx.clone();
        (actor, tx)
    });
    let permit = tx.try_reserve().unwrap();
    actor.try_tell(Msg::Tell).unwrap();
    drop(runtime);
    assert_eq!(discards.get(), 1, "the queued tell");
    assert_eq!(discards.in_flight(), 1, "the taken slot");
    let (reply, mut answer) = Reply::channel();
    permit.send(Msg::Ask(reply));
    assert_eq!(answer.try_recv(), Err(oneshot::error::TryRecvError::Empty));
    drop((actor, tx));
    assert_eq!(
        answer.try_recv(),
        Err(oneshot::error::TryRecvError::Closed),
        "dropped with the last handle"
    );
}
