//! Errors: a rejected configuration and a refused spawn.

use std::fmt;

/// A [`Builder`](crate::Builder) setting that [`build`](crate::Builder::build) rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A grace period of zero would abort tasks before they could see their token.
    ZeroGrace {
        /// The phase with the zero grace, or `None` for the default grace.
        phase: Option<String>,
    },
    /// Two phases have the same name, so a group could not tell which one it belongs to.
    DuplicatePhase {
        /// The repeated name.
        name: String,
    },
    /// A phase name is empty or contains `/` (which separates group names in task paths).
    InvalidPhaseName {
        /// The rejected name.
        name: String,
    },
    /// More phases are declared than [`Builder::MAX_PHASES`](crate::Builder::MAX_PHASES).
    TooManyPhases {
        /// How many were declared.
        declared: usize,
        /// The most accepted.
        max: usize,
    },
    /// The wait for aborted tasks ([`Builder::abort_wait`](crate::Builder::abort_wait)) is
    /// zero, which would report tasks that were about to end as abandoned.
    ZeroAbortWait,
    /// [`Builder::max_failure_records`](crate::Builder::max_failure_records) is above
    /// [`Builder::MAX_FAILURE_RECORDS`](crate::Builder::MAX_FAILURE_RECORDS).
    TooManyFailureRecords {
        /// The number asked for.
        requested: usize,
        /// The largest number accepted.
        max: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroGrace { phase: None } => f.write_str(
                "the default grace period is zero; give tasks time to stop, e.g. Duration::from_secs(30)",
            ),
            Self::ZeroGrace { phase: Some(p) } => write!(
                f,
                "phase `{p}` has a grace period of zero; give its tasks time to stop, e.g. Duration::from_secs(10)"
            ),
            Self::DuplicatePhase { name } => write!(
                f,
                "phase `{name}` is declared twice; declare each phase once, in the order phases stop"
            ),
            Self::InvalidPhaseName { name } => write!(
                f,
                "phase name `{name}` is invalid; use a non-empty name without `/`, the name of the group it stops"
            ),
            Self::TooManyPhases { declared, max } => write!(
                f,
                "{declared} phases are declared, more than the limit of {max}; stop related groups in one phase (nest them in one top-level group)"
            ),
            Self::ZeroAbortWait => f.write_str(
                "the wait for aborted tasks is zero; give them time to be dropped, e.g. Duration::from_secs(5)",
            ),
            Self::TooManyFailureRecords { requested, max } => write!(
                f,
                "max_failure_records({requested}) is above the limit of {max}; keep fewer lines (failures beyond them are still counted)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a task could not be spawned. The task's function was not called and nothing ran.
///
/// Unlike the `Closed(T)` errors of the other taskweave crates, it does not hand the task's
/// function back: the function was never called, so no work was lost, and a function type in
/// the error would keep `?` from turning it into a boxed error (closures are neither `Debug`
/// nor, often, `Sync`). A caller that must do the work anyway (say, in a drain loop) keeps
/// what the work needs outside the closure until the spawn has succeeded, and does it inline
/// on [`SpawnErrorKind::Closed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    kind: SpawnErrorKind,
    task: String,
}

/// The reason behind a [`SpawnError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// The coordinator is closed — [`close`](crate::Coordinator::close) or
    /// [`abort`](crate::Coordinator::abort) was called, or shutdown began for another reason
    /// (a signal, a failing task, ...): it takes no new tasks.
    Closed,
    /// `spawn` was called outside a Tokio runtime.
    NoRuntime,
    /// The task's group, or a group it is nested in, has an empty name or one containing
    /// `/`; see [`Group::group`](crate::Group::group).
    InvalidGroupName,
    /// The task's own name is empty or contains `/` (which separates the names in a task's
    /// path, so `a/b` could not be told from task `b` of group `a`).
    InvalidTaskName,
}

impl SpawnError {
    pub(crate) fn new(kind: SpawnErrorKind, task: String) -> Self {
        Self { kind, task }
    }

    /// Why the spawn was refused.
    pub fn kind(&self) -> SpawnErrorKind {
        self.kind
    }

    /// The full path of the refused task (`group/name`).
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Whether the spawn was refused because the coordinator was closed (shutdown had begun).
    pub fn is_closed(&self) -> bool {
        self.kind == SpawnErrorKind::Closed
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SpawnErrorKind::Closed => write!(
                f,
                "task `{}` was not spawned: the coordinator is closed (shutdown has begun); check `is_closed()` before starting new work, or do it inline",
                self.task
            ),
            SpawnErrorKind::NoRuntime => write!(
                f,
                "task `{}` was not spawned: no Tokio runtime is running; spawn from inside the runtime (e.g. in `#[tokio::main]`)",
                self.task
            ),
            SpawnErrorKind::InvalidGroupName => write!(
                f,
                "task `{}` was not spawned: a group on its path has an empty name or one containing `/`; name groups with non-empty names without `/`",
                self.task
            ),
            SpawnErrorKind::InvalidTaskName => write!(
                f,
                "task `{}` was not spawned: its name is empty or contains `/`; name tasks with non-empty names without `/` (use a group for a hierarchy)",
                self.task
            ),
        }
    }
}

impl std::error::Error for SpawnError {}
