//! The part of an actor that is not generic over its type: identity, the control slot, the
//! published exit reason and links. Handles, contexts, monitors and supervisors share it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crossbeam_utils::CachePadded;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::control::Control;
use crate::metrics::Counters;
use crate::{ExitReason, Monitor};

/// A process-unique actor identifier, shown as `#<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(u64);

impl ActorId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Pending control requests. Bounded by construction: one close slot (the first reason wins),
/// one abort bit, and at most one link exit per linked actor.
#[derive(Default)]
pub(crate) struct Signals {
    /// A graceful close: refuse new messages, handle the queued ones, then run the stop hook.
    pub(crate) close: Option<ExitReason>,
    pub(crate) abort: bool,
    pub(crate) link_exits: VecDeque<(ActorId, ExitReason)>,
}

type LinkList = Vec<(ActorId, Weak<Shared>)>;

#[derive(Default)]
struct AbortSlot {
    handle: Option<AbortHandle>,
    aborted: bool,
}

pub(crate) struct Shared {
    pub(crate) id: ActorId,
    pub(crate) name: Arc<str>,
    /// The control channel and the refusing / exited flags: requests wait here, apart from the
    /// mailbox, so that they never wait behind a full one (see `control.rs` for the protocol).
    pub(crate) control: Control<Signals>,
    exit: watch::Sender<Option<ExitReason>>,
    abort: Mutex<AbortSlot>,
    /// `None` once the actor has exited: a link made later is notified at once.
    links: Mutex<Option<LinkList>>,
    /// Cancelled when the actor exits, so timers and stream forwarders end with it.
    pub(crate) token: CancellationToken,
    /// What `metrics()` reports. Padded: the event loop writes `handled` after every message,
    /// and that must not evict the flag word that every `tell` reads.
    pub(crate) counters: CachePadded<Counters>,
}

impl Shared {
    pub(crate) fn new(name: Arc<str>, token: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            id: ActorId::next(),
            name,
            control: Control::new(),
            exit: watch::Sender::new(None),
            abort: Mutex::new(AbortSlot::default()),
            links: Mutex::new(Some(Vec::new())),
            token,
            counters: CachePadded::new(Counters::default()),
        })
    }

    /// Whether new messages are refused. One atomic load: this sits on the `tell` hot path.
    #[inline]
    pub(crate) fn refusing(&self) -> bool {
        self.control.flags().refusing()
    }

    pub(crate) fn is_exited(&self) -> bool {
        self.control.flags().is_exited()
    }

    fn request(&self, update: impl FnOnce(&mut Signals)) {
        // `false` once the actor has exited: the request has nobody left to act on it.
        let _ = self.control.request(update);
    }

    pub(crate) fn refuse(&self) {
        self.control.flags().refuse();
    }

    /// Whether new messages are refused: a close or abort was requested, or the actor exited.
    pub(crate) fn is_closed(&self) -> bool {
        self.refusing()
    }

    /// Resolves once the actor refuses new messages: a close or abort was requested. For a
    /// handler that waits for something slow but must give way to a stop; it must be awaited
    /// from the actor's own task (it shares the event loop's waker slot).
    pub(crate) async fn stop_requested(&self) {
        std::future::poll_fn(|cx| self.control.poll_refusing(cx)).await;
    }

    /// A graceful close with `reason` (`Stopped`, or `Cancelled` through the token). Refuses
    /// new messages before it returns; the first reason requested wins.
    pub(crate) fn close(&self, reason: ExitReason) {
        if self.refusing() {
            // Already closing, aborting or exited: the first request stands.
            return;
        }
        self.refuse();
        tracing::debug!(actor.name = %self.name, actor.id = %self.id, %reason, "actor closing");
        self.request(|signals| {
            signals.close.get_or_insert(reason);
        });
    }

    /// The hard stop: refuses new messages and aborts the actor's task at its next `.await`.
    pub(crate) fn abort(&self) {
        if self.is_exited() {
            return;
        }
        self.refuse();
        tracing::debug!(actor.name = %self.name, actor.id = %self.id, "actor aborting");
        {
            let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
            slot.aborted = true;
            if let Some(handle) = &slot.handle {
                handle.abort();
            }
        }
        // Covers an abort that races the spawn (no abort handle yet): the loop also exits on it.
        self.request(|signals| signals.abort = true);
    }

    fn link_exited(&self, id: ActorId, reason: ExitReason) {
        self.request(|signals| signals.link_exits.push_back((id, reason)));
    }

    pub(crate) fn set_abort_handle(&self, handle: AbortHandle) {
        let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.aborted {
            handle.abort();
        }
        slot.handle = Some(handle);
    }

    pub(crate) fn monitor(&self) -> Monitor {
        Monitor::new(self.exit.subscribe())
    }

    pub(crate) fn exit_reason(&self) -> Option<ExitReason> {
        self.exit.borrow().clone()
    }

    /// Links two actors both ways: when one exits, the other receives a link-exit signal.
    pub(crate) fn link(a: &Arc<Self>, b: &Arc<Self>) {
        if a.id == b.id {
            return;
        }
        a.add_link(b);
        b.add_link(a);
    }

    fn add_link(&self, other: &Arc<Self>) {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        match links.as_mut() {
            Some(list) => {
                if list.iter().all(|(id, _)| *id != other.id) {
                    list.push((other.id, Arc::downgrade(other)));
                }
            }
            None => {
                drop(links);
                // Already gone: tell the other side right away, as if it had been linked in time.
                let reason = self.exit_reason().unwrap_or(ExitReason::Killed);
                other.link_exited(self.id, reason);
            }
        }
    }

    fn remove_link(&self, id: ActorId) {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = links.as_mut() {
            list.retain(|(linked, _)| *linked != id);
        }
    }

    /// Publishes the exit reason (once), cancels the actor's token and notifies links.
    pub(crate) fn finish(&self, reason: ExitReason) {
        if !self.control.flags().mark_exited() {
            return;
        }
        if reason.is_normal() {
            tracing::debug!(actor.name = %self.name, actor.id = %self.id, %reason, "actor stopped");
        } else {
            tracing::warn!(actor.name = %self.name, actor.id = %self.id, %reason, "actor stopped abnormally");
        }
        self.token.cancel();
        // Publish before taking the links: a link that finds the list gone can then read the
        // reason.
        self.exit.send_replace(Some(reason.clone()));
        let links = self
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        for (_, other) in links {
            if let Some(other) = other.upgrade() {
                other.remove_link(self.id);
                other.link_exited(self.id, reason.clone());
            }
        }
    }
}

/// Publishes [`ExitReason::Killed`] if the actor's task is dropped before it finished on its
/// own (aborted, or its runtime shut down).
pub(crate) struct ExitGuard(pub(crate) Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.finish(ExitReason::Killed);
    }
}
