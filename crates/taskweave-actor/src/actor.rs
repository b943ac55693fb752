//! The [`Actor`] trait: state built by `start`, messages fed to `handle`, `stop` at the end.

use std::error::Error;
use std::future::Future;
use std::ops::ControlFlow;

use crate::{ActorConfig, ActorId, ActorRef, Context, ExitReason};

/// A task that owns its state and processes one message at a time.
///
/// The lifecycle is `start` → `handle`* → `stop`:
///
/// - [`start`](Actor::start) builds the state from [`Args`](Actor::Args); an error (or a panic)
///   ends the actor with [`ExitReason::Failed`] (or [`ExitReason::Panicked`]) before any
///   message is handled, and `stop` does not run.
/// - [`handle`](Actor::handle) runs for each message, in mailbox order. An error ends the actor
///   with [`ExitReason::Failed`]; a panic ends it with [`ExitReason::Panicked`]. Either way the
///   runtime and other actors carry on.
/// - [`stop`](Actor::stop) runs once, with the exit reason, unless the actor was aborted.
///
/// The [`Message`](Actor::Message) type is usually an enum: each message is moved through a
/// bounded channel with no boxing. Requests that want an answer carry a [`Reply`](crate::Reply).
///
/// Write the methods as `async fn`; the futures must be `Send` because actors run on the
/// multi-threaded runtime.
pub trait Actor: Sized + Send + 'static {
    /// What [`start`](Actor::start) builds the actor from.
    type Args: Send + 'static;
    /// What the actor's mailbox carries.
    type Message: Send + 'static;
    /// What `start` or `handle` may fail with; use [`std::convert::Infallible`] if they cannot.
    type Error: Error + Send + Sync + 'static;

    /// Builds the actor's state. Messages sent meanwhile wait in the mailbox.
    fn start(
        args: Self::Args,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<Self, Self::Error>> + Send;

    /// Handles one message. Do not block the thread here (see the crate docs' pitfalls).
    fn handle(
        &mut self,
        message: Self::Message,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Runs once after the last message, with the reason the actor is stopping. By the time it
    /// runs the mailbox refuses new messages, and what was left in it (after an immediate stop, a
    /// failure or a panic) has been discarded. Not run when the actor is aborted or `start` failed.
    fn stop(
        &mut self,
        reason: &ExitReason,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        async {}
    }

    /// Runs when a linked actor exits. Returning [`ControlFlow::Break`] stops this actor too,
    /// with [`ExitReason::LinkDied`]; by default it does so exactly when the exit was abnormal
    /// (Erlang's link semantics). Return `Continue` to "trap" the exit and carry on.
    fn on_link_exit(
        &mut self,
        id: ActorId,
        reason: &ExitReason,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ControlFlow<()>> + Send {
        let _ = (id, ctx);
        let flow = if reason.is_normal() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        };
        async move { flow }
    }

    /// Spawns the actor with the default [`ActorConfig`] and returns a handle to it. `start`
    /// runs inside the new task.
    ///
    /// # Panics
    ///
    /// Panics when called outside a Tokio runtime.
    fn spawn(args: Self::Args) -> ActorRef<Self> {
        crate::spawn::spawn(args, &ActorConfig::default())
    }

    /// Spawns the actor with `config` (name, mailbox capacity, cancellation token).
    ///
    /// # Panics
    ///
    /// Panics when called outside a Tokio runtime.
    fn spawn_with(args: Self::Args, config: &ActorConfig) -> ActorRef<Self> {
        crate::spawn::spawn(args, config)
    }
}
