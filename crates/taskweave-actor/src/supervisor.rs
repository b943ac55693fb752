//! [`Supervisor`]: an actor that starts children, watches them and restarts them by strategy
//! and policy within an intensity limit.

use std::any::Any;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::child::{ChildInfo, ChildSpec, Restart, StartedChild};
use crate::config::check_mailbox_capacity;
use crate::shared::StopMode;
use crate::{
    Actor, ActorConfig, ActorRef, AskError, ConfigError, Context, ExitReason, Reply,
    SupervisorError, WeakActorRef,
};

/// Which children restart when one of them must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// Only the child that exited.
    #[default]
    OneForOne,
    /// Every child: the others are stopped (in reverse start order) and all start again in
    /// order. For children that only make sense together.
    OneForAll,
    /// The child that exited and every child started after it. For pipelines, where later
    /// children depend on earlier ones.
    RestForOne,
}

/// A validated supervisor configuration: the [`Args`](Actor::Args) of a [`Supervisor`].
#[derive(Debug)]
pub struct SupervisorSpec {
    strategy: Strategy,
    max_restarts: u32,
    within: Duration,
    restart_delay: Duration,
    children: Vec<ChildSpec>,
}

/// Builds a [`SupervisorSpec`]; [`build`](SupervisorBuilder::build) validates it.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SupervisorBuilder {
    spec: SupervisorSpec,
}

