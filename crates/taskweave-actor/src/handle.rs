//! [`ActorRef`] (strong, cloneable) and [`WeakActorRef`] (does not keep the actor alive).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};

use crate::shared::Shared;
use crate::{
    Actor, ActorId, AskError, ExitReason, Metrics, Monitor, Reply, ShutdownReport, TellError,
    TellSink, TryTellError,
};

/// A cloneable handle to a running actor.
///
/// Dropping the last `ActorRef` is a [`close`](ActorRef::close): the mailbox takes no new
/// messages, the actor handles the queued ones, then stops by itself with
/// [`ExitReason::Normal`]. Nothing is aborted. [`WeakActorRef`]s, monitors and the actor's own
/// context do not keep it alive. Cloning is two reference-count increments.
pub struct ActorRef<A: Actor> {
    pub(crate) tx: mpsc::Sender<A::Message>,
    pub(crate) shared: Arc<Shared>,
}

impl<A: Actor> ActorRef<A> {
    /// The actor's unique id.
    pub fn id(&self) -> ActorId {
        self.shared.id
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Sends a message, waiting for mailbox space (backpressure).
    ///
    /// # Errors
    ///
    /// [`TellError::Closed`] with the message if the actor is closed (closing, aborted or
    /// exited).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped while waiting for space, the message was not delivered and is
    /// dropped with it; use [`try_tell`](Self::try_tell) to keep it on a full mailbox.
    #[inline]
    pub async fn tell(&self, message: A::Message) -> Result<(), TellError<A::Message>> {
        if self.shared.refusing() {
            return Err(TellError::Closed(message));
        }
        self.tx
            .send(message)
            .await
            .map_err(|refused| TellError::Closed(refused.0))
    }

    /// Sends a message if the mailbox has room right now.
    ///
    /// # Errors
    ///
    /// [`TryTellError::Full`] or [`TryTellError::Closed`], each with the message.
    #[inline]
    pub fn try_tell(&self, message: A::Message) -> Result<(), TryTellError<A::Message>> {
        if self.shared.refusing() {
            return Err(TryTellError::Closed(message));
        }
        self.tx.try_send(message).map_err(|refused| match refused {
            TrySendError::Full(m) => TryTellError::Full(m),
            TrySendError::Closed(m) => TryTellError::Closed(m),
        })
    }

    /// Sends the request built by `request` around a fresh [`Reply`] and waits for the answer.
    ///
    /// ```
    /// # use taskweave_actor::{Actor, Context, Reply};
    /// # enum Msg { Get(Reply<u64>) }
    /// # struct Counter(u64);
    /// # impl Actor for Counter {
    /// #     type Args = u64; type Message = Msg; type Error = std::convert::Infallible;
    /// #     async fn start(n: u64, _: &mut Context<Self>) -> Result<Self, Self::Error> { Ok(Counter(n)) }
    /// #     async fn handle(&mut self, m: Msg, _: &mut Context<Self>) -> Result<(), Self::Error> {
    /// #         let Msg::Get(reply) = m; let _ = reply.send(self.0); Ok(())
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let counter = Counter::spawn(7);
    /// assert_eq!(counter.ask(Msg::Get).await.unwrap(), 7);
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`AskError::Closed`] (request handed back) if the actor is closed;
    /// [`AskError::NoReply`] if it dropped the reply unanswered — also when the request was
    /// accepted but discarded because the actor exited first (aborted, failing or panicking),
    /// even if the send was still in flight as it exited.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the request was delivered drops the request; after that, the
    /// actor still handles it and its answer is discarded.
    #[inline]
    pub async fn ask<T>(
        &self,
        request: impl FnOnce(Reply<T>) -> A::Message,
    ) -> Result<T, AskError<A::Message>> {
        let (reply, answer) = Reply::channel();
        let message = request(reply);
        if self.shared.refusing() {
            return Err(AskError::Closed(message));
        }
        if let Err(refused) = self.tx.send(message).await {
            return Err(AskError::Closed(refused.0));
        }
        answer.await.map_err(|_| AskError::NoReply)
    }

