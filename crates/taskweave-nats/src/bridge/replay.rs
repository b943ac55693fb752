//! Where a new durable consumer starts: [`Replay`], mapped onto JetStream deliver policies.

use std::time::SystemTime;

use async_nats::jetstream::{consumer, stream};

use crate::error::{Error, jetstream as js_error};

/// Where a new durable consumer starts in its stream. An existing durable consumer resumes
/// where it stopped, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// Everything the stream holds (JetStream `DeliverPolicy::All`).
    All,
    /// Only messages stored after the consumer is created (`DeliverPolicy::New`).
    New,
    /// The last `n` messages of the stream, then everything new (`ByStartSequence`).
    LastN(u64),
    /// Messages stored at or after this time (`ByStartTime`).
    Since(SystemTime),
    /// The last message of each subject, then everything new (`LastPerSubject`).
    LastPerSubject,
}

pub(super) async fn deliver_policy(
    stream: &stream::Stream,
    replay: Replay,
) -> Result<consumer::DeliverPolicy, Error> {
    Ok(match replay {
        Replay::All => consumer::DeliverPolicy::All,
        Replay::New => consumer::DeliverPolicy::New,
        Replay::LastPerSubject => consumer::DeliverPolicy::LastPerSubject,
        Replay::Since(at) => consumer::DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from(at),
        },
        Replay::LastN(n) => {
            let info = stream.get_info().await.map_err(js_error)?;
            let last = info.state.last_sequence;
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: last.saturating_sub(n - 1).max(1),
            }
        }
    })
}
