//! Where a phase keeps each live task's `AbortHandle` (to abort it after the grace period) and
//! name, and each ended task's record, sharded so that spawners and ending tasks rarely meet on
//! a lock.
//!
//! A task takes its own handle out of the table when it ends, on the worker that ran it, so a
//! finished task's memory is freed at once, where it is still in cache — not later, in one long
//! sweep by the coordinator. The name sits here rather than in the task, so that a task that
//! never ends (its thread is blocked) can still be named in the report. A task that ends with a
//! line for the report leaves the line in its own entry, which the coordinator collects when
//! the phase is over: the ending task writes only memory that no other task writes. A task that
//! ends without a line (while the service runs) frees its entry for the next task.
//!
//! At shutdown every task's end reads and writes its entry, and the entries were last written
//! by the spawners, long before: that memory traffic, not the locks, is most of what the table
//! costs. Two choices keep it small. An entry fills one cache line, no more (a completed task's
//! line is kept in a compact form, see [`Line`]). And consecutive spawns share a shard, runs of
//! [`RUN`], so that tasks ending in about the order they were spawned walk each shard's entries
//! in order rather than hop between sixteen arrays.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use tokio::task::AbortHandle;

use crate::report::{AbortReason, Outcome, TaskReport};
use crate::task::OnFailure;

const SHARDS: usize = 16;

/// How many consecutive spawns go to the same shard before the next shard's turn.
const RUN: u64 = 16;

/// Where a task's handle sits: shard and index within it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    shard: u32,
    index: u32,
}

/// Who a task is: what its line in the report needs besides how it ended.
#[derive(Debug)]
pub(crate) struct TaskId {
    /// The group's path; `""` for the coordinator's own tasks.
    pub(crate) group: Arc<str>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) on_failure: OnFailure,
}

impl TaskId {
    /// `group/name`, or `name` for the coordinator's own tasks.
    pub(crate) fn path(&self) -> String {
        if self.group.is_empty() {
            self.name.clone().into_owned()
        } else {
            format!("{}/{}", self.group, self.name)
        }
    }

    /// The task's line in the report.
    pub(crate) fn into_record(
        self,
        outcome: Outcome,
        shutdown_duration: Option<Duration>,
    ) -> TaskReport {
        TaskReport {
            group: self.group,
            name: self.name,
            outcome,
            on_failure: self.on_failure,
            shutdown_duration,
        }
    }
}

/// A task's line in the report while it waits in the table, in a form that keeps an entry within
/// one cache line: a completed task's line (by far the most common at shutdown) is its
/// identity and its time to stop; any other line is boxed.
#[derive(Debug)]
enum Line {
    Completed {
        id: TaskId,
        /// The time to stop in nanoseconds; `u64::MAX` for none (ended before its phase began).
        stop_nanos: u64,
    },
    Other(Box<TaskReport>),
}

impl Line {
    fn new(record: TaskReport) -> Self {
        match record.outcome {
            Outcome::Completed => Self::Completed {
                stop_nanos: record.shutdown_duration.map_or(u64::MAX, |d| {
                    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
                }),
                id: TaskId {
                    group: record.group,
                    name: record.name,
                    on_failure: record.on_failure,
                },
            },
            _ => Self::Other(Box::new(record)),
        }
    }

    fn into_record(self) -> TaskReport {
        match self {
            Self::Completed { id, stop_nanos } => id.into_record(
                Outcome::Completed,
                (stop_nanos != u64::MAX).then(|| Duration::from_nanos(stop_nanos)),
            ),
            Self::Other(record) => *record,
        }
    }
}

/// One slot of a shard, on a cache line of its own (see the module's documentation).
#[derive(Debug)]
#[repr(align(64))]
enum Entry {
    Vacant,
    /// Reserved by a spawner that has not stored the handle yet.
    Reserved(TaskId),
    /// Reserved, and the task already ended (with its line, if it has one): the spawner turns
    /// it into `Done` or vacates it.
    Ended(Option<Line>),
    /// The task's abort handle: all the table ever does with a task is abort it, and an abort
    /// handle, unlike a `JoinHandle`, costs the ending task nothing to give up (no join
    /// interest to withdraw, no waker slot to clear at the far end of the task's memory).
    Running(AbortHandle, TaskId),
    /// Ended with a line for the report, not collected yet.
    Done(Line),
    /// Reported as abandoned while the task still ran (the line, until collected): nothing
    /// more is filed for it. Never reused (no task is admitted after shutdown began).
    Abandoned(Option<Line>),
}

