//! The coordinator: the public handle that owns the tasks, closes, aborts and runs.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::{Builder, Settings};
use crate::error::SpawnError;
use crate::group::{Group, TaskBuilder};
use crate::metrics::Metrics;
use crate::phase::Phase;
use crate::report::{Cause, Report};
use crate::run::drive;
use crate::shared::Shared;
use crate::signal::Signal;

/// Owns a service's tasks from start to a clean exit.
///
/// Spawn tasks (directly or in [groups](Self::group)), then await [`run`](Self::run): it waits
/// for the coordinator to close — a signal, [`close`](Self::close), the
/// [cancellation token](Builder::cancellation_token), a failing task, or every task having
/// finished — then stops the phases in order and returns a [`Report`]. See the
/// [crate docs](crate) for the whole lifecycle.
///
/// The lifecycle verbs are those of every taskweave component: [`close`](Self::close) (stop
/// intake, shut down gracefully), [`abort`](Self::abort) (the hard stop),
/// [`is_closed`](Self::is_closed), [`metrics`](Self::metrics), and
/// [`Builder::cancellation_token`]. [`run`](Self::run) is this crate's `drain`: it closes on a
/// trigger and waits, phase by phase within each grace period, returning the report. There is
/// no separate `drain()` or `shutdown(grace)`: `run` owns the coordinator and the grace periods
/// are set per phase on the builder, so they would only repeat it.
///
/// Dropping the coordinator without calling `run` closes it, like [`close`](Self::close): see
/// [`Drop`](#impl-Drop-for-Coordinator).
pub struct Coordinator {
    root: Group,
    /// Set when `run()` takes over; until then, dropping the coordinator closes it.
    consumed: bool,
}

impl Coordinator {
    /// A coordinator with the default configuration (one phase, 30 s grace, signals handled);
    /// see [`Builder::new`].
    pub fn new() -> Self {
        Self::from_shared(Arc::new(Shared::new(
            Box::new([Phase::new(None, Builder::DEFAULT_GRACE)]),
            Settings::default(),
            None,
        )))
    }