impl SupervisorBuilder {
    /// Sets the restart strategy (default [`Strategy::OneForOne`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.spec.strategy = strategy;
        self
    }

    /// Allows at most `max_restarts` restarts within `within` (default 3 within 5 s); one more
    /// and the supervisor stops its children and fails with
    /// [`SupervisorError::RestartIntensity`]. A one-for-all or rest-for-one restart counts once.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.spec.max_restarts = max_restarts;
        self.spec.within = within;
        self
    }

    /// Waits `delay` before each restart (default: none). The supervisor answers no queries
    /// meanwhile.
    pub fn restart_delay(mut self, delay: Duration) -> Self {
        self.spec.restart_delay = delay;
        self
    }

    /// Adds a child; children start in the order they are added and stop in reverse.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.spec.children.push(child);
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroRestartWindow`] if the intensity window is zero,
    /// [`ConfigError::EmptyChildName`] or [`ConfigError::DuplicateChild`] if the children
    /// cannot be told apart by name, [`ConfigError::MailboxTooLarge`] if a child's mailbox
    /// capacity exceeds what a Tokio channel can hold.
    pub fn build(self) -> Result<SupervisorSpec, ConfigError> {
        if self.spec.within.is_zero() {
            return Err(ConfigError::ZeroRestartWindow);
        }
        let mut names = HashSet::new();
        for child in &self.spec.children {
            if child.name.is_empty() {
                return Err(ConfigError::EmptyChildName);
            }
            // Checked here: the child's mailbox is only made when the supervisor (re)starts
            // it, where a bad capacity would be a panic inside the supervisor.
            check_mailbox_capacity(child.mailbox_capacity)?;
            if !names.insert(Arc::clone(&child.name)) {
                return Err(ConfigError::DuplicateChild {
                    name: child.name.to_string(),
                });
            }
        }
        Ok(self.spec)
    }
}

/// An actor that supervises other actors.
///
/// Spawn it like any actor, with a [`SupervisorSpec`] as its arguments:
/// `Supervisor::spawn(Supervisor::builder().child(..).build()?)`. It starts its children in
/// order, restarts them according to its [`Strategy`] and each child's [`Restart`] policy, and
/// stops them in reverse order when it stops. Supervisors nest: a supervisor can be the child of
/// another (see [`Supervisor::child_spec`]).
///
/// The supervisor keeps its children alive (it holds a strong handle to each); reach a child
/// through [`ActorRef::<Supervisor>::child`](ActorRef::child), which returns the current
/// instance after restarts.
pub struct Supervisor {
    strategy: Strategy,
    max_restarts: u32,
    within: Duration,
    restart_delay: Duration,
    children: Vec<Child>,
    /// When recent restarts happened, oldest first, for the intensity limit.
    restarts: VecDeque<Instant>,
    myself: WeakActorRef<Supervisor>,
    /// Children are spawned with this token; the guard cancels it if the supervisor's state is
    /// dropped without an orderly stop (killed), so children never outlive their supervisor.
    children_token: CancellationToken,
    _children_guard: DropGuard,
}

struct Child {
    spec: ChildSpec,
    running: Option<Running>,
    /// Bumped at every start, so that exit notices of an earlier instance are recognised.
    generation: u64,
    restarts: u32,
    last_exit: Option<ExitReason>,
}

struct Running {
    child: StartedChild,
    watcher: AbortHandle,
}

/// The mailbox type of a [`Supervisor`]; opaque, use the methods on `ActorRef<Supervisor>`.
pub struct SupervisorMessage(Request);

enum Request {
    ChildExited {
        index: usize,
        generation: u64,
        reason: ExitReason,
    },
    Children(Reply<Vec<ChildInfo>>),
    Child {
        name: String,
        reply: Reply<Option<Box<dyn Any + Send>>>,
    },
}

impl fmt::Debug for SupervisorMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0 {
            Request::ChildExited { .. } => "ChildExited",
            Request::Children(_) => "Children",
            Request::Child { .. } => "Child",
        };
        f.debug_tuple("SupervisorMessage").field(&kind).finish()
    }
}

impl Supervisor {
    /// Starts a supervisor configuration with the defaults: one-for-one, at most 3 restarts
    /// within 5 seconds, no restart delay, no children.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
            spec: SupervisorSpec {
                strategy: Strategy::default(),
                max_restarts: 3,
                within: Duration::from_secs(5),
                restart_delay: Duration::ZERO,
                children: Vec::new(),
            },
        }
    }

    /// A child spec that runs a nested supervisor built by `spec()` on every (re)start.
    pub fn child_spec<F>(name: impl Into<String>, spec: F) -> ChildSpec
    where
        F: FnMut() -> SupervisorSpec + Send + 'static,
    {
        ChildSpec::new::<Self, F>(name, spec)
    }

    fn start_child(&mut self, index: usize) {
        let child = &mut self.children[index];
        let config = ActorConfig {
            name: Some(Arc::clone(&child.spec.name)),
            mailbox_capacity: child.spec.mailbox_capacity,
            token: Some(self.children_token.clone()),
        };
        let started = (child.spec.start)(&config);
        child.generation += 1;
        let generation = child.generation;
        let exited = started.shared.monitor();
        let supervisor = self.myself.clone();
        let watcher = tokio::spawn(async move {
            let reason = exited.await;
            if let Some(supervisor) = supervisor.upgrade() {
                let notice = SupervisorMessage(Request::ChildExited {
                    index,
                    generation,
                    reason,
                });
                // Refused only when the supervisor is stopping, and then it stops its children
                // itself.
                let _ = supervisor.tell(notice).await;
            }
        })
        .abort_handle();
        tracing::debug!(child = %child.spec.name, child.id = %started.shared.id, "child started");
        child.running = Some(Running {
            child: started,
            watcher,
        });
    }

    /// Stops a running child gracefully, killing it after its shutdown timeout.
    async fn stop_child(&mut self, index: usize) {
        let child = &mut self.children[index];
        let Some(running) = child.running.take() else {
            return;
        };
        running.watcher.abort();
        let shared = Arc::clone(&running.child.shared);
        let exited = shared.monitor();
        shared.stop(StopMode::Graceful, ExitReason::Stopped);
        drop(running);
        let reason = match tokio::time::timeout(child.spec.shutdown_timeout, exited).await {
            Ok(reason) => reason,
            Err(_) => {
                tracing::warn!(
                    child = %child.spec.name,
                    timeout = ?child.spec.shutdown_timeout,
                    "child did not stop in time; killing it"
                );
                let exited = shared.monitor();
                shared.kill();
                exited.await
            }
        };
        child.last_exit = Some(reason);
    }

    /// Records a restart, or reports that the intensity limit is exceeded.
    fn count_restart(&mut self) -> Result<(), SupervisorError> {
        let now = Instant::now();
        while let Some(&oldest) = self.restarts.front() {
            if now.duration_since(oldest) > self.within {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() >= self.max_restarts as usize {
            return Err(SupervisorError::RestartIntensity {
                max_restarts: self.max_restarts,
                within: self.within,
            });
        }
        self.restarts.push_back(now);
        Ok(())
    }

    fn affected(&self, index: usize) -> RangeInclusive<usize> {
        let last = self.children.len() - 1;
        match self.strategy {
            Strategy::OneForOne => index..=index,
            Strategy::OneForAll => 0..=last,
            Strategy::RestForOne => index..=last,
        }
    }

    async fn child_exited(
        &mut self,
        index: usize,
        generation: u64,
        reason: ExitReason,
    ) -> Result<(), SupervisorError> {
        let Some(child) = self.children.get_mut(index) else {
            return Ok(());
        };
        if child.generation != generation || child.running.is_none() {
            // An instance the supervisor stopped itself, or one already replaced.
            return Ok(());
        }
        child.running = None;
        child.last_exit = Some(reason.clone());
        if !child.spec.restart.restarts_after(&reason) {
            tracing::debug!(child = %child.spec.name, %reason, "child exited; not restarted (policy)");
            return Ok(());
        }
        tracing::warn!(child = %child.spec.name, %reason, strategy = ?self.strategy, "child exited; restarting");
        if let Err(error) = self.count_restart() {
            tracing::warn!(%error, "restart intensity exceeded; supervisor gives up");
            return Err(error);
        }

        let affected = self.affected(index);
        let mut restart = Vec::new();
        for sibling in affected.rev() {
            if sibling == index {
                restart.push(index);
            } else if self.children[sibling].running.is_some() {
                self.stop_child(sibling).await;
                if self.children[sibling].spec.restart != Restart::Temporary {
                    restart.push(sibling);
                }
            }
        }
        if !self.restart_delay.is_zero() {
            tokio::time::sleep(self.restart_delay).await;
        }
        for &sibling in restart.iter().rev() {
            self.start_child(sibling);
            let child = &mut self.children[sibling];
            child.restarts += 1;
            tracing::info!(child = %child.spec.name, restarts = child.restarts, "child restarted");
        }
        Ok(())
    }
}

impl Actor for Supervisor {
    type Args = SupervisorSpec;
    type Message = SupervisorMessage;
    type Error = SupervisorError;

    async fn start(spec: SupervisorSpec, ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
        let children_token = CancellationToken::new();
        let mut supervisor = Self {
            strategy: spec.strategy,
            max_restarts: spec.max_restarts,
            within: spec.within,
            restart_delay: spec.restart_delay,
            children: spec
                .children
                .into_iter()
                .map(|spec| Child {
                    spec,
                    running: None,
                    generation: 0,
                    restarts: 0,
                    last_exit: None,
                })
                .collect(),
            restarts: VecDeque::new(),
            myself: ctx.myself().clone(),
            _children_guard: children_token.clone().drop_guard(),
            children_token,
        };
        for index in 0..supervisor.children.len() {
            supervisor.start_child(index);
        }
        Ok(supervisor)
    }

    async fn handle(
        &mut self,
        message: SupervisorMessage,
        _ctx: &mut Context<Self>,
    ) -> Result<(), Self::Error> {
        match message.0 {
            Request::ChildExited {
                index,
                generation,
                reason,
            } => self.child_exited(index, generation, reason).await?,
            Request::Children(reply) => {
                let infos = self
                    .children
                    .iter()
                    .map(|child| ChildInfo {
                        name: child.spec.name.to_string(),
                        id: child.running.as_ref().map(|r| r.child.shared.id),
                        restarts: child.restarts,
                        last_exit: child.last_exit.clone(),
                    })
                    .collect();
                let _ = reply.send(infos);
            }
            Request::Child { name, reply } => {
                let handle = self
                    .children
                    .iter()
                    .find(|child| *child.spec.name == *name)
                    .and_then(|child| child.running.as_ref())
                    .map(|running| running.child.handle.clone_any());
                let _ = reply.send(handle);
            }
        }
        Ok(())
    }

    async fn stop(&mut self, reason: &ExitReason, _ctx: &mut Context<Self>) {
        tracing::debug!(%reason, "supervisor stopping its children");
        for index in (0..self.children.len()).rev() {
            self.stop_child(index).await;
        }
    }
}

impl ActorRef<Supervisor> {
    /// The current instance of the child named `name`, if it is an `A`.
    ///
    /// `None` if there is no such child, it is of another type, it is not running right now
    /// (exited and not restarted, or between a stop and a restart), or the supervisor is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only drops the answer.
    pub async fn child<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        let name = name.to_owned();
        let handle = self
            .ask(|reply| SupervisorMessage(Request::Child { name, reply }))
            .await
            .ok()??;
        handle.downcast::<ActorRef<A>>().ok().map(|actor| *actor)
    }

    /// A snapshot of every child, in start order.
    ///
    /// # Errors
    ///
    /// [`AskError::Closed`] if the supervisor is stopping or stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only drops the answer.
    pub async fn children(&self) -> Result<Vec<ChildInfo>, AskError<SupervisorMessage>> {
        self.ask(|reply| SupervisorMessage(Request::Children(reply)))
            .await
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}
