//! The importer task: NATS (core or a durable JetStream consumer) → the local bus.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_nats::jetstream::{self, AckKind};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use taskweave_bus::{Bus, PublishError};
use tokio_util::sync::CancellationToken;

use super::metrics::{Counters, add};
use crate::codec::Codec;
use crate::pull::{Pull, Puller};
use crate::wire::{self, Tracker, Verdict};

/// How many messages a durable importer asks for at once.
const BATCH: usize = 64;

thread_local! {
    /// Set while an importer polls its publish to the local bus. The bus runs subscription
    /// filters in the publisher's poll, so the exporters' filter sees it and skips imported
    /// messages: nothing received from NATS is sent back (no echo loop).
    static IMPORTING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current poll is an importer's publish.
pub(super) fn importing() -> bool {
    IMPORTING.with(Cell::get)
}

/// Marks every poll of the inner future as an importer's publish.
struct Importing<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for Importing<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let before = IMPORTING.with(|flag| flag.replace(true));
        let polled = self.0.as_mut().poll(cx);
        IMPORTING.with(|flag| flag.set(before));
        polled
    }
}

pub(super) enum Source {
    Core(async_nats::Subscriber),
    Durable(Box<Puller>),
}

pub(super) struct Importer<T, C> {
    pub(super) bus: Bus<T>,
    pub(super) conn: crate::Connection,
    pub(super) codec: Arc<C>,
    pub(super) origin: Arc<str>,
    pub(super) tracker: Tracker,
    pub(super) counters: Arc<Counters>,
    pub(super) intake: CancellationToken,
    pub(super) hard: CancellationToken,
}

/// What became of one received message.
enum Fate {
    Delivered,
    /// Skipped for good (an echo, a duplicate, undecodable): acknowledge it.
    Skipped,
    /// The local bus refused it: leave it for redelivery and stop.
    Refused,
}

impl<T: Clone + Send + Sync + 'static, C: Codec<T>> Importer<T, C> {
    pub(super) async fn run(mut self, source: Source) {
        match source {
            Source::Core(sub) => self.run_core(sub).await,
            Source::Durable(durable) => self.run_durable(*durable).await,
        }
        tracing::debug!(origin = %self.origin, "importer stopped");
    }

    async fn run_core(&mut self, mut sub: async_nats::Subscriber) {
        loop {
            let next = tokio::select! {
                biased;
                () = self.hard.cancelled() => return,
                () = self.intake.cancelled() => break,
                next = sub.next() => next,
            };
            let Some(mut msg) = next else { return };
            // Then what else has arrived, without a wake-up per message.
            loop {
                let fate = self
                    .deliver(&msg.subject, msg.headers.as_ref(), &msg.payload)
                    .await;
                if matches!(fate, Fate::Refused) {
                    return;
                }
                if self.intake.is_cancelled() {
                    break;
                }
                match sub.next().now_or_never() {
                    Some(Some(ready)) => msg = ready,
                    Some(None) => return,
                    None => break,
                }
            }
        }
        // Closing: unsubscribe, and import what the client already received. The round trip
        // puts every message the server sent before the unsubscription in the queue.
        if let Err(error) = sub.unsubscribe().await {
            tracing::debug!(%error, "unsubscribing failed");
        }
        let conn = self.conn.clone();
        if let Err(error) = conn.round_trip().await {
            tracing::debug!(%error, "round trip after unsubscribing failed");
        }
        while let Some(Some(msg)) = sub.next().now_or_never() {
            let fate = self
                .deliver(&msg.subject, msg.headers.as_ref(), &msg.payload)
                .await;
            if matches!(fate, Fate::Refused) {
                return;
            }
        }
    }

    async fn run_durable(&mut self, mut puller: Puller) {
        // `abort` cancels `intake` too.
        while !self.intake.is_cancelled() {
            let mut batch = match puller.pull(BATCH, &self.intake).await {
                Pull::Batch(batch) => batch,
                Pull::Failed => continue,
                Pull::Stopped => return,
            };
            // A pulled batch is finished even after `close`: its messages are ours until
            // acknowledged, and the pull expires shortly.
            loop {
                let next = tokio::select! {
                    biased;
                    () = self.hard.cancelled() => return,
                    next = batch.next() => next,
                };
                let msg = match next {
                    None => break,
                    Some(Ok(msg)) => msg,
                    Some(Err(error)) => {
                        tracing::debug!(%error, "pull interrupted");
                        break;
                    }
                };
                if msg.info().is_ok_and(|info| info.delivered > 1) {
                    add(&self.counters.redeliveries, 1);
                }
                match self
                    .deliver(&msg.subject, msg.headers.as_ref(), &msg.payload)
                    .await
                {
                    Fate::Delivered | Fate::Skipped => ack(&msg).await,
                    Fate::Refused => {
                        let _ = msg.ack_with(AckKind::Nak(None)).await;
                        return;
                    }
                }
            }
        }
    }

    async fn deliver(
        &mut self,
        subject: &Subject,
        headers: Option<&HeaderMap>,
        payload: &Bytes,
    ) -> Fate {
        if let Some(stamp) = wire::stamp(headers) {
            if stamp.origin == &*self.origin {
                return Fate::Skipped;
            }
            match self.tracker.observe(&stamp, subject.as_str()) {
                Verdict::InOrder => {}
                Verdict::Gap { missed } => self.counters.gap(stamp.origin, subject, missed),
                Verdict::Duplicate => {
                    add(&self.counters.duplicates, 1);
                    return Fate::Skipped;
                }
            }
        }
        let msg = match self.codec.decode(payload) {
            Ok(msg) => msg,
            Err(error) => {
                add(&self.counters.undecodable, 1);
                tracing::warn!(%subject, %error, "imported message dropped: cannot decode");
                return Fate::Skipped;
            }
        };
        let mut publish = Importing(std::pin::pin!(self.bus.publish(subject.as_str(), msg)));
        // Most publishes complete at once: only one that waits (for a blocking subscriber)
        // needs to watch for an abort.
        let published = match (&mut publish).now_or_never() {
            Some(published) => published,
            None => tokio::select! {
                published = publish => published,
                () = self.hard.cancelled() => return Fate::Refused,
            },
        };
        match published {
            Ok(_) => {
                add(&self.counters.imported, 1);
                Fate::Delivered
            }
            Err(PublishError::InvalidSubject(_, error)) => {
                add(&self.counters.refused, 1);
                tracing::warn!(%subject, %error, "imported message refused by the local bus");
                Fate::Skipped
            }
            Err(_) => {
                add(&self.counters.refused, 1);
                tracing::debug!(%subject, "local bus closed: importer stops");
                Fate::Refused
            }
        }
    }
}

async fn ack(msg: &jetstream::Message) {
    if let Err(error) = msg.ack().await {
        // The server redelivers it after `ack_wait`; the sequence check skips it then.
        tracing::debug!(%error, "acknowledgement not sent");
    }
}
