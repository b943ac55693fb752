//! Groups of tasks that are cancelled together, and spawning into them.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::error::{SpawnError, SpawnErrorKind};
use crate::gate::Entry;
use crate::metrics::Metrics;
use crate::report::Cause;
use crate::shared::Shared;
use crate::signal::Signal;
use crate::table::TaskId;
use crate::task::{Guard, OnFailure, TaskFuture};

pub(crate) struct GroupInner {
    pub(crate) shared: Arc<Shared>,
    /// Index into `shared.phases`.
    pub(crate) phase: usize,
    /// `parent/child`; empty for the coordinator's root group.
    pub(crate) path: Arc<str>,
    pub(crate) token: CancellationToken,
    /// Whether this is the coordinator's root group.
    is_root: bool,
    /// Whether every name on the path is a valid group name (see [`valid_name`]); tasks are
    /// only spawned into groups with valid paths, so that report paths are unambiguous.
    valid: bool,
}

/// A group or task name must be non-empty and free of `/`, which separates the names in a path.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/')
}

impl GroupInner {
    /// The path of this group's task `name`: `group/name`, or `name` in the root group.
    pub(crate) fn task_path(&self, name: &str) -> String {
        if self.is_root {
            name.to_owned()
        } else {
            format!("{}/{name}", self.path)
        }
    }
}

/// A named set of tasks that are cancelled together, through one [`CancellationToken`].
///
/// A top-level group (from [`Coordinator::group`](crate::Coordinator::group)) stops in the
/// phase of the same name, if the builder declared one, and in the default phase otherwise. A
/// nested group (from [`Group::group`]) stops with its parent: its token is a child of the
/// parent's. Groups are cheap to clone and can be moved into tasks to spawn from inside them.
///
/// [`Coordinator::handle`](crate::Coordinator::handle) gives the root group, whose tasks belong
/// to the coordinator itself.
#[derive(Clone)]
pub struct Group {
    pub(crate) inner: Arc<GroupInner>,
}

impl Group {
    pub(crate) fn root(shared: Arc<Shared>) -> Self {
        let token = shared.phases[0].token.clone();
        Self {
            inner: Arc::new(GroupInner {
                shared,
                phase: 0,
                path: Arc::from(""),
                token,
                is_root: true,
                valid: true,
            }),
        }
    }

    /// A group nested in this one, named `name`, whose tasks are cancelled when this group's are
    /// (or, under the root, when the phase named `name` begins).
    ///
    /// A name must be non-empty and must not contain `/`, which separates the names in task
    /// paths. A group with an invalid name, and every group nested in it, refuses to spawn
    /// tasks with [`SpawnErrorKind::InvalidGroupName`]; its token still works.
    pub fn group(&self, name: &str) -> Group {
        let parent = &self.inner;
        let (phase, token, path) = if parent.is_root {
            let phase = parent.shared.phase_of(name);
            let token = parent.shared.phases[phase].token.child_token();
            (phase, token, Arc::from(name))
        } else {
            let path: Arc<str> = Arc::from(format!("{}/{name}", parent.path));
            (parent.phase, parent.token.child_token(), path)
        };
        Group {
            inner: Arc::new(GroupInner {
                shared: Arc::clone(&parent.shared),
                phase,
                path,
                token,
                is_root: false,
                valid: parent.valid && valid_name(name),
            }),
        }
    }

