//! Handing an item to a bounded channel: at once when there is room, otherwise waiting for
//! room or for the abort, whichever comes first.

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;

/// What became of an item handed to [`send`].
pub(crate) enum Sent {
    Yes,
    /// The abort came first; the item was dropped.
    Aborted,
    /// The receiver is gone; the item was dropped.
    Closed,
}

pub(crate) async fn send<T>(tx: &mpsc::Sender<T>, item: T, abort: &CancellationToken) -> Sent {
    let item = match tx.try_send(item) {
        Ok(()) => return Sent::Yes,
        Err(TrySendError::Closed(_)) => return Sent::Closed,
        Err(TrySendError::Full(item)) => item,
    };
    tokio::select! {
        biased;
        () = abort.cancelled() => Sent::Aborted,
        permit = tx.reserve() => match permit {
            Ok(permit) => {
                permit.send(item);
                Sent::Yes
            }
            Err(_) => Sent::Closed,
        },
    }
}