    /// Configures phases, grace periods, signal handling and the bounds on waiting and on the
    /// report.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self {
            root: Group::root(shared),
            consumed: false,
        }
    }

    /// The coordinator's root group: a cloneable handle to spawn, close, abort or deliver
    /// signals from anywhere, including from inside tasks. Dropping it (or any group) does not
    /// close the coordinator; dropping the coordinator does.
    pub fn handle(&self) -> Group {
        self.root.clone()
    }

    /// A top-level group named `name`; it stops in the phase of the same name, or in the default
    /// phase if no phase has that name. The name must be non-empty and free of `/`, or the
    /// group refuses to spawn; see [`Group::group`].
    pub fn group(&self, name: &str) -> Group {
        self.root.group(name)
    }

    /// Spawns the task `name` in the root group (the default phase). See [`Group::spawn`].
    ///
    /// # Errors
    ///
    /// [`SpawnError`] when the coordinator is closed, when called outside a Tokio runtime, or
    /// when `name` is empty or contains `/`.
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
        self.root.spawn(name, task)
    }

    /// Starts describing a task of the root group, to set its options. See [`Group::task`].
    pub fn task(&self, name: impl Into<Cow<'static, str>>) -> TaskBuilder<'_> {
        self.root.task(name)
    }

    /// The token of the default phase, an *output*: the coordinator cancels it when the
    /// default phase begins, and the root group's tasks receive it. Hand it to components that
    /// should stop in the default phase. To stop the coordinator from outside with a token,
    /// give that token to [`Builder::cancellation_token`] instead (an *input*).
    pub fn token(&self) -> CancellationToken {
        self.root.token()
    }

    /// Stops accepting new tasks and starts the graceful shutdown ([`Cause::Requested`]),
    /// unless it has begun: later spawns are refused with
    /// [`SpawnErrorKind::Closed`](crate::SpawnErrorKind::Closed), and [`run`](Self::run) stops
    /// the phases in order, each within its grace period. Running tasks are not aborted by
    /// this call. Idempotent; returns at once. See [`Group::close`].
    pub fn close(&self) {
        self.root.close();
    }

    /// The hard stop, like a second signal: closes the coordinator if it is not closed yet and
    /// aborts every task now, in every phase. `run()` waits at most the
    /// [abort wait](Builder::abort_wait) for them, and its report is
    /// [forced](Report::was_forced). Idempotent; returns at once. See [`Group::abort`].
    pub fn abort(&self) {
        self.root.abort();
    }

    /// Acts as if the process had received `signal`. See [`Group::deliver_signal`].
    pub fn deliver_signal(&self, signal: Signal) {
        self.root.deliver_signal(signal);
    }

    /// Whether the coordinator is closed: shutdown has begun (for whatever reason) and spawns
    /// are refused.
    pub fn is_closed(&self) -> bool {
        self.root.is_closed()
    }

    /// A snapshot of the coordinator's counters: tasks running, spawned, finished, failed,
    /// aborted, spawns refused. See [`Metrics`].
    pub fn metrics(&self) -> Metrics {
        self.root.metrics()
    }

    /// Runs until the coordinator closes, stops the phases in order, and reports: this
    /// crate's `drain`.
    ///
    /// With signal handling on (the default), the handlers are registered when this future is
    /// first polled and dropped when it returns.
    ///
    /// Shutdown starts at the first of: a signal, [`close`](Self::close) or
    /// [`abort`](Self::abort), the [cancellation token](Builder::cancellation_token), a task
    /// failing or panicking under [`OnFailure::ShutDown`](crate::OnFailure::ShutDown), or no
    /// task being left (so call it after spawning). Then each phase in turn — the default
    /// phase first, then the declared ones in order — has its token cancelled and its grace
    /// period to finish; tasks still running after it are aborted, named in a `tracing::warn!`
    /// and in the report. By default the second signal received forces the shutdown: every
    /// remaining task is aborted at once (see [`ForceOn`](crate::ForceOn)), as
    /// [`abort`](Self::abort) does.
    ///
    /// Every wait after the trigger is bounded: a phase lasts at most its grace period plus
    /// the [abort wait](Builder::abort_wait); a task that does not end even after being aborted
    /// is reported as [`Outcome::Abandoned`](crate::Outcome::Abandoned) and left behind.
    ///
    /// # Panics
    ///
    /// Panics if the runtime has no time driver (the grace periods need it): build it with
    /// `enable_all()` or `enable_time()`, as `#[tokio::main]` does.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future before it completes aborts every task that is
    /// still running, refuses later spawns (as after [`close`](Self::close)), and loses the
    /// report, like dropping a `JoinSet`.
    pub async fn run(self) -> Report {
        drive(self.into_shared(), true).await
    }

    /// Hands the state over to `run()`: dropping `self` then no longer closes it.
    fn into_shared(mut self) -> Arc<Shared> {
        self.consumed = true;
        Arc::clone(&self.root.inner.shared)
    }
}

impl Default for Coordinator {
    fn default() -> Self {
        Self::new()
    }
}

/// Dropping a coordinator without calling [`run`](Coordinator::run) closes it, as
/// [`close`](Coordinator::close) does: spawns are refused and the graceful shutdown runs —
/// inside a Tokio runtime, in a task of its own that stops the phases in order with their grace
/// periods and aborts the stragglers, exactly as `run()` would, without listening for signals;
/// its report is logged (`tracing::warn!` if unclean) since nobody can receive it. Dropped
/// outside a runtime, it cancels every phase's token at once, and nothing enforces the grace
/// periods. (Dropping `run()`'s future instead aborts every task: see its `# Cancel safety`.)
impl Drop for Coordinator {
    fn drop(&mut self) {
        if self.consumed {
            return;
        }
        let shared = Arc::clone(&self.root.inner.shared);
        shared.close(Cause::Requested);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            tracing::debug!("coordinator dropped without run(): closing it in the background");
            runtime.spawn(async move {
                let report = drive(shared, false).await;
                if report.is_clean() {
                    tracing::debug!(%report, "shutdown of a dropped coordinator complete");
                } else {
                    tracing::warn!(%report, "shutdown of a dropped coordinator complete");
                }
            });
        } else {
            tracing::warn!(
                "coordinator dropped outside a Tokio runtime without run(): every phase's token \
                 is cancelled at once, and nothing enforces the grace periods"
            );
            for phase in &*shared.phases {
                phase.token.cancel();
            }
        }
    }
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("shared", &self.root.inner.shared)
            .finish()
    }
}