    /// Like [`ask`](Self::ask), giving up after `timeout` (waiting for mailbox space and for
    /// the answer together).
    ///
    /// # Errors
    ///
    /// As [`ask`](Self::ask), plus [`AskError::MailboxTimeout`] (request handed back,
    /// undelivered) and [`AskError::ReplyTimeout`] (delivered, unanswered in time).
    ///
    /// # Panics
    ///
    /// Panics if awaited in a runtime without the time driver (build it with `enable_all()`
    /// or `enable_time()`).
    ///
    /// # Cancel safety
    ///
    /// As [`ask`](Self::ask).
    pub async fn ask_timeout<T>(
        &self,
        request: impl FnOnce(Reply<T>) -> A::Message,
        timeout: Duration,
    ) -> Result<T, AskError<A::Message>> {
        // `None`: a timeout too large to represent, which is no timeout at all (adding it to
        // `Instant::now()` would panic).
        let deadline = tokio::time::Instant::now().checked_add(timeout);
        let (reply, answer) = Reply::channel();
        let message = request(reply);
        if self.shared.refusing() {
            return Err(AskError::Closed(message));
        }
        match self.tx.send_timeout(message, timeout).await {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(m)) => return Err(AskError::MailboxTimeout(m)),
            Err(SendTimeoutError::Closed(m)) => return Err(AskError::Closed(m)),
        }
        let answered = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, answer).await,
            None => Ok(answer.await),
        };
        match answered {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(AskError::NoReply),
            Err(_) => Err(AskError::ReplyTimeout),
        }
    }

    /// Closes the actor gracefully: new messages are refused from now on (handed back in
    /// `Closed`), the queued ones are handled — and so are those of sends that had already
    /// taken a mailbox slot: the actor waits for them — then `stop` runs with
    /// [`ExitReason::Stopped`]. Idempotent; returns at once (await [`drain`](Self::drain) or
    /// [`monitor`](Self::monitor) to wait for the end). The request travels on a separate
    /// control channel, so it never waits behind a full mailbox.
    pub fn close(&self) {
        self.shared.close(ExitReason::Stopped);
    }

    /// Whether the actor refuses new messages: it was closed or aborted, or it exited.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Closes the actor ([`close`](Self::close)), then waits until it has handled everything
    /// accepted before and exited; returns its exit reason ([`ExitReason::Stopped`] unless
    /// something else ended it first). Never aborts.
    ///
    /// Do not await it from the actor's own handler: the actor cannot exit while its handler
    /// waits for it to.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe. Dropping the future does not undo the close (made when it is first
    /// polled): the actor still handles what is queued and exits.
    pub async fn drain(&self) -> ExitReason {
        self.close();
        self.monitor().await
    }

    /// Closes the actor, waits up to `grace` for it to handle what is queued and exit (as
    /// [`drain`](Self::drain)), then aborts it ([`abort`](Self::abort)) if it is still running.
    /// The report says how it ended and what was discarded.
    ///
    /// # Panics
    ///
    /// Panics if awaited in a runtime without the time driver (build it with `enable_all()`
    /// or `enable_time()`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not undo the close; an abort already made stands too. Dropped
    /// during the grace period, it never aborts: the actor finishes gracefully.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.close();
        let mut exited = self.monitor();
        let (reason, aborted) = match tokio::time::timeout(grace, &mut exited).await {
            Ok(reason) => (reason, false),
            Err(_) => {
                tracing::warn!(
                    actor.name = %self.shared.name,
                    actor.id = %self.shared.id,
                    ?grace,
                    "actor did not finish within its grace period; aborting it"
                );
                self.abort();
                let reason = exited.await;
                let aborted = matches!(reason, ExitReason::Killed);
                (reason, aborted)
            }
        };
        ShutdownReport {
            reason,
            aborted,
            discarded: self.shared.counters.discarded(),
        }
    }

    /// The hard stop: new messages are refused, the actor's task is aborted at its next
    /// `.await` and its stop hook does not run; the exit reason is [`ExitReason::Killed`].
    /// Queued messages are discarded: each pending `ask` among them resolves to
    /// [`AskError::NoReply`], and the discards are counted in
    /// [`Metrics::discarded`](crate::Metrics::discarded) and a `warn!` event. A supervisor
    /// aborts its running children with it. Returns at once.
    pub fn abort(&self) {
        self.shared.abort();
    }

    /// A future resolving to the actor's exit reason once it has fully stopped.
    pub fn monitor(&self) -> Monitor {
        self.shared.monitor()
    }

    /// Links this actor with `other`: when either exits, the other's
    /// [`Actor::on_link_exit`] runs (by default stopping it too if the exit was abnormal).
    /// Linking to an actor that already exited notifies at once.
    pub fn link<B: Actor>(&self, other: &ActorRef<B>) {
        Shared::link(&self.shared, &other.shared);
    }

    /// Whether the actor has not yet exited.
    pub fn is_alive(&self) -> bool {
        !self.shared.is_exited()
    }

    /// The exit reason, once the actor has exited.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.shared.exit_reason()
    }

    /// A snapshot of the actor's counters: queued, handled and discarded messages, restarts
    /// (for a supervisor), closed and exited. A few atomic loads; no lock.
    pub fn metrics(&self) -> Metrics {
        let counters = &self.shared.counters;
        let flags = self.shared.control.flags();
        Metrics {
            queued: self.tx.max_capacity() - self.tx.capacity(),
            mailbox_capacity: self.tx.max_capacity(),
            handled: counters.handled(),
            discarded: counters.discarded(),
            restarts: counters.restarts(),
            closed: flags.refusing(),
            exited: flags.is_exited(),
        }
    }

    /// A [`Sink`](futures_sink::Sink) that tells each item to the actor, waiting for mailbox
    /// space like [`tell`](Self::tell): `stream.forward(actor.sink())` feeds a stream through
    /// with backpressure, in order. The sink holds a strong handle until it is closed or
    /// dropped.
    pub fn sink(&self) -> TellSink<A> {
        TellSink::new(self)
    }

    /// A handle that does not keep the actor alive.
    pub fn downgrade(&self) -> WeakActorRef<A> {
        WeakActorRef {
            tx: self.tx.downgrade(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef")
            .field("name", &self.shared.name)
            .field("id", &self.shared.id)
            .finish()
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.shared.id == other.shared.id
    }
}

impl<A: Actor> Eq for ActorRef<A> {}

/// A handle that does not keep the actor alive; [`upgrade`](WeakActorRef::upgrade) it to send.
pub struct WeakActorRef<A: Actor> {
    pub(crate) tx: mpsc::WeakSender<A::Message>,
    pub(crate) shared: Arc<Shared>,
}

impl<A: Actor> WeakActorRef<A> {
    /// A strong handle, unless every strong handle is already gone.
    pub fn upgrade(&self) -> Option<ActorRef<A>> {
        self.tx.upgrade().map(|tx| ActorRef {
            tx,
            shared: Arc::clone(&self.shared),
        })
    }

    /// The actor's unique id.
    pub fn id(&self) -> ActorId {
        self.shared.id
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A future resolving to the actor's exit reason once it has fully stopped.
    pub fn monitor(&self) -> Monitor {
        self.shared.monitor()
    }

    /// Whether the actor has not yet exited.
    pub fn is_alive(&self) -> bool {
        !self.shared.is_exited()
    }

    /// Whether the actor refuses new messages (see [`ActorRef::is_closed`]).
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// The exit reason, once the actor has exited.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.shared.exit_reason()
    }
}

impl<A: Actor> Clone for WeakActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<A: Actor> fmt::Debug for WeakActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakActorRef")
            .field("name", &self.shared.name)
            .field("id", &self.shared.id)
            .finish()
    }
}
