//! The exporter task: local subscription → NATS, buffering while disconnected.

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
use futures_util::FutureExt;
use taskweave_bus::{Envelope, RecvError, Subscription, TryRecvError};
use tokio_util::sync::CancellationToken;

use super::metrics::{Counters, add};
use crate::codec::Codec;
use crate::connection::Connection;
use crate::wire;

/// Room for the headers `wire::headers` adds, in bytes, beyond the origin's length.
const HEADER_OVERHEAD: usize = 96;

/// One encoded message, ready to send (again).
pub(super) struct Outgoing {
    subject: Arc<str>,
    headers: HeaderMap,
    payload: Bytes,
}

pub(super) struct Exporter<T, C> {
    pub(super) sub: Option<Subscription<T>>,
    pub(super) conn: Connection,
    pub(super) js: Option<jetstream::Context>,
    pub(super) codec: Arc<C>,
    pub(super) origin: Arc<str>,
    /// This exporter's instance id, in hex.
    pub(super) instance: Arc<str>,
    /// The JetStream message id counter (`Nats-Msg-Id` deduplicates retries).
    pub(super) next_id: u64,
    pub(super) seqs: HashMap<Arc<str>, u64>,
    pub(super) buffer: VecDeque<Outgoing>,
    pub(super) bound: usize,
    /// The server's `max_payload`, read at start and after each reconnection (reading it
    /// clones the whole server info: too costly per message).
    pub(super) max_payload: usize,
    pub(super) counters: Arc<Counters>,
    pub(super) intake: CancellationToken,
    pub(super) hard: CancellationToken,
}

