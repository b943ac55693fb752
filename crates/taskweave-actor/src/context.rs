//! [`Context`]: what a running actor can do to itself — close itself, schedule messages to itself,
//! consume a stream, link to others.

use std::fmt;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt as _;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::shared::Shared;
use crate::{Actor, ActorId, ActorRef, ConfigError, ExitReason, TellError, WeakActorRef};

/// Handed to every lifecycle hook of an actor.
///
/// Timers and stream forwarders started here end when the actor exits.
pub struct Context<A: Actor> {
    myself: WeakActorRef<A>,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(myself: WeakActorRef<A>) -> Self {
        Self { myself }
    }

    fn shared(&self) -> &Shared {
        &self.myself.shared
    }

    /// The actor's unique id.
    pub fn id(&self) -> ActorId {
        self.myself.id()
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        self.myself.name()
    }

    /// A weak handle to this actor (a strong one would keep it alive forever). Never `ask`
    /// yourself from a handler: the answer would wait behind the handler asking for it.
    pub fn myself(&self) -> &WeakActorRef<A> {
        &self.myself
    }

    /// Closes this actor, as [`ActorRef::close`] does: new messages are refused from now on,
    /// the current and the queued ones are handled, then `stop` runs with
    /// [`ExitReason::Stopped`]. To stop without handling what is queued, return an error from
    /// the handler (the actor ends [`Failed`](ExitReason::Failed), discarding the queue).
    pub fn close(&self) {
        self.shared().close(ExitReason::Stopped);
    }

    /// Whether this actor refuses new messages (a close or abort was requested).
    pub fn is_closed(&self) -> bool {
        self.shared().is_closed()
    }

    /// The actor's token: cancelled when the actor exits, or when the token it was spawned
    /// with is cancelled. Hand it to tasks that must not outlive the actor. Cancelling it
    /// yourself closes the actor (as [`close`](Self::close)) with [`ExitReason::Cancelled`].
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.shared().token
    }

    /// Links this actor with `other` (see [`ActorRef::link`]).
    pub fn link<B: Actor>(&self, other: &ActorRef<B>) {
        Shared::link(&self.myself.shared, &other.shared);
    }

    /// Sends `message` to this actor after `delay`, unless the actor has exited by then.
    /// Abort the returned handle to cancel. The timer does not keep the actor alive.
    pub fn send_after(&self, message: A::Message, delay: Duration) -> AbortHandle {
        let myself = self.myself.clone();
        let token = self.shared().token.clone();
        tokio::spawn(async move {
            let deliver = async {
                tokio::time::sleep(delay).await;
                deliver(&myself, message).await;
            };
            token.run_until_cancelled(deliver).await;
        })
        .abort_handle()
    }

    /// Sends `make()` to this actor every `period` (the first after one period) until it exits
    /// or the returned handle is aborted. A tick waits for mailbox space; ticks missed meanwhile
    /// are skipped, not bunched. The timer does not keep the actor alive.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroPeriod`] if `period` is zero.
    pub fn send_interval<F>(
        &self,
        period: Duration,
        mut make: F,
    ) -> Result<AbortHandle, ConfigError>
    where
        F: FnMut() -> A::Message + Send + 'static,
    {
        if period.is_zero() {
            return Err(ConfigError::ZeroPeriod);
        }
        let myself = self.myself.clone();
        let token = self.shared().token.clone();
        let task = tokio::spawn(async move {
            let ticks = async {
                // A period too large to represent never ticks (adding it to `now` would
                // panic); the timer still lives until the actor exits or it is aborted.
                let Some(start) = tokio::time::Instant::now().checked_add(period) else {
                    return std::future::pending().await;
                };
                let mut interval = tokio::time::interval_at(start, period);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    interval.tick().await;
                    if !deliver(&myself, make()).await {
                        return;
                    }
                }
            };
            token.run_until_cancelled(ticks).await;
        });
        Ok(task.abort_handle())
    }

    /// Feeds every item of `stream` to this actor as a message, in order, waiting for mailbox
    /// space. The forwarder holds a strong handle, so the actor keeps running while the stream
    /// is open; it ends when the stream ends, the actor exits, or the handle is aborted.
    pub fn attach_stream<S>(&self, stream: S) -> AbortHandle
    where
        S: Stream<Item = A::Message> + Send + 'static,
    {
        let actor = self.myself.upgrade();
        let token = self.shared().token.clone();
        tokio::spawn(async move {
            let Some(actor) = actor else {
                tracing::debug!("stream not attached: the actor is stopping");
                return;
            };
            let forward = async {
                let mut stream = std::pin::pin!(stream);
                while let Some(item) = stream.next().await {
                    if actor.tell(item).await.is_err() {
                        tracing::warn!(
                            actor.name = %actor.name(),
                            actor.id = %actor.id(),
                            "stream item refused: the actor is stopping; the stream is detached"
                        );
                        return;
                    }
                }
            };
            token.run_until_cancelled(forward).await;
        })
        .abort_handle()
    }
}

/// Delivers a self-addressed message; `false` once the actor is gone.
async fn deliver<A: Actor>(myself: &WeakActorRef<A>, message: A::Message) -> bool {
    let Some(actor) = myself.upgrade() else {
        tracing::debug!(actor.id = %myself.id(), "timer message dropped: the actor is stopping");
        return false;
    };
    match actor.tell(message).await {
        Ok(()) => true,
        Err(TellError::Closed(_)) => {
            tracing::debug!(actor.id = %myself.id(), "timer message refused: the actor is stopping");
            false
        }
    }
}

impl<A: Actor> fmt::Debug for Context<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.name())
            .field("id", &self.id())
            .finish()
    }
}
