//! The last messages of each subject, kept for replay to new subscribers.

use std::collections::{HashMap, VecDeque};

use crate::Pattern;

pub(crate) struct Retained<T> {
    depth: usize,
    /// Publish order across subjects, so a replay interleaves subjects as they happened.
    seq: u64,
    subjects: HashMap<Box<str>, VecDeque<(u64, T)>>,
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

    /// Forgets what is kept for subjects matching `pattern`; returns how many messages.
    pub(crate) fn forget(&mut self, pattern: &Pattern) -> usize {
        let mut forgotten = 0;
        self.subjects.retain(|subject, history| {
            let gone = pattern.matches(subject);
            if gone {
                forgotten += history.len();
            }
            !gone
        });
        forgotten
    }
}

impl<T: Clone> Retained<T> {
    pub(crate) fn record(&mut self, subject: &str, msg: &T) {
        self.seq += 1;
        let entry = (self.seq, msg.clone());
        match self.subjects.get_mut(subject) {
            Some(history) => {
                if history.len() == self.depth {
                    history.pop_front();
                }
                history.push_back(entry);
            }
            None => {
                let mut history = VecDeque::with_capacity(self.depth);
                history.push_back(entry);
                self.subjects.insert(subject.into(), history);
            }
        }
    }

    /// The last `per_subject` messages of every subject matching `pattern` and `keep`, in
    /// publish order.
    pub(crate) fn replay(
        &self,
        pattern: &Pattern,
        per_subject: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let mut found: Vec<&(u64, T)> = self
            .subjects
            .iter()
            .filter(|(subject, _)| pattern.matches(subject))
            .flat_map(|(_, history)| {
                history
                    .iter()
                    .skip(history.len().saturating_sub(per_subject))
            })
            .filter(|(_, msg)| keep(msg))
            .collect();
        found.sort_unstable_by_key(|(seq, _)| *seq);
        found.into_iter().map(|(_, msg)| msg.clone()).collect()
    }
}
