//! [`Supervisor`]: an actor that starts children, watches them and restarts them by strategy
//! and policy within an intensity limit.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::ops::RangeInclusive;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::child::{ChildInfo, ChildSpec, Restart, StartedChild};
use crate::{
    Actor, ActorConfig, ActorRef, AskError, Context, ExitReason, Reply, SupervisorError,
    WeakActorRef,
};

mod spec;

pub use spec::{Strategy, SupervisorBuilder, SupervisorSpec};

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
///
/// The lifecycle verbs of its handle apply to the whole tree:
/// [`close`](ActorRef::close) (and [`drain`](ActorRef::drain), [`shutdown`](ActorRef::shutdown))
/// closes the children one by one in reverse start order, each given its
/// [`ChildSpec::shutdown_timeout`] before it is aborted; [`abort`](ActorRef::abort) aborts every
/// running child at once. [`ActorRef::metrics`] counts its restarts.
pub struct Supervisor {
    strategy: Strategy,
    max_restarts: u32,
    within: Duration,
    restart_delay: Duration,
    children: Vec<Child>,
    /// When recent restarts happened, oldest first, for the intensity limit.
    restarts: VecDeque<Instant>,
    myself: WeakActorRef<Supervisor>,
}

/// The supervisor's state is dropped with children still running only when it did not stop in
/// order — it was aborted, or its runtime shut down: its children are aborted with it, so they
/// never outlive it. (An orderly stop has already closed them all in its stop hook.)
impl Drop for Supervisor {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            if let Some(running) = child.running.take() {
                running.watcher.abort();
                tracing::debug!(child = %child.spec.name, "supervisor aborted; aborting its child");
                running.child.shared.abort();
            }
        }
    }
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
            // No token: the supervisor closes its children itself, in order, and aborts them if
            // it is aborted (`Drop`).
            token: None,
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

    /// Closes a running child, aborting it after its shutdown timeout.
    async fn stop_child(&mut self, index: usize) {
        let child = &mut self.children[index];
        let Some(running) = &child.running else {
            return;
        };
        running.watcher.abort();
        let shared = Arc::clone(&running.child.shared);
        let exited = shared.monitor();
        shared.close(ExitReason::Stopped);
        // `running` stays in place while the child finishes: if the supervisor is aborted
        // meanwhile, its `Drop` aborts this child too.
        let reason = match tokio::time::timeout(child.spec.shutdown_timeout, exited).await {
            Ok(reason) => reason,
            Err(_) => {
                tracing::warn!(
                    child = %child.spec.name,
                    timeout = ?child.spec.shutdown_timeout,
                    "child did not stop in time; aborting it"
                );
                let exited = shared.monitor();
                shared.abort();
                exited.await
            }
        };
        child.running = None;
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
        ctx: &Context<Self>,
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
        let shared = &ctx.myself().shared;
        if shared.refusing() {
            // Stopping: its stop hook stops the other children; a restart would only be undone,
            // and must not count against the intensity limit either.
            tracing::debug!(child = %child.spec.name, %reason, "child exited; not restarted: the supervisor is stopping");
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
            // A close or abort must not wait out the delay (it may be long): it ends the wait.
            let delay = pin!(tokio::time::sleep(self.restart_delay));
            let stopping = pin!(shared.stop_requested());
            if let Either::Right(_) = select(delay, stopping).await {
                tracing::debug!(
                    children = restart.len(),
                    "restart dropped: the supervisor is stopping"
                );
                return Ok(());
            }
        }
        if shared.refusing() {
            // A stop requested while siblings were being stopped: as above.
            tracing::debug!(
                children = restart.len(),
                "restart dropped: the supervisor is stopping"
            );
            return Ok(());
        }
        shared.counters.restarted(restart.len());
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
        };
        for index in 0..supervisor.children.len() {
            supervisor.start_child(index);
        }
        Ok(supervisor)
    }

    async fn handle(
        &mut self,
        message: SupervisorMessage,
        ctx: &mut Context<Self>,
    ) -> Result<(), Self::Error> {
        match message.0 {
            Request::ChildExited {
                index,
                generation,
                reason,
            } => self.child_exited(ctx, index, generation, reason).await?,
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
    /// [`AskError::Closed`] if the supervisor is closed.
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
