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

use crate::shared::{ExitGuard, Shared, Signals, StopMode};
use crate::{Actor, ActorConfig, ActorRef, Context, ExitReason};

pub(crate) fn spawn<A: Actor>(args: A::Args, config: &ActorConfig) -> ActorRef<A> {
    let (tx, mailbox) = mpsc::channel(config.mailbox_capacity().get());
    let token = config
        .cancellation_token()
        .map_or_else(CancellationToken::new, CancellationToken::child_token);
    let name: Arc<str> = config
        .name()
        .map_or_else(|| Arc::from(type_name::<A>()), Arc::from);
    let shared = Shared::new(name, token);
    let actor = ActorRef {
        tx,
        shared: Arc::clone(&shared),
    };
    let ctx = Context::new(actor.downgrade());

    // Cancelling the actor's token (directly, or through the parent token it was spawned
    // with) is a graceful stop. The token is also cancelled when the actor exits, so this
    // watcher never outlives the actor; a stop request after the exit is ignored.
    let watched = Arc::clone(&shared);
    tokio::spawn(async move {
        watched.token.cancelled().await;
        watched.stop(StopMode::Graceful, ExitReason::Cancelled);
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
    mut mailbox: mpsc::Receiver<A::Message>,
) -> ExitReason {
    let started = AssertUnwindSafe(A::start(args, &mut ctx))
        .catch_unwind()
        .await;
    let mut actor = match started {
        Ok(Ok(actor)) => actor,
        Ok(Err(error)) => {
            let reason = ExitReason::failed(error);
            tracing::warn!(%reason, "actor failed to start");
            discard(&mut mailbox);
            return reason;
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::warn!(panic = %message, "actor panicked in start");
            discard(&mut mailbox);
            return ExitReason::Panicked(message);
        }
    };
    tracing::debug!("actor started");

    // One `catch_unwind` around the whole loop rather than one per message: no per-message cost.
    let outcome = AssertUnwindSafe(event_loop(&mut actor, &mut ctx, &mut mailbox))
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

    ctx.myself().shared.refuse();
    mailbox.close();
    // A kill normally aborts the task before it gets here; this covers a kill that raced the
    // spawn and arrived as a signal. Either way, a killed actor's stop hook does not run.
    if !matches!(reason, ExitReason::Killed) {
        let stopped = AssertUnwindSafe(actor.stop(&reason, &mut ctx))
            .catch_unwind()
            .await;
        if let Err(payload) = stopped {
            let message = panic_message(payload.as_ref());
            tracing::warn!(panic = %message, "actor panicked in its stop hook");
        }
    }
    discard(&mut mailbox);
    drop(actor);
    reason
}

/// Closes the mailbox and drops what is left in it, logging how many messages that was.
fn discard<M>(mailbox: &mut mpsc::Receiver<M>) {
    mailbox.close();
    let mut discarded = 0_usize;
    while mailbox.try_recv().is_ok() {
        discarded += 1;
    }
    if discarded > 0 {
        tracing::warn!(
            discarded,
            "actor stopped with messages still queued; they were dropped"
        );
    }
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
        if shared.take_signal_flag() {
            let signals = shared.take_signals();
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
            Poll::Pending => {
                shared.waker.register(cx.waker());
                // Re-check after registering: a request raised in between would not wake us.
                if shared.signal_pending() {
                    Poll::Ready(Next::Signal)
                } else {
                    Poll::Pending
                }
            }
        })
        .await;
        match next {
            Next::Message(message) => {
                if let Err(error) = actor.handle(message, ctx).await {
                    return ExitReason::failed(error);
                }
            }
            Next::Signal => {}
            Next::Drained => {
                // A stop request may have raced the last handle's drop: its reason wins.
                if shared.signal_pending() {
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
    if signals.kill {
        return ControlFlow::Break(ExitReason::Killed);
    }
    match signals.stop {
        Some((StopMode::Immediate, reason)) => return ControlFlow::Break(reason),
        // A graceful stop while already draining changes nothing.
        Some((StopMode::Graceful, reason)) if draining.is_none() => {
            tracing::debug!(%reason, queued = mailbox.len(), "actor stopping: draining its mailbox");
            mailbox.close();
            *draining = Some(reason);
        }
        Some((StopMode::Graceful, _)) | None => {}
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
