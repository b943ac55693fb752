//! A snapshot of the coordinator's counters.

/// What the coordinator has run so far, from
/// [`Coordinator::metrics`](crate::Coordinator::metrics) or
/// [`Group::metrics`](crate::Group::metrics).
///
/// Each counter is read on its own, so a snapshot taken while tasks start and end is not one
/// instant: `finished` may lag behind by the tasks starting or ending during the read, never
/// run ahead. Completing tasks cost no counter of their own (`finished` is derived from the
/// phases' live counts), so the spawn path stays as cheap as a `TaskTracker`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Tasks running now, in every phase: spawned and not yet ended (including
    /// [abandoned](crate::Outcome::Abandoned) tasks whose blocked thread has not returned).
    pub running: usize,
    /// Tasks admitted so far.
    pub spawned: u64,
    /// Tasks that have ended so far, however they ended: `spawned - running`.
    pub finished: u64,
    /// Tasks that returned an error or panicked, under any [`OnFailure`](crate::OnFailure)
    /// policy, while running or during shutdown.
    pub failed: u64,
    /// Tasks dropped before they ended: aborted after a grace period, by a forced shutdown or
    /// [`abort`](crate::Coordinator::abort), or because `run()` or the runtime was dropped.
    pub aborted: u64,
    /// Spawns refused (the coordinator was closed, no runtime, or an invalid name); their
    /// functions were not called.
    pub refused: u64,
    /// Whether the coordinator is closed (shutdown has begun).
    pub closed: bool,
    /// Whether the shutdown was forced (by a signal or [`abort`](crate::Coordinator::abort)).
    pub forced: bool,
}
