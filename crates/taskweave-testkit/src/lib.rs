//! Test support for the taskweave crates' own tests (unpublished, dev-dependency only).
//!
//! - [`FreshWakers`] polls a future with a new waker on every poll, so code that recognises
//!   "its own" waker by identity (`Waker::will_wake`) is caught, and counts the polls, so a
//!   future that wakes itself in a loop (a spin) shows up as a poll count, not as a slow test.
//! - [`finishes_within`] runs a closure on a watchdog thread and fails the test with a clear
//!   message if it has not returned in time: a deadlock becomes a failure, never a hung CI run.
//!   It guards against hangs only; it measures nothing.
//! - [`LogCapture`] collects what `tracing` events say on the test's thread, as the fmt
//!   subscriber writes them, for tests that assert on logs.
//!
//! ```
//! use std::task::{Context, Poll, Waker};
//! use taskweave_testkit::FreshWakers;
//!
//! let mut fut = FreshWakers::new(async { 7 });
//! let mut cx = Context::from_waker(Waker::noop());
//! assert_eq!(fut.poll_once(&mut cx), Poll::Ready(7));
//! assert_eq!(fut.polls(), 1);
//! //! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Polls the inner future with a brand-new waker on every poll and counts the polls.
///
/// Resolves to the inner output and the number of times the inner future was polled. Each waker
/// forwards to the waker of the task that polls `FreshWakers`, so wake-ups still arrive, but no
/// two polls see wakers that `will_wake` each other.
#[derive(Debug)]
pub struct FreshWakers<F> {
    inner: Pin<Box<F>>,
    polls: usize,
}

impl<F: Future> FreshWakers<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        Self {
            inner: Box::pin(future),
            polls: 0,
        }
    }

    /// How many times the inner future has been polled so far.
    pub fn polls(&self) -> usize {
        self.polls
    }

    /// Polls the inner future once with a fresh waker, outside of any `.await`.
    ///
    /// Useful to register a waiter (for instance to take a place in a queue) before doing
    /// something else in the test.
    pub fn poll_once(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls += 1;
        let fresh = Waker::from(Arc::new(Forward(cx.waker().clone())));
        self.inner.as_mut().poll(&mut Context::from_waker(&fresh))
    }
}

impl<F: Future> Future for FreshWakers<F> {
    type Output = (F::Output, usize);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.poll_once(cx).map(|out| (out, this.polls))
    }
}

/// A waker that wakes another one; a new `Arc` each time, so never `will_wake`-equal.
struct Forward(Waker);

impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake_by_ref();
    }
}

/// Runs `f` on its own thread and returns its result, or panics naming `what` if it has not
/// returned within `limit`.
///
/// The watchdog turns a deadlock into a test failure instead of a CI run that never ends. Choose
/// a generous `limit` (tens of seconds): it is a bound on a hang, not a measurement. On a hang the
/// stuck thread is left behind; the test process fails and exits.
///
/// # Panics
///
/// If `f` panics (the panic is resumed here) or does not return within `limit`.
pub fn finishes_within<T, F>(limit: Duration, what: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("watchdog: {what}"))
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .expect("spawning the watched thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => {
            let _ = handle.join();
            value
        }
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: still running after {limit:?} (deadlock or hang)"),
    }
}

/// The default watchdog limit for [`finishes_within`]: long enough for a loaded 2-core CI
/// machine, short enough that a hang fails the run quickly.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// What `tracing` events say on the thread that installed it, as the fmt subscriber writes
/// them (without colours or targets: spans, then the message and fields), for tests that
/// assert on logs. Clones share the text.
///
/// Install one in every test of a binary that hits the callsites asserted on, even in tests
/// that read no logs: tracing caches each callsite's interest process-wide, and a callsite first
/// hit on a thread without a subscriber can stay disabled for the test that asserts on it.
///
/// ```
/// use taskweave_testkit::LogCapture;
///
/// let logs = LogCapture::default();
/// let guard = logs.install(tracing::Level::INFO);
/// tracing::info!(answer = 42, "computed");
/// tracing::debug!("below the level");
/// drop(guard);
/// assert!(logs.text().contains("computed answer=42"), "{}", logs.text());
/// assert!(!logs.text().contains("below the level"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// A fmt subscriber that writes events at `level` and above here, for
    /// `tracing::subscriber::with_default`.
    pub fn subscriber(&self, level: tracing::Level) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(level)
            .with_ansi(false)
            .with_target(false)
            .finish()
    }

    /// Makes [`subscriber`](Self::subscriber) this thread's default until the guard drops.
    pub fn install(&self, level: tracing::Level) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.subscriber(level))
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A test that panicked while logging leaves whole lines behind: keep them.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}
