//! The source task: takes items from a stream, iterator or channel and hands them to the first
//! stage until the source ends, the pipeline is closed, or it is aborted.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;

use crate::ctx::Ctx;
use crate::metrics::StageStats;
use crate::send::{Sent, send};

/// Where a flow's items come from.
pub(crate) enum Source<T> {
    /// Stops at `close()`: items not yet taken from the stream were never accepted.
    Stream(BoxStream<'static, T>),
    /// At `close()` the channel is closed (its senders get their items back) and what it
    /// already holds is still taken: it was accepted.
    Receiver(mpsc::Receiver<T>),
}

impl<T: Send + 'static> Source<T> {
    async fn next(&mut self) -> Option<T> {
        match self {
            Self::Stream(s) => s.next().await,
            Self::Receiver(rx) => rx.recv().await,
        }
    }

    /// Reacts to `close()`; `false` if the source ends here.
    fn close(&mut self) -> bool {
        match self {
            Self::Stream(_) => false,
            Self::Receiver(rx) => {
                rx.close();
                true
            }
        }
    }

    pub(crate) async fn run(mut self, tx: mpsc::Sender<T>, stats: Arc<StageStats>, ctx: Arc<Ctx>) {
        let mut closing = false;
        // One registration with each token for the source's life, not one per item.
        let (abort, close) = (ctx.abort.clone(), ctx.close.clone());
        let aborted = abort.cancelled();
        let closed = close.cancelled();
        tokio::pin!(aborted, closed);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut aborted => None,
                () = &mut closed, if !closing => {
                    closing = true;
                    tracing::debug!("pipeline closed: the source stops taking items");
                    if self.close() { continue } else { None }
                }
                item = self.next() => item,
            };
            let Some(item) = next else { break };
            if !self.hand_on(item, &tx, &stats, &ctx).await {
                break;
            }
            // Items that are ready at once go on without the select, up to a batch.
            let mut ended = false;
            for _ in 0..SOURCE_BATCH {
                if ctx.is_aborted() {
                    break;
                }
                match self.next().now_or_never() {
                    Some(Some(item)) => {
                        if !self.hand_on(item, &tx, &stats, &ctx).await {
                            ended = true;
                            break;
                        }
                    }
                    Some(None) => {
                        ended = true;
                        break;
                    }
                    None => break,
                }
            }
            if ended {
                break;
            }
        }
        tracing::debug!("source finished");
    }

    /// Hands one item to the first stage; `false` if the source must stop.
    async fn hand_on(
        &mut self,
        item: T,
        tx: &mpsc::Sender<T>,
        stats: &StageStats,
        ctx: &Ctx,
    ) -> bool {
        StageStats::add(&stats.items_in, 1);
        match send(tx, item, &ctx.abort).await {
            Sent::Yes => {
                StageStats::add(&stats.completed, 1);
                StageStats::add(&stats.items_out, 1);
                true
            }
            Sent::Aborted | Sent::Closed => {
                StageStats::add(&stats.dropped, 1);
                tracing::debug!("source stopped: the pipeline no longer takes items");
                false
            }
        }
    }
}

/// Items the source takes without a select while they are ready at once.
const SOURCE_BATCH: usize = 63;
