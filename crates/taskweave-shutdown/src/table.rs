//! Where a phase keeps each live task's `JoinHandle` (to abort it after the grace period) and
//! each ended task's record, sharded so that spawners and ending tasks rarely meet on a lock.
//!
//! A task takes its own handle out of the table when it ends, on the worker that ran it, so the
//! table only ever holds live tasks and a finished task's memory is freed at once, where it is
//! still in cache — not later, in one long sweep by the coordinator.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::task::JoinHandle;

use crate::report::TaskReport;

const SHARDS: usize = 16;

/// Where a task's handle sits: shard and index within it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    shard: u32,
    index: u32,
}

#[derive(Debug)]
enum Entry {
    Vacant,
    /// Reserved by a spawner that has not stored the handle yet.
    Reserved,
    /// Reserved, and the task already ended: the spawner vacates it.
    Ended,
    Running(JoinHandle<()>),
}

#[derive(Debug, Default)]
struct Shard {
    entries: Vec<Entry>,
    vacant: Vec<u32>,
    records: Vec<TaskReport>,
    /// Set by `abort_all`: handles stored from now on are aborted at once.
    aborted: bool,
}

#[derive(Debug)]
pub(crate) struct TaskTable {
    shards: Box<[Padded<Mutex<Shard>>]>,
}

/// Keeps a value on cache lines of its own, so that two shards (or a shard and the phase's
/// gate) never slow each other down by sharing a line (128 bytes: adjacent-line prefetch pairs
/// lines).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // No code panics while holding a shard lock; should a `JoinHandle` drop ever do so, the
    // shard is still consistent, so keep going rather than lose the records.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TaskTable {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Padded::default()).collect(),
        }
    }

    /// Reserves a slot for a task about to be spawned; `seq` (the spawn count) picks the shard.
    pub(crate) fn reserve(&self, seq: u64) -> Slot {
        let shard_index = (seq % SHARDS as u64) as usize;
        let mut shard = lock(&self.shards[shard_index]);
        let index = match shard.vacant.pop() {
            Some(index) => {
                shard.entries[index as usize] = Entry::Reserved;
                index
            }
            None => {
                shard.entries.push(Entry::Reserved);
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
    pub(crate) fn store(&self, slot: Slot, handle: JoinHandle<()>) {
        let mut shard = lock(&self.shards[slot.shard as usize]);
        let i = slot.index as usize;
        if matches!(shard.entries[i], Entry::Reserved) {
            let abort = shard.aborted.then(|| handle.abort_handle());
            shard.entries[i] = Entry::Running(handle);
            drop(shard);
            // Outside the lock: whatever aborting does, it must not re-enter this shard.
            if let Some(abort) = abort {
                abort.abort();
            }
            return;
        }
        // The task ended before its handle was stored (it was dropped at once, say because
        // the runtime is shutting down): nothing left to keep.
        shard.entries[i] = Entry::Vacant;
        shard.vacant.push(slot.index);
        drop(shard);
        drop(handle);
    }

    /// Called by a task as it ends: vacates its slot and files its record, if any.
    pub(crate) fn release(&self, slot: Slot, record: Option<TaskReport>) {
        let handle = {
            let mut shard = lock(&self.shards[slot.shard as usize]);
            if let Some(record) = record {
                shard.records.push(record);
            }
            let i = slot.index as usize;
            match std::mem::replace(&mut shard.entries[i], Entry::Vacant) {
                Entry::Running(handle) => {
                    shard.vacant.push(slot.index);
                    Some(handle)
                }
                // Ended before the spawner stored the handle: it vacates the slot.
                Entry::Reserved => {
                    shard.entries[i] = Entry::Ended;
                    None
                }
                other => {
                    shard.entries[i] = other;
                    None
                }
            }
        };
        // Outside the lock: dropping our own handle is cheap (the task is still ending), but
        // it need not hold anyone up.
        drop(handle);
    }

    /// Files the record of a task that holds no slot (never the case today: every spawned
    /// task gets one before it can run; kept so that a record is never dropped).
    pub(crate) fn file(&self, record: TaskReport) {
        lock(&self.shards[0]).records.push(record);
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
                        Entry::Running(handle) => Some(handle.abort_handle()),
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

    /// Makes room for `records` more records, spread over the shards, so that ending tasks
    /// do not wait on each other while a shard's list doubles.
    pub(crate) fn reserve_records(&self, records: usize) {
        for shard in &*self.shards {
            lock(shard).records.reserve(records / SHARDS + 1);
        }
    }

    /// Takes every record filed so far.
    pub(crate) fn take_records(&self) -> Vec<TaskReport> {
        let mut all = Vec::new();
        for shard in &*self.shards {
            all.append(&mut lock(shard).records);
        }
        all
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

    #[tokio::test(flavor = "current_thread")]
    async fn ended_tasks_vacate_their_slots_for_reuse() {
        let table = TaskTable::new();
        for seq in 0..1_000 {
            let slot = table.reserve(seq);
            let handle = tokio::spawn(async {});
            table.store(slot, handle);
            tokio::task::yield_now().await; // the task runs and ends
            table.release(slot, None);
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
        let slot = table.reserve(7);
        table.release(slot, None);
        table.store(slot, tokio::spawn(async {}));
        assert_eq!(table.occupied(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn abort_all_aborts_running_and_later_tasks() {
        let table = TaskTable::new();
        let mut probes = Vec::new();
        for seq in 0..40 {
            let slot = table.reserve(seq);
            let handle = tokio::spawn(std::future::pending::<()>());
            probes.push(handle.abort_handle());
            table.store(slot, handle);
        }
        table.abort_all();
        let slot = table.reserve(40);
        let late = tokio::spawn(std::future::pending::<()>());
        probes.push(late.abort_handle());
        table.store(slot, late);
        // The runtime carries out an abort when it next schedules the task.
        tokio::time::timeout(Duration::from_secs(5), async {
            while !probes.iter().all(|p| p.is_finished()) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every task was aborted");
    }
}