impl<T: Clone + Send + Sync + 'static, C: Codec<T>> Exporter<T, C> {
    pub(super) async fn run(mut self) {
        let mut connected = self.conn.watch();
        loop {
            if self.hard.is_cancelled() {
                break;
            }
            // Send what is buffered first, in order, while the connection is up.
            while *connected.borrow() && !self.hard.is_cancelled() {
                let Some(out) = self.buffer.pop_front() else {
                    break;
                };
                self.counters.buffered.fetch_sub(1, Ordering::Relaxed);
                if let Err(out) = self.send(out).await {
                    self.buffer.push_front(out);
                    self.counters.buffered.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            if self.intake.is_cancelled() && self.sub.is_some() {
                // What the bus queued for this exporter before the close is exported too: at
                // most the subscription's capacity beyond the buffer's bound.
                self.take_ready(usize::MAX);
                self.sub = None;
                tracing::debug!(origin = %self.origin, buffered = self.buffer.len(), "exporter closed");
            }
            if self.sub.is_none() && self.buffer.is_empty() {
                break;
            }
            let room = self.buffer.len() < self.bound;
            let up = *connected.borrow();
            tokio::select! {
                biased;
                () = self.hard.cancelled() => break,
                () = self.intake.cancelled(), if self.sub.is_some() => {}
                changed = connected.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.max_payload = self.conn.max_payload();
                }
                // Retry a failed send after a pause rather than spin.
                () = tokio::time::sleep(Duration::from_millis(50)), if up && !self.buffer.is_empty() => {}
                received = recv(self.sub.as_mut()), if room => match received {
                    Ok(envelope) => {
                        self.push(envelope);
                        // Take what else is queued without waiting: one wake-up, many sends.
                        self.take_ready(self.bound);
                    }
                    Err(RecvError::Lagged(n)) => {
                        add(&self.counters.lagged, n);
                        tracing::warn!(origin = %self.origin, missed = n, "exporter lagged: local messages dropped by the lag policy");
                    }
                    Err(_) => self.sub = None,
                },
            }
        }
        let discarded = self.buffer.len();
        if discarded > 0 {
            self.counters
                .buffered
                .fetch_sub(discarded, Ordering::Relaxed);
            add(&self.counters.discarded, discarded as u64);
            tracing::warn!(origin = %self.origin, discarded, "exporter aborted: buffered messages discarded");
        }
    }

    fn push(&mut self, envelope: Envelope<T>) {
        if let Some(out) = self.encode(envelope) {
            self.buffer.push_back(out);
            self.counters.buffered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves what the local bus has queued for this exporter into the buffer, up to `limit`
    /// messages buffered, without waiting.
    fn take_ready(&mut self, limit: usize) {
        while self.buffer.len() < limit {
            let Some(sub) = self.sub.as_mut() else { return };
            match sub.try_recv_with_subject() {
                Ok(envelope) => self.push(envelope),
                Err(TryRecvError::Lagged(n)) => {
                    add(&self.counters.lagged, n);
                    tracing::warn!(origin = %self.origin, missed = n, "exporter lagged: local messages dropped by the lag policy");
                }
                Err(_) => return,
            }
        }
    }

    fn encode(&mut self, envelope: Envelope<T>) -> Option<Outgoing> {
        let (subject, msg) = envelope.into_parts();
        let payload = match self.codec.encode(&msg) {
            Ok(payload) => payload,
            Err(error) => {
                add(&self.counters.rejected, 1);
                tracing::warn!(%subject, %error, "message not exported: encoding failed");
                return None;
            }
        };
        let size = payload.len() + subject.len() + self.origin.len() + HEADER_OVERHEAD;
        if let Err(error) = crate::connection::check_size(size, self.max_payload) {
            add(&self.counters.rejected, 1);
            tracing::warn!(%subject, %error, "message not exported");
            return None;
        }
        let seq = self.seqs.entry(Arc::clone(&subject)).or_default();
        *seq += 1;
        let mut headers = wire::headers(&self.origin, &self.instance, *seq);
        if self.js.is_some() {
            self.next_id += 1;
            let id = format!("{}-{}-{}", self.origin, self.instance, self.next_id);
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        }
        Some(Outgoing {
            subject,
            headers,
            payload,
        })
    }

    /// Sends one message; hands it back if it must be retried (JetStream only).
    async fn send(&mut self, out: Outgoing) -> Result<(), Outgoing> {
        let subject = out.subject.to_string();
        match &self.js {
            None => {
                // Moved, not cloned: a core publish fails only when the client is gone or the
                // bridge aborts, and then there is nothing to retry.
                let Outgoing {
                    headers, payload, ..
                } = out;
                let client = self.conn.client();
                let mut publish = pin!(client.publish_with_headers(subject, headers, payload));
                // Usually ready at once (room in the client's queue): watch for an abort only
                // when it waits.
                let sent = match (&mut publish).now_or_never() {
                    Some(sent) => sent.map_err(|e| e.to_string()),
                    None => tokio::select! {
                        sent = publish => sent.map_err(|e| e.to_string()),
                        () = self.hard.cancelled() => Err("aborted".to_owned()),
                    },
                };
                if let Err(error) = sent {
                    add(&self.counters.discarded, 1);
                    tracing::warn!(%error, origin = %self.origin, "core publish failed: message discarded");
                    return Ok(());
                }
            }
            Some(js) => {
                let ack = js
                    .publish_with_headers(subject, out.headers.clone(), out.payload.clone())
                    .await;
                let acked = match ack {
                    Ok(future) => tokio::select! {
                        acked = future => acked.map(drop).map_err(|e| e.to_string()),
                        () = self.hard.cancelled() => Err("aborted".to_owned()),
                    },
                    Err(e) => Err(e.to_string()),
                };
                if let Err(error) = acked {
                    add(&self.counters.publish_retries, 1);
                    tracing::debug!(%error, subject = %out.subject, "JetStream publish not acknowledged; retrying");
                    return Err(out);
                }
            }
        }
        add(&self.counters.published, 1);
        Ok(())
    }
}

async fn recv<T: Clone>(sub: Option<&mut Subscription<T>>) -> Result<Envelope<T>, RecvError> {
    match sub {
        Some(sub) => sub.recv_with_subject().await,
        None => std::future::pending().await,
    }
}
