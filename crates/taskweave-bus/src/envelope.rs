//! Receiving a message together with the subject it was published to.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::{RecvError, TryRecvError};
use crate::subscription::{Subscription, Taken};

/// A message and the subject it was published to, from
/// [`Subscription::recv_with_subject`] and its `try_`/`poll_` variants.
///
/// The subject is shared, not copied: every message published to it holds the same
/// `Arc<str>`, cloned once per buffer a publish writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<T> {
    subject: Arc<str>,
    message: T,
}

impl<T> Envelope<T> {
    /// The subject the message was published to, such as `orders.eu.created`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.message
    }

    /// Takes the message, dropping the subject.
    pub fn into_message(self) -> T {
        self.message
    }

    /// Takes the subject (the shared `Arc`) and the message.
    pub fn into_parts(self) -> (Arc<str>, T) {
        (self.subject, self.message)
    }

    fn from_taken((subject, message): Taken<T>) -> Self {
        Self {
            // Asked for, so always present; an empty subject would only mark a bug.
            subject: subject.unwrap_or_default(),
            message,
        }
    }
}

impl<T: Clone> Subscription<T> {
    /// Receives the next message with the subject it was published to: what a wildcard
    /// subscription (`orders.>`) or a replay needs to tell messages apart.
    ///
    /// Costs one reference-count increment per message more than [`recv`](Self::recv), which
    /// does not touch the subject. Both read the same stream: mixing them loses nothing.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`recv`](Self::recv).
    pub async fn recv_with_subject(&mut self) -> Result<Envelope<T>, RecvError> {
        poll_fn(|cx| self.poll_recv_with_subject(cx)).await
    }

    /// [`try_recv`](Self::try_recv), with the subject.
    ///
    /// # Errors
    ///
    /// As [`try_recv`](Self::try_recv).
    pub fn try_recv_with_subject(&mut self) -> Result<Envelope<T>, TryRecvError> {
        self.try_next(true).map(Envelope::from_taken)
    }

    /// [`poll_recv`](Self::poll_recv), with the subject.
    pub fn poll_recv_with_subject(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Envelope<T>, RecvError>> {
        self.poll_next_message(cx, true)
            .map(|ready| ready.map(Envelope::from_taken))
    }
}
