//! [`ChildSpec`]: how a supervisor starts (and restarts) one child, and [`Restart`] policies.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::shared::Shared;
use crate::{Actor, ActorConfig, ActorId, ActorRef, ExitReason};

/// When a supervisor restarts a child that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Restart {
    /// Always: the child is meant to run for as long as its supervisor.
    #[default]
    Permanent,
    /// Only after an abnormal exit (failure, panic, abort, linked death); an orderly stop is
    /// final.
    Transient,
    /// Never: the child runs once. A sibling's restart does not bring it back either.
    Temporary,
}

impl Restart {
    pub(crate) fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => !reason.is_normal(),
            Self::Temporary => false,
        }
    }
}

/// A running child, type-erased so one supervisor can hold actors of different types.
pub(crate) struct StartedChild {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: Box<dyn ErasedRef>,
}

pub(crate) trait ErasedRef: Send + Sync {
    fn clone_any(&self) -> Box<dyn Any + Send>;
}

impl<A: Actor> ErasedRef for ActorRef<A> {
    fn clone_any(&self) -> Box<dyn Any + Send> {
        Box::new(self.clone())
    }
}

type StartFn = Box<dyn FnMut(&ActorConfig) -> StartedChild + Send>;

/// How a supervisor starts one child: its actor type, a factory for its start arguments
/// (called again on every restart), its restart policy, mailbox and shutdown timeout.
pub struct ChildSpec {
    pub(crate) name: Arc<str>,
    pub(crate) restart: Restart,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) mailbox_capacity: usize,
    pub(crate) start: StartFn,
}

impl ChildSpec {
    /// The default time a child gets to stop gracefully before it is aborted.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

    /// A [`Restart::Permanent`] child of type `A` named `name`, started with `args()` each
    /// time it (re)starts.
    pub fn new<A, F>(name: impl Into<String>, mut args: F) -> Self
    where
        A: Actor,
        F: FnMut() -> A::Args + Send + 'static,
    {
        Self {
            name: Arc::from(name.into()),
            restart: Restart::default(),
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            mailbox_capacity: ActorConfig::DEFAULT_MAILBOX_CAPACITY,
            start: Box::new(move |config| {
                let actor = A::spawn_with(args(), config);
                StartedChild {
                    shared: Arc::clone(&actor.shared),
                    handle: Box::new(actor),
                }
            }),
        }
    }

    /// Sets the restart policy (default [`Restart::Permanent`]).
    #[must_use]
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets how long the child may take to stop gracefully before it is aborted (default 5 s).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the child's mailbox capacity (default 256). [`SupervisorBuilder::build`] rejects
    /// zero and one above [`ActorConfig::MAX_MAILBOX_CAPACITY`], as
    /// [`ActorConfigBuilder::build`] does.
    ///
    /// [`SupervisorBuilder::build`]: crate::SupervisorBuilder::build
    /// [`ActorConfigBuilder::build`]: crate::ActorConfigBuilder::build
    #[must_use]
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("mailbox_capacity", &self.mailbox_capacity)
            .finish_non_exhaustive()
    }
}

/// A snapshot of one child, from [`ActorRef::<Supervisor>::children`](crate::ActorRef::children).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChildInfo {
    /// The child's name.
    pub name: String,
    /// The id of the running instance, `None` while it is not running.
    pub id: Option<ActorId>,
    /// How many times the supervisor has restarted it.
    pub restarts: u32,
    /// Why its previous instance exited, if one did.
    pub last_exit: Option<ExitReason>,
}
