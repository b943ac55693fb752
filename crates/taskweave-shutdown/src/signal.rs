//! OS signals: which ones start a shutdown, and the listener that turns them into calls of
//! `Shared::deliver_signal` — the same call `Coordinator::deliver_signal` makes.

use std::fmt;
use std::sync::{Arc, Weak};

use crate::shared::Shared;

/// A signal that starts a shutdown (the first) or aborts it (any later one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT` on Unix; Ctrl-C elsewhere.
    Interrupt,
    /// `SIGTERM` (Unix only; what `kill`, systemd and Kubernetes send).
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        })
    }
}

/// What a signal does once shutdown is under way; set with
/// [`Builder::force_on`](crate::Builder::force_on).
///
/// Forcing aborts every remaining task at once, in every phase, skipping what is left of the
/// grace periods; the coordinator then waits at most
/// [`abort_wait`](crate::Builder::abort_wait) for the aborted tasks to end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForceOn {
    /// The second signal the coordinator receives forces the shutdown (the default), whatever
    /// started it. Pressing Ctrl-C twice aborts; but the first SIGTERM of an orchestrator
    /// arriving while a shutdown started by a failure or by `close()` is draining is only
    /// logged, and the drain goes on.
    #[default]
    SecondSignal,
    /// Any signal received during shutdown forces it, even the first one, when the shutdown
    /// started for another reason.
    AnySignalDuringShutdown,
    /// Signals never force: the grace periods always run to their end. A signal still starts
    /// the shutdown if it has not begun.
    Never,
}

/// Registers the signal handlers now (so that a signal arriving right after `run()` was first
/// polled is not lost) and spawns the loop that forwards them. Returns `None`, with a warning,
/// if the handlers cannot be registered.
pub(crate) fn spawn_listener(shared: &Arc<Shared>) -> Option<tokio::task::JoinHandle<()>> {
    let shared = Arc::downgrade(shared);
    imp::install().map(|signals| tokio::spawn(imp::forward(signals, shared)))
}

fn deliver(shared: &Weak<Shared>, signal: Signal) -> bool {
    match shared.upgrade() {
        Some(shared) => {
            shared.deliver_signal(signal);
            true
        }
        None => false,
    }
}

/// Tokio panics (rather than erring) when the runtime has no IO driver; that must not take the
/// service down, so the registration is caught and reported.
fn register<T>(what: &str, f: impl FnOnce() -> std::io::Result<T>) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(t)) => Some(t),
        Ok(Err(e)) => {
            tracing::warn!(signal = what, error = %e, "cannot listen for signal; shutdown only by close(), abort() or the cancellation token");
            None
        }
        Err(_) => {
            tracing::warn!(
                signal = what,
                "cannot listen for signal: the runtime has no IO driver (build it with enable_all()); shutdown only by close(), abort() or the cancellation token"
            );
            None
        }
    }
}

#[cfg(unix)]
mod imp {
    use std::sync::Weak;

    use tokio::signal::unix::{SignalKind, signal};

    use super::{Signal, deliver, register};
    use crate::shared::Shared;

    pub(super) struct Signals {
        interrupt: tokio::signal::unix::Signal,
        terminate: tokio::signal::unix::Signal,
    }

    pub(super) fn install() -> Option<Signals> {
        let interrupt = register("SIGINT", || signal(SignalKind::interrupt()))?;
        let terminate = register("SIGTERM", || signal(SignalKind::terminate()))?;
        Some(Signals {
            interrupt,
            terminate,
        })
    }

    pub(super) async fn forward(mut signals: Signals, shared: Weak<Shared>) {
        loop {
            let signal = tokio::select! {
                s = signals.interrupt.recv() => s.map(|()| Signal::Interrupt),
                s = signals.terminate.recv() => s.map(|()| Signal::Terminate),
            };
            // `None`: the runtime is shutting down its signal driver.
            let Some(signal) = signal else { return };
            if !deliver(&shared, signal) {
                return;
            }
        }
    }
}

#[cfg(windows)]
mod imp {
    use std::sync::Weak;

    use tokio::signal::windows::{CtrlC, ctrl_c};

    use super::{Signal, deliver, register};
    use crate::shared::Shared;

    pub(super) struct Signals {
        ctrl_c: CtrlC,
    }

    pub(super) fn install() -> Option<Signals> {
        register("Ctrl-C", ctrl_c).map(|ctrl_c| Signals { ctrl_c })
    }

    pub(super) async fn forward(mut signals: Signals, shared: Weak<Shared>) {
        while signals.ctrl_c.recv().await.is_some() {
            if !deliver(&shared, Signal::Interrupt) {
                return;
            }
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod imp {
    use std::sync::Weak;

    use crate::shared::Shared;

    pub(super) enum Signals {}

    pub(super) fn install() -> Option<Signals> {
        tracing::warn!(
            "this platform has no signals; shutdown only by close(), abort() or the cancellation token"
        );
        None
    }

    pub(super) async fn forward(signals: Signals, _: Weak<Shared>) {
        match signals {}
    }
}
