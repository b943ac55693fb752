//! What travels with each message besides its payload, and the loss accounting built on it.
//!
//! Every exported message carries three headers: the exporting bridge's name (`origin`), the
//! bridge instance (a nonce drawn at build, so a restarted exporter starts a new sequence)
//! and a sequence number counted per subject by that instance. Counting per subject makes
//! the accounting exact whatever the importer subscribes to: an importer sees either every
//! message of a subject or none.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::HeaderMap;

pub(crate) const ORIGIN: &str = "Taskweave-Origin";
pub(crate) const INSTANCE: &str = "Taskweave-Instance";
pub(crate) const SEQ: &str = "Taskweave-Seq";

/// The most `(origin, instance, subject)` streams one importer tracks. Beyond it the table
/// starts afresh (counted in `tracking_resets`): a gap spanning a reset goes unseen.
pub(crate) const MAX_TRACKED: usize = 1 << 16;

/// The headers of one exported message.
pub(crate) fn headers(origin: &str, instance: u64, seq: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN, origin);
    headers.insert(INSTANCE, format!("{instance:016x}").as_str());
    headers.insert(SEQ, seq.to_string().as_str());
    headers
}

/// Who sent a message and its place in that sender's sequence for the subject.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stamp<'a> {
    pub(crate) origin: &'a str,
    pub(crate) instance: &'a str,
    pub(crate) seq: u64,
}

/// Reads the stamp of a message; `None` for messages not sent by a bridge.
pub(crate) fn stamp(headers: Option<&HeaderMap>) -> Option<Stamp<'_>> {
    let headers = headers?;
    Some(Stamp {
        origin: headers.get(ORIGIN)?.as_str(),
        instance: headers.get(INSTANCE)?.as_str(),
        seq: headers.get(SEQ)?.as_str().parse().ok()?,
    })
}

/// What the tracker concluded about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next message of its stream, or the first one seen: deliver.
    InOrder,
    /// Deliver; `missed` messages before it never arrived.
    Gap { missed: u64 },
    /// Already delivered (a redelivery): skip it.
    Duplicate,
}

/// One sender's stream of one subject: `(origin, instance, subject)`.
type StreamKey = (Arc<str>, Arc<str>, Arc<str>);

/// The last sequence seen per `(origin, instance, subject)`.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    last: HashMap<StreamKey, u64>,
    pub(crate) resets: u64,
}

impl Tracker {
    pub(crate) fn observe(&mut self, stamp: &Stamp<'_>, subject: &str) -> Verdict {
        let key = (
            Arc::<str>::from(stamp.origin),
            Arc::<str>::from(stamp.instance),
            Arc::<str>::from(subject),
        );
        if let Some(last) = self.last.get_mut(&key) {
            return if stamp.seq <= *last {
                Verdict::Duplicate
            } else {
                let missed = stamp.seq - *last - 1;
                *last = stamp.seq;
                if missed == 0 {
                    Verdict::InOrder
                } else {
                    Verdict::Gap { missed }
                }
            };
        }
        if self.last.len() >= MAX_TRACKED {
            self.last.clear();
            self.resets += 1;
            tracing::warn!(
                max = MAX_TRACKED,
                "too many sender streams tracked: starting afresh"
            );
        }
        self.last.insert(key, stamp.seq);
        // The first message seen from a stream sets the baseline: an importer that starts
        // late has not lost what was sent before it subscribed.
        Verdict::InOrder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq: u64) -> Stamp<'static> {
        Stamp {
            origin: "a",
            instance: "1",
            seq,
        }
    }

    #[test]
    fn counts_gaps_and_duplicates_per_subject() {
        let mut t = Tracker::default();
        assert_eq!(t.observe(&at(5), "x"), Verdict::InOrder);
        assert_eq!(t.observe(&at(6), "x"), Verdict::InOrder);
        assert_eq!(t.observe(&at(9), "x"), Verdict::Gap { missed: 2 });
        assert_eq!(t.observe(&at(9), "x"), Verdict::Duplicate);
        assert_eq!(t.observe(&at(1), "y"), Verdict::InOrder);
    }

    #[test]
    fn headers_round_trip() {
        let h = headers("orders", 7, 42);
        let s = stamp(Some(&h)).expect("stamped");
        assert_eq!((s.origin, s.seq), ("orders", 42));
        assert_eq!(stamp(None), None);
    }
}
