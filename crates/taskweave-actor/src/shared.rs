//! The part of an actor that is not generic over its type: identity, the control slot, the
//! published exit reason and links. Handles, contexts, monitors and supervisors share it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures_util::task::AtomicWaker;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::flags::Flags;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// Refuse new messages, drain the queued ones, then run the stop hook.
    Graceful,
    /// Stop after the current message; queued messages are discarded (and counted).
    Immediate,
}

/// Pending control requests. Bounded by construction: one stop slot (the strongest request
/// wins), one kill bit, and at most one link exit per linked actor.
#[derive(Default)]
pub(crate) struct Signals {
    pub(crate) stop: Option<(StopMode, ExitReason)>,
    pub(crate) kill: bool,
    pub(crate) link_exits: VecDeque<(ActorId, ExitReason)>,
}

type LinkList = Vec<(ActorId, Weak<Shared>)>;

#[derive(Default)]
struct AbortSlot {
    handle: Option<AbortHandle>,
    killed: bool,
}

pub(crate) struct Shared {
    pub(crate) id: ActorId,
    pub(crate) name: Arc<str>,
    flags: Flags,
    /// The control channel: requests wait here, apart from the mailbox, so that they never
    /// wait behind a full one. Short critical sections, never held across `.await`.
    control: Mutex<Signals>,
    /// Wakes an idle event loop when a request arrives. `futures`' `AtomicWaker` skips the
    /// waker clone when the same task registers again, which the event loop does every time
    /// its mailbox runs empty.
    pub(crate) waker: AtomicWaker,
    exit: watch::Sender<Option<ExitReason>>,
    abort: Mutex<AbortSlot>,
    /// `None` once the actor has exited: a link made later is notified at once.
    links: Mutex<Option<LinkList>>,
    /// Cancelled when the actor exits, so timers and stream forwarders end with it.
    pub(crate) token: CancellationToken,
}

impl Shared {
    pub(crate) fn new(name: Arc<str>, token: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            id: ActorId::next(),
            name,
            flags: Flags::new(),
            control: Mutex::new(Signals::default()),
            waker: AtomicWaker::new(),
            exit: watch::Sender::new(None),
            abort: Mutex::new(AbortSlot::default()),
            links: Mutex::new(Some(Vec::new())),
            token,
        })
    }

    /// Whether new messages are refused. One atomic load: this sits on the `tell` hot path.
    #[inline]
    pub(crate) fn refusing(&self) -> bool {
        self.flags.refusing()
    }

    pub(crate) fn is_exited(&self) -> bool {
        self.flags.is_exited()
    }

    pub(crate) fn signal_pending(&self) -> bool {
        self.flags.signal_pending()
    }

    /// Clears and reports the "signal pending" flag; the event loop calls this before every
    /// message.
    #[inline]
    pub(crate) fn take_signal_flag(&self) -> bool {
        self.flags.take_signal()
    }

    fn request(&self, update: impl FnOnce(&mut Signals)) {
        if self.is_exited() {
            return;
        }
        update(&mut self.control.lock().unwrap_or_else(PoisonError::into_inner));
        // Record first, flag second: whoever sees the flag also sees the request.
        self.flags.raise_signal();
        self.waker.wake();
    }

    /// Takes every pending request; the event loop calls this after `take_signal_flag`.
    pub(crate) fn take_signals(&self) -> Signals {
        std::mem::take(&mut *self.control.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn refuse(&self) {
        self.flags.refuse();
    }

    pub(crate) fn stop(&self, mode: StopMode, reason: ExitReason) {
        self.refuse();
        self.request(|signals| match signals.stop {
            None => signals.stop = Some((mode, reason)),
            Some((StopMode::Graceful, _)) if mode == StopMode::Immediate => {
                signals.stop = Some((mode, reason));
            }
            Some(_) => {}
        });
    }

    pub(crate) fn kill(&self) {
        self.refuse();
        {
            let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
            slot.killed = true;
            if let Some(handle) = &slot.handle {
                handle.abort();
            }
        }
        // Covers a kill that races the spawn (no abort handle yet): the loop also exits on it.
        self.request(|signals| signals.kill = true);
    }

    fn link_exited(&self, id: ActorId, reason: ExitReason) {
        self.request(|signals| signals.link_exits.push_back((id, reason)));
    }

    pub(crate) fn set_abort_handle(&self, handle: AbortHandle) {
        let mut slot = self.abort.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.killed {
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
        if !self.flags.mark_exited() {
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
