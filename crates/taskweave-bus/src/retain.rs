//! The last messages of each subject, kept for replay to new subscribers.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::Pattern;

pub(crate) struct Retained<T> {
    depth: usize,
    /// Publish order across subjects, so a replay interleaves subjects as they happened.
    seq: u64,
    subjects: HashMap<Arc<str>, VecDeque<(u64, T)>>,
}

impl<T> Retained<T> {
    pub(crate) fn new(depth: usize) -> Self {
        Self {
            depth,
            seq: 0,
            subjects: HashMap::new(),
        }
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Forgets what is kept for subjects matching `pattern` and hands it back, so that the
    /// caller can drop the messages after releasing its lock.
    pub(crate) fn forget(&mut self, pattern: &Pattern) -> Vec<VecDeque<(u64, T)>> {
        let mut forgotten = Vec::new();
        self.subjects.retain(|subject, history| {
            let gone = pattern.matches(subject);
            if gone {
                forgotten.push(std::mem::take(history));
            }
            !gone
        });
        forgotten
    }
}

impl<T: Clone> Retained<T> {
    pub(crate) fn record(&mut self, subject: &Arc<str>, msg: &T) {
        self.seq += 1;
        let entry = (self.seq, msg.clone());
        match self.subjects.get_mut(&**subject) {
            Some(history) => {
                if history.len() == self.depth {
                    history.pop_front();
                }
                history.push_back(entry);
            }
            None => {
                // Grows with what the subject holds, not with the configured depth.
                let mut history = VecDeque::new();
                history.push_back(entry);
                self.subjects.insert(Arc::clone(subject), history);
            }
        }
    }

    /// The last `per_subject` messages of every subject matching `pattern` and `keep`, in
    /// publish order, with their subjects.
    pub(crate) fn replay(
        &self,
        pattern: &Pattern,
        per_subject: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<(Arc<str>, T)> {
        let mut found: Vec<(&Arc<str>, &(u64, T))> = self
            .subjects
            .iter()
            .filter(|(subject, _)| pattern.matches(subject))
            .flat_map(|(subject, history)| {
                history
                    .iter()
                    .skip(history.len().saturating_sub(per_subject))
                    .map(move |entry| (subject, entry))
            })
            .filter(|(_, (_, msg))| keep(msg))
            .collect();
        found.sort_unstable_by_key(|(_, (seq, _))| *seq);
        found
            .into_iter()
            .map(|(subject, (_, msg))| (Arc::clone(subject), msg.clone()))
            .collect()
    }
}