#[derive(Debug, Default)]
struct Shard {
    entries: Vec<Entry>,
    vacant: Vec<u32>,
    /// Set by `abort_all`: handles stored from now on are aborted at once.
    aborted: bool,
}

#[derive(Debug)]
pub(crate) struct TaskTable {
    /// Each shard on cache lines of its own, so that two shards (or a shard and the phase's
    /// gate) never slow each other down by sharing a line.
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard lock; should a handle's drop ever do so, the
    // shard is still consistent, so keep going rather than lose the records.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TaskTable {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| CachePadded::default()).collect(),
        }
    }

    /// Reserves a slot for the task `id`, about to be spawned; `seq` (the spawn count) picks
    /// the shard.
    pub(crate) fn reserve(&self, seq: u64, id: TaskId) -> Slot {
        let shard_index = ((seq / RUN) % SHARDS as u64) as usize;
        let mut shard = lock(&self.shards[shard_index]);
        let index = match shard.vacant.pop() {
            Some(index) => {
                shard.entries[index as usize] = Entry::Reserved(id);
                index
            }
            None => {
                shard.entries.push(Entry::Reserved(id));
                // A shard holds at most the live tasks of its phase; u32 is plenty.
                (shard.entries.len() - 1) as u32
            }
        };
        Slot {
            shard: shard_index as u32,
            index,
        }
    }

    /// Stores the handle of the task spawned into `slot` (aborting it if the phase already was).
    pub(crate) fn store(&self, slot: Slot, handle: AbortHandle) {
        let mut shard = lock(&self.shards[slot.shard as usize]);
        let i = slot.index as usize;
        match std::mem::replace(&mut shard.entries[i], Entry::Vacant) {
            Entry::Reserved(id) => {
                let abort = shard.aborted.then(|| handle.clone());
                shard.entries[i] = Entry::Running(handle, id);
                drop(shard);
                // Outside the lock: whatever aborting does, it must not re-enter this shard.
                if let Some(abort) = abort {
                    abort.abort();
                }
            }
            Entry::Ended(Some(line)) => {
                // The task ended before its handle was stored (it was dropped at once, say
                // because the runtime is shutting down): only its line is left to keep.
                shard.entries[i] = Entry::Done(line);
                drop(shard);
                drop(handle);
            }
            Entry::Ended(None) | Entry::Vacant => {
                shard.vacant.push(slot.index);
                drop(shard);
                drop(handle);
            }
            other @ (Entry::Abandoned(_) | Entry::Running(..) | Entry::Done(_)) => {
                shard.entries[i] = other;
                drop(shard);
                drop(handle);
            }
        }
    }

    /// Called by a task as it ends: hands its identity to `file`, which runs under the shard's
    /// lock and returns the task's line, if it has one, and what the caller wants back (dropped
    /// outside the lock). The line stays in the task's entry until `take_records`; without one
    /// the entry is vacated at once. Returns `None` if the task was already reported as
    /// abandoned.
    pub(crate) fn release<R>(
        &self,
        slot: Slot,
        file: impl FnOnce(TaskId) -> (Option<TaskReport>, R),
    ) -> Option<R> {
        let (handle, back) = {
            let mut shard = lock(&self.shards[slot.shard as usize]);
            let i = slot.index as usize;
            let (handle, id) = match std::mem::replace(&mut shard.entries[i], Entry::Vacant) {
                Entry::Running(handle, id) => (Some(handle), id),
                Entry::Reserved(id) => (None, id),
                other => {
                    shard.entries[i] = other;
                    return None;
                }
            };
            let (record, back) = file(id);
            let line = record.map(Line::new);
            shard.entries[i] = match (handle.is_some(), line) {
                (true, Some(line)) => Entry::Done(line),
                (true, None) => {
                    shard.vacant.push(slot.index);
                    Entry::Vacant
                }
                // Ended before the spawner stored the handle: the spawner settles the entry.
                (false, line) => Entry::Ended(line),
            };
            (handle, back)
        };
        // Outside the lock: dropping our own handle is cheap (the task is still ending), but
        // it need not hold anyone up.
        drop(handle);
        Some(back)
    }

    /// Files an `Abandoned` line for every task still in the table (aborted, yet still
    /// running) and stops waiting for them: their own end later files nothing. Returns how
    /// many there were.
    pub(crate) fn abandon(&self, reason: AbortReason, shutdown_duration: Duration) -> usize {
        let mut abandoned = 0;
        for shard in &*self.shards {
            let handles: Vec<AbortHandle> = {
                let mut shard = lock(shard);
                let mut handles = Vec::new();
                for entry in &mut shard.entries {
                    let (handle, id) = match std::mem::replace(entry, Entry::Vacant) {
                        Entry::Running(handle, id) => (Some(handle), id),
                        Entry::Reserved(id) => (None, id),
                        other => {
                            *entry = other;
                            continue;
                        }
                    };
                    handles.extend(handle);
                    let record =
                        id.into_record(Outcome::Abandoned(reason), Some(shutdown_duration));
                    *entry = Entry::Abandoned(Some(Line::new(record)));
                    abandoned += 1;
                }
                handles
            };
            // Outside the lock, and detaching only: the tasks are left to end when they can.
            drop(handles);
        }
        abandoned
    }

    /// Aborts every task in the table, and any stored later.
    pub(crate) fn abort_all(&self) {
        for shard in &*self.shards {
            let running: Vec<_> = {
                let mut shard = lock(shard);
                shard.aborted = true;
                shard
                    .entries
                    .iter()
                    .filter_map(|entry| match entry {
                        Entry::Running(handle, _) => Some(handle.clone()),
                        _ => None,
                    })
                    .collect()
            };
            // Outside the lock: an aborted task files its record in this shard.
            for task in running {
                task.abort();
            }
        }
    }

    /// Moves every line filed so far to the end of `into`, in the order the tasks were
    /// spawned within each shard.
    pub(crate) fn take_records(&self, into: &mut Vec<TaskReport>) {
        for shard in &*self.shards {
            let shard = &mut *lock(shard);
            // At most one line per occupied entry.
            into.reserve(shard.entries.len() - shard.vacant.len());
            // Only the entries holding a line are rewritten: the sweep runs while the
            // coordinator waits, over every slot of the phase.
            for (index, entry) in shard.entries.iter_mut().enumerate() {
                match entry {
                    Entry::Done(_) => {
                        let Entry::Done(line) = std::mem::replace(entry, Entry::Vacant) else {
                            continue;
                        };
                        into.push(line.into_record());
                        shard.vacant.push(index as u32);
                    }
                    Entry::Abandoned(line) => into.extend(line.take().map(Line::into_record)),
                    _ => {}
                }
            }
        }
    }

    /// How many tasks hold a slot (for tests and debugging).
    #[cfg(test)]
    pub(crate) fn occupied(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = lock(s);
                s.entries.len() - s.vacant.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(name: &'static str) -> TaskId {
        TaskId {
            group: Arc::from("workers"),
            name: Cow::Borrowed(name),
            on_failure: OnFailure::ShutDown,
        }
    }

    fn no_line(_: TaskId) -> (Option<TaskReport>, ()) {
        (None, ())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn ended_tasks_vacate_their_slots_for_reuse() {
        let table = TaskTable::new();
        for seq in 0..1_000 {
            let slot = table.reserve(seq, id("t"));
            let handle = tokio::spawn(async {});
            table.store(slot, handle.abort_handle());
            tokio::task::yield_now().await; // the task runs and ends
            table.release(slot, no_line);
        }
        assert_eq!(table.occupied(), 0);
        let entries: usize = table.shards.iter().map(|s| lock(s).entries.len()).sum();
        assert!(
            entries <= SHARDS,
            "{entries} entries for at most one live task"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_ending_before_its_handle_is_stored_leaves_no_slot_behind() {
        let table = TaskTable::new();
        let slot = table.reserve(7, id("t"));
        table.release(slot, no_line);
        table.store(slot, tokio::spawn(async {}).abort_handle());
        assert_eq!(table.occupied(), 0);
    }

    fn completed(id: TaskId) -> (Option<TaskReport>, ()) {
        (Some(id.into_record(Outcome::Completed, None)), ())
    }

    fn collect(table: &TaskTable) -> Vec<String> {
        let mut records = Vec::new();
        table.take_records(&mut records);
        let mut lines: Vec<String> = records.iter().map(ToString::to_string).collect();
        lines.sort();
        lines
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lines_wait_in_their_slots_and_are_collected_once() {
        let table = TaskTable::new();
        for seq in 0..100 {
            let slot = table.reserve(seq, id(if seq % 2 == 0 { "even" } else { "odd" }));
            table.store(slot, tokio::spawn(async {}).abort_handle());
            // Odd tasks end with a line (as during shutdown), even ones without.
            if seq % 2 == 0 {
                table.release(slot, no_line);
            } else {
                table.release(slot, completed);
            }
        }
        // The lines keep their slots until collected; the others are free.
        assert_eq!(table.occupied(), 50);
        let lines = collect(&table);
        assert_eq!(lines.len(), 50);
        assert!(lines.iter().all(|line| line == "workers/odd"));
        assert_eq!(table.occupied(), 0);
        assert!(collect(&table).is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_line_filed_before_the_handle_is_stored_is_kept() {
        let table = TaskTable::new();
        let slot = table.reserve(3, id("early"));
        table.release(slot, completed);
        table.store(slot, tokio::spawn(async {}).abort_handle());
        assert_eq!(collect(&table), ["workers/early"]);
        assert_eq!(table.occupied(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn abandoned_tasks_are_reported_once_and_file_nothing_later() {
        let table = TaskTable::new();
        let running = table.reserve(0, id("running"));
        table.store(
            running,
            tokio::spawn(std::future::pending::<()>()).abort_handle(),
        );
        let unstored = table.reserve(1, id("unstored"));
        let ended = table.reserve(2, id("ended"));
        table.store(ended, tokio::spawn(async {}).abort_handle());
        table.release(ended, no_line);

        let abandoned = table.abandon(AbortReason::SecondSignal, Duration::from_secs(5));

        assert_eq!(abandoned, 2);
        let mut records = Vec::new();
        table.take_records(&mut records);
        let mut names: Vec<String> = records
            .iter()
            .map(|r| {
                assert_eq!(r.outcome, Outcome::Abandoned(AbortReason::SecondSignal));
                r.to_string()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["workers/running", "workers/unstored"]);
        // Their ends, whenever they come, file nothing more.
        table.store(unstored, tokio::spawn(async {}).abort_handle());
        for slot in [running, unstored] {
            let line = table.release(slot, |id| {
                (Some(id.into_record(Outcome::Completed, None)), ())
            });
            assert!(line.is_none());
        }
        let mut later = Vec::new();
        table.take_records(&mut later);
        assert!(later.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn abort_all_aborts_running_and_later_tasks() {
        let table = TaskTable::new();
        let mut probes = Vec::new();
        for seq in 0..40 {
            let slot = table.reserve(seq, id("t"));
            let handle = tokio::spawn(std::future::pending::<()>());
            probes.push(handle.abort_handle());
            table.store(slot, handle.abort_handle());
        }
        table.abort_all();
        let slot = table.reserve(40, id("late"));
        let late = tokio::spawn(std::future::pending::<()>());
        probes.push(late.abort_handle());
        table.store(slot, late.abort_handle());
        // The runtime carries out an abort when it next schedules the task.
        tokio::time::timeout(Duration::from_secs(5), async {
            while !probes.iter().all(|p| p.is_finished()) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every task was aborted");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_entry_fills_one_cache_line() {
        assert_eq!(std::mem::size_of::<Entry>(), 64);
        assert_eq!(std::mem::align_of::<Entry>(), 64);
    }

    #[test]
    fn lines_keep_everything_a_record_holds() {
        let failed = TaskReport {
            group: Arc::from("db"),
            name: Cow::Owned("writer".to_owned()),
            outcome: Outcome::Failed("disk full".to_owned()),
            on_failure: OnFailure::Continue,
            shutdown_duration: Some(Duration::from_millis(3)),
        };
        let records = [
            id("stopped").into_record(Outcome::Completed, Some(Duration::from_nanos(1_234_567))),
            id("early").into_record(Outcome::Completed, None),
            id("zero").into_record(Outcome::Completed, Some(Duration::ZERO)),
            id("aborted").into_record(
                Outcome::Aborted(AbortReason::GraceExpired {
                    grace: Duration::from_secs(30),
                }),
                Some(Duration::from_secs(30)),
            ),
            failed,
        ];
        for record in records {
            let before = format!("{record:?}");
            let line = Line::new(record);
            if before.contains("Completed") {
                assert!(
                    matches!(line, Line::Completed { .. }),
                    "kept inline: {before}"
                );
            }
            assert_eq!(format!("{:?}", line.into_record()), before);
        }
    }

    #[test]
    fn consecutive_spawns_share_a_shard_in_runs() {
        let table = TaskTable::new();
        let shards: Vec<u32> = (0..RUN * SHARDS as u64 + 1)
            .map(|seq| table.reserve(seq, id("t")).shard)
            .collect();
        assert!(shards[..RUN as usize].iter().all(|&s| s == 0));
        assert_eq!(shards[RUN as usize], 1);
        assert_eq!(shards[(RUN * SHARDS as u64) as usize], 0, "and round again");
        // Every shard gets its run.
        for shard in 0..SHARDS as u32 {
            assert!(shards.iter().filter(|&&s| s == shard).count() as u64 >= RUN);
        }
    }
}
