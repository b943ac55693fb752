//! Spawning an actor and its event loop.

use std::any::Any;
use std::future::poll_fn;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;

use futures_util::FutureExt as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::mailbox::Mailbox;
use crate::shared::{ExitGuard, Shared, Signals};
use crate::{Actor, ActorConfig, ActorRef, Context, ExitReason};

pub(crate) fn spawn<A: Actor>(args: A::Args, config: &ActorConfig) -> ActorRef<A> {
    let (tx, rx) = mpsc::channel(config.mailbox_capacity());
    let token = config
        .cancellation_token()
        .map_or_else(CancellationToken::new, CancellationToken::child_token);
    let name: Arc<str> = config
        .name()
        .map_or_else(|| Arc::from(type_name::<A>()), Arc::from);
    let shared = Shared::new(name, token);
    let mailbox = Mailbox::new(rx, Arc::clone(&shared));
    let actor = ActorRef {
        tx,
        shared: Arc::clone(&shared),
    };
    let ctx = Context::new(actor.downgrade());

    // Cancelling the actor's token (directly, or through the parent token it was spawned
    // with) is exactly `close()`, with reason `Cancelled`. The token is also cancelled when the
    // actor exits, so this watcher never outlives the actor; a close after the exit is ignored.
    // A task of its own rather than a branch in the event loop: it refuses new messages the
    // moment the token is cancelled, even while a long handler runs, and costs the message path
    // nothing.
    let watched = Arc::clone(&shared);
    tokio::spawn(async move {
        watched.token.cancelled().await;
        watched.close(ExitReason::Cancelled);
    });

    let span = tracing::info_span!("actor", name = %shared.name, id = %shared.id);
    let guard = ExitGuard(Arc::clone(&shared));
    let task = tokio::spawn(
        async move {
            let guard = guard;
            let reason = run::<A>(args, ctx, mailbox).await;
            guard.0.finish(reason);
        }
        .instrument(span),
    );
    shared.set_abort_handle(task.abort_handle());
    actor
}

/// `my_crate::module::Type<Param>` → `Type`.
fn type_name<A>() -> &'static str {
    let full = std::any::type_name::<A>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

fn panic_message(payload: &(dyn Any + Send)) -> Arc<str> {
    if let Some(message) = payload.downcast_ref::<&str>() {
        Arc::from(*message)
    } else if let Some(message) = payload.downcast_ref::<String>() {
        Arc::from(message.as_str())
    } else {
        Arc::from("panic with a non-string payload")
    }
}

async fn run<A: Actor>(
    args: A::Args,
    mut ctx: Context<A>,
    mut mailbox: Mailbox<A::Message>,
) -> ExitReason {
    let started = AssertUnwindSafe(A::start(args, &mut ctx))
        .catch_unwind()
        .await;
    let mut actor = match started {
        Ok(Ok(actor)) => actor,
        Ok(Err(error)) => {
            let reason = ExitReason::failed(error);
            tracing::warn!(%reason, "actor failed to start");
            shut_mailbox(&ctx, mailbox);
            return reason;
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::warn!(panic = %message, "actor panicked in start");
            shut_mailbox(&ctx, mailbox);
            return ExitReason::Panicked(message);
        }
    };
    tracing::debug!("actor started");

    // One `catch_unwind` around the whole loop rather than one per message: no per-message cost.
    let outcome = AssertUnwindSafe(event_loop(&mut actor, &mut ctx, mailbox.receiver()))
        .catch_unwind()
        .await;
    let reason = match outcome {
        Ok(reason) => reason,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::warn!(panic = %message, "actor panicked");
            ExitReason::Panicked(message)
        }
    };

    shut_mailbox(&ctx, mailbox);
    // An abort normally aborts the task before it gets here; this covers one that raced the
    // spawn and arrived as a signal. Either way, an aborted actor's stop hook does not run.
    if !matches!(reason, ExitReason::Killed) {
        let stopped = AssertUnwindSafe(actor.stop(&reason, &mut ctx))
            .catch_unwind()
            .await;
        if let Err(payload) = stopped {
            let message = panic_message(payload.as_ref());
            tracing::warn!(panic = %message, "actor panicked in its stop hook");
        }
    }
    drop(actor);
    reason
}

/// Every exit goes through here (a dropped task through `Mailbox`'s `Drop`): refuse new
/// messages, then close the mailbox and discard what it holds, including what still lands through
/// slots that senders took before the close (see `mailbox.rs`). Refusing first makes a `tell`
/// fail on one atomic load instead of reserving a slot; the close then fails any send that got
/// past that load. Discarding before the stop hook runs resolves pending asks without making
/// them wait for it.
fn shut_mailbox<A: Actor>(ctx: &Context<A>, mailbox: Mailbox<A::Message>) {
    ctx.myself().shared.refuse();
    mailbox.empty();
}

enum Next<M> {
    Message(M),
    Signal,
    Drained,
}

async fn event_loop<A: Actor>(
    actor: &mut A,
    ctx: &mut Context<A>,
    mailbox: &mut mpsc::Receiver<A::Message>,
) -> ExitReason {
    let shared = Arc::clone(&ctx.myself().shared);
    // Set once a graceful stop began: the reason to report when the mailbox runs dry.
    let mut draining: Option<ExitReason> = None;
    loop {
        // Control requests overtake queued messages. Checking costs one atomic load; the
        // control slot is only locked when a request raised the flag.
        if let Some(signals) = shared.control.take() {
            if let ControlFlow::Break(reason) =
                apply(signals, actor, ctx, mailbox, &mut draining).await
            {
                return reason;
            }
        }
        // The mailbox first; the control waker is registered only when the mailbox is empty,
        // so that a request wakes an idle actor.
        let next = poll_fn(|cx| match mailbox.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Next::Message(message)),
            Poll::Ready(None) => Poll::Ready(Next::Drained),
            // Register-then-recheck (`Control::poll_signal`): an idle actor is woken by the next
            // request and never sleeps through one raised meanwhile.
            Poll::Pending => shared.control.poll_signal(cx).map(|()| Next::Signal),
        })
        .await;
        match next {
            Next::Message(message) => {
                let handled = actor.handle(message, ctx).await;
                shared.counters.handled_one();
                if let Err(error) = handled {
                    return ExitReason::failed(error);
                }
            }
            Next::Signal => {}
            Next::Drained => {
                // A stop request may have raced the last handle's drop: its reason wins.
                if shared.control.flags().signal_pending() {
                    continue;
                }
                return draining.unwrap_or(ExitReason::Normal);
            }
        }
    }
}

async fn apply<A: Actor>(
    signals: Signals,
    actor: &mut A,
    ctx: &mut Context<A>,
    mailbox: &mut mpsc::Receiver<A::Message>,
    draining: &mut Option<ExitReason>,
) -> ControlFlow<ExitReason> {
    if signals.abort {
        return ControlFlow::Break(ExitReason::Killed);
    }
    // A close while already draining changes nothing.
    if let Some(reason) = signals.close {
        if draining.is_none() {
            tracing::debug!(%reason, queued = mailbox.len(), "actor closed: draining its mailbox");
            mailbox.close();
            *draining = Some(reason);
        }
    }
    for (id, reason) in signals.link_exits {
        if actor.on_link_exit(id, &reason, ctx).await.is_break() {
            return ControlFlow::Break(ExitReason::LinkDied {
                id,
                reason: Arc::new(reason),
            });
        }
    }
    ControlFlow::Continue(())
}