    /// Spawns the task `name`: calls `task` right away with the group's token and runs the future
    /// it returns on the current Tokio runtime, with the default policy
    /// ([`OnFailure::ShutDown`]). Use [`task`](Self::task) to choose another.
    ///
    /// The task should return soon after its token is cancelled; see the crate docs for what
    /// happens when it does not.
    ///
    /// Like a group's, a task's name must be non-empty and must not contain `/`, so that its
    /// path (`group/name`) names it unambiguously in the report.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the coordinator is closed ([`SpawnErrorKind::Closed`]), when called
    /// outside a Tokio runtime ([`SpawnErrorKind::NoRuntime`]), when the group's name is invalid
    /// ([`SpawnErrorKind::InvalidGroupName`], see [`Group::group`]), or when `name` is empty or
    /// contains `/` ([`SpawnErrorKind::InvalidTaskName`]); `task` is then not called.
    pub fn spawn<F, Fut, E>(
        &self,
        name: impl Into<Cow<'static, str>>,
        task: F,
    ) -> Result<(), SpawnError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        self.task(name).spawn(task)
    }

    /// Starts describing the task `name`, to set its failure policy before spawning it. The
    /// name is checked by [`TaskBuilder::spawn`].
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'_> {
        TaskBuilder {
            group: self,
            name: name.into(),
            on_failure: OnFailure::default(),
        }
    }

    /// The token this group's tasks receive. Hand it to components that are not tasks of the
    /// coordinator (an actor, a pool, a server) so they stop in this group's phase.
    pub fn token(&self) -> CancellationToken {
        self.inner.token.clone()
    }

    /// The group's path (`parent/child`), `""` for the root group.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The name of the phase this group stops in, or `None` for the default phase.
    pub fn phase(&self) -> Option<&str> {
        self.inner.shared.phases[self.inner.phase].name.as_deref()
    }

    /// Closes the whole coordinator: new spawns are refused from now on, and the graceful
    /// shutdown begins ([`Cause::Requested`]) unless it has already begun — phase by phase,
    /// each with its grace period, driven by [`Coordinator::run`](crate::Coordinator::run).
    /// Running tasks are not aborted. Idempotent; returns at once.
    pub fn close(&self) {
        self.inner.shared.close(Cause::Requested);
    }

    /// The hard stop, like a second signal: closes the coordinator if it is not closed yet,
    /// then aborts every task of every phase now, skipping what is left of the grace periods
    /// ([`AbortReason::Requested`](crate::AbortReason::Requested)).
    /// [`run`](crate::Coordinator::run) waits at most the [abort
    /// wait](crate::Builder::abort_wait) for the aborted tasks, then returns a report with
    /// [`was_forced`](crate::Report::was_forced) set. Later spawns are refused. Idempotent;
    /// returns at once.
    pub fn abort(&self) {
        self.inner.shared.abort();
    }

    /// Acts exactly as if the process had received `signal`: the first signal starts the
    /// shutdown ([`Cause::Signal`]) unless it has begun; a signal during shutdown aborts every
    /// remaining task at once if the [`ForceOn`](crate::ForceOn) policy says so (by default:
    /// when it is the second signal received), and is only logged otherwise. The
    /// coordinator's own signal listener makes this same call.
    ///
    /// Use it when the program already owns signal handling (then build the coordinator with
    /// `signals(false)`), or to test the signal path.
    pub fn deliver_signal(&self, signal: Signal) {
        self.inner.shared.deliver_signal(signal);
    }

    /// Whether the coordinator is closed: shutdown has begun, for whatever reason, and new
    /// spawns are refused.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// A snapshot of the whole coordinator's counters (not only this group's).
    pub fn metrics(&self) -> Metrics {
        self.inner.shared.metrics()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("path", &self.path())
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

/// A task about to be spawned, with its options. Made by [`Group::task`] or
/// [`Coordinator::task`](crate::Coordinator::task).
#[must_use = "a TaskBuilder does nothing until `spawn` is called"]
#[derive(Debug)]
pub struct TaskBuilder<'a> {
    group: &'a Group,
    name: Cow<'static, str>,
    on_failure: OnFailure,
}

impl TaskBuilder<'_> {
    /// What the task's failure does to the rest of the service (default:
    /// [`OnFailure::ShutDown`]).
    pub fn on_failure(mut self, policy: OnFailure) -> Self {
        self.on_failure = policy;
        self
    }

    /// Spawns the task: calls `task` right away with the group's token and runs the future it
    /// returns on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the coordinator is closed, when called outside a Tokio runtime, when the
    /// group's name is invalid (see [`Group::group`]), or when the task's name is empty or
    /// contains `/`; `task` is then not called. See [`Group::spawn`].
    pub fn spawn<F, Fut, E>(self, task: F) -> Result<(), SpawnError>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + 'static,
    {
        let group = &self.group.inner;
        let refuse = |kind, name: &str| {
            let task = group.task_path(name);
            tracing::debug!(task = %task, ?kind, "spawn refused");
            group.shared.count_refused();
            SpawnError::new(kind, task)
        };
        if !group.valid {
            return Err(refuse(SpawnErrorKind::InvalidGroupName, &self.name));
        }
        if !valid_name(&self.name) {
            return Err(refuse(SpawnErrorKind::InvalidTaskName, &self.name));
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(refuse(SpawnErrorKind::NoRuntime, &self.name));
        };
        let shared = &group.shared;
        let phase = &shared.phases[group.phase];
        if let Entry::Refused { now_idle } = phase.gate.enter() {
            if now_idle {
                shared.notify_idle();
            }
            return Err(refuse(SpawnErrorKind::Closed, &self.name));
        }
        let seq = shared.count_spawn();
        // From here the guard owns the gate entry: if `task` panics, dropping it leaves.
        let mut guard = Guard {
            group: Arc::clone(group),
            on_failure: self.on_failure,
            settled: false,
            started: false,
            slot: None,
        };
        let future = task(group.token.clone());
        let id = TaskId {
            group: Arc::clone(&group.path),
            name: self.name,
            on_failure: self.on_failure,
        };
        let slot = phase.table.reserve(seq, id);
        guard.slot = Some(slot);
        let handle = runtime.spawn(TaskFuture::new(future, guard)).abort_handle();
        phase.table.store(slot, handle);
        Ok(())
    }
}
