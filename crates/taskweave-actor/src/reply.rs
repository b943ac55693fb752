//! [`Reply`]: the typed answer slot carried inside a request message.

use std::fmt;

use tokio::sync::oneshot;

/// The answer slot of an [`ask`](crate::ActorRef::ask): put it in the request message and call
/// [`send`](Reply::send) from the handler. Dropping it unanswered makes the asker's future
/// resolve to [`AskError::NoReply`](crate::AskError::NoReply).
#[must_use = "the asker waits until this reply is sent or dropped"]
pub struct Reply<T> {
    tx: oneshot::Sender<T>,
}

impl<T> Reply<T> {
    pub(crate) fn channel() -> (Self, oneshot::Receiver<T>) {
        let (tx, rx) = oneshot::channel();
        (Self { tx }, rx)
    }

    /// Answers the request.
    ///
    /// # Errors
    ///
    /// Hands the value back if the asker stopped waiting (timed out or was cancelled).
    pub fn send(self, value: T) -> Result<(), T> {
        self.tx.send(value)
    }

    /// Whether the asker has stopped waiting, so the answer need not be computed.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}
