//! Why an actor stopped, and how to wait for it.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::watch;

use crate::ActorId;

/// Why an actor stopped. Cheap to clone: monitors, links and supervisors all receive a copy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ExitReason {
    /// Every strong handle was dropped (which closes the actor) and the mailbox drained.
    Normal,
    /// The actor was closed through a handle ([`close`](crate::ActorRef::close),
    /// [`drain`](crate::ActorRef::drain), [`shutdown`](crate::ActorRef::shutdown)) or its
    /// context, and handled what was queued.
    Stopped,
    /// The actor's cancellation token was cancelled (the one it was spawned with, or
    /// [`Context::cancellation_token`](crate::Context::cancellation_token)), which closed it:
    /// it handled what was queued.
    Cancelled,
    /// The actor was aborted ([`ActorRef::abort`](crate::ActorRef::abort), a `shutdown` whose
    /// grace ran out, an aborted supervisor, or its runtime shut down): its stop hook did not
    /// run and its queue was discarded.
    Killed,
    /// `start` or `handle` returned an error.
    Failed(Arc<dyn Error + Send + Sync>),
    /// A handler (or `start`) panicked; this is the panic message.
    Panicked(Arc<str>),
    /// A linked actor exited abnormally and this actor did not trap the exit.
    LinkDied {
        /// The linked actor.
        id: ActorId,
        /// Why it exited.
        reason: Arc<ExitReason>,
    },
}

impl ExitReason {
    /// Whether this is an orderly exit ([`Normal`](Self::Normal), [`Stopped`](Self::Stopped)
    /// or [`Cancelled`](Self::Cancelled)); a transient child is restarted only when it is not.
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::Normal | Self::Stopped | Self::Cancelled)
    }

    /// The panic message, if the actor panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Self::Panicked(message) => Some(message),
            _ => None,
        }
    }

    pub(crate) fn failed<E: Error + Send + Sync + 'static>(error: E) -> Self {
        Self::Failed(Arc::new(error))
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("normal (all handles dropped)"),
            Self::Stopped => f.write_str("stopped"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Killed => f.write_str("killed"),
            Self::Failed(error) => write!(f, "failed: {error}"),
            Self::Panicked(message) => write!(f, "panicked: {message}"),
            Self::LinkDied { id, reason } => write!(f, "linked actor {id} exited: {reason}"),
        }
    }
}

/// A future that resolves to an actor's [`ExitReason`] once it has fully stopped (its stop hook
/// has run and its state is dropped). Get one with [`ActorRef::monitor`](crate::ActorRef::monitor).
///
/// A monitor does not keep the actor alive, and any number of monitors can watch one actor.
#[must_use = "a monitor does nothing unless awaited"]
pub struct Monitor {
    inner: Pin<Box<dyn Future<Output = ExitReason> + Send>>,
}

impl Monitor {
    pub(crate) fn new(mut exit: watch::Receiver<Option<ExitReason>>) -> Self {
        let inner = Box::pin(async move {
            loop {
                if let Some(reason) = exit.borrow_and_update().clone() {
                    return reason;
                }
                if exit.changed().await.is_err() {
                    // The sender lives in the actor's shared state, which publishes a reason
                    // before it can be dropped; an absent reason can only mean the task vanished.
                    return exit.borrow().clone().unwrap_or(ExitReason::Killed);
                }
            }
        });
        Self { inner }
    }
}

impl Future for Monitor {
    type Output = ExitReason;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitReason> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}
