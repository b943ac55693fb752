//! Many tasks `tell` and `ask` on a small mailbox, on a multi-thread runtime, while the actor is
//! stopped mid-stream — gracefully, immediately, by its token, by a failure, a panic or a kill.
//! Every call resolves, and the counts reconcile: every message sent was handled, discarded
//! (counted in the crate's `warn!` events; an `ask` among them resolves to `NoReply`) or refused
//! (handed back in `Closed`).
//!
//! The race this stresses — a sender preempted between taking a mailbox slot and pushing its
//! message while the actor exits — needs the OS to preempt a worker inside a few instructions;
//! spinner threads make that likely, but any one run may still miss it: run this in release,
//! many times.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use taskweave_actor::{
    Actor, ActorConfig, ActorRef, AskError, Context, ExitReason, Reply, TellError,
};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt as _};

const ROUNDS: u64 = 300;
const SENDERS: u64 = 8;
const PER_SENDER: u64 = 48;
/// Small, so that senders wait for space and are granted slots while the actor stops.
const CAPACITY: usize = 4;

enum Msg {
    Tell,
    Ask(Reply<()>),
    Fail,
    Panic,
}

#[derive(Debug)]
struct Failure;

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("asked to fail")
    }
}

impl std::error::Error for Failure {}

/// Counts what it handles. The handler never awaits, so a message taken from the mailbox is
/// always fully handled, even by an actor being killed.
struct Counter {
    handled: Arc<Handled>,
}

#[derive(Default)]
struct Handled {
    tells: AtomicU64,
    asks: AtomicU64,
}

impl Handled {
    fn total(&self) -> u64 {
        load(&self.tells) + load(&self.asks)
    }
}

impl Actor for Counter {
    type Args = Arc<Handled>;
    type Message = Msg;
    type Error = Failure;

    async fn start(handled: Arc<Handled>, _: &mut Context<Self>) -> Result<Self, Failure> {
        Ok(Self { handled })
    }

    async fn handle(&mut self, msg: Msg, _: &mut Context<Self>) -> Result<(), Failure> {
        match msg {
            Msg::Tell => {
                self.handled.tells.fetch_add(1, Ordering::Relaxed);
            }
            Msg::Ask(reply) => {
                self.handled.asks.fetch_add(1, Ordering::Relaxed);
                reply.send(()).expect("the asker waits for its answer");
            }
            Msg::Fail => return Err(Failure),
            Msg::Panic => panic!("asked to panic"),
        }
        Ok(())
    }
}

/// What the senders saw.
#[derive(Default)]
struct Outcomes {
    tells_accepted: AtomicU64,
    asks_answered: AtomicU64,
    asks_unanswered: AtomicU64,
    refused: AtomicU64,
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Sums the `discarded` field of the crate's events, from every thread.
#[derive(Clone, Default)]
struct Discards(Arc<AtomicU64>);

impl Discards {
    fn get(&self) -> u64 {
        load(&self.0)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Discards {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        struct Count<'a>(&'a AtomicU64);
        impl Visit for Count<'_> {
            fn record_u64(&mut self, field: &Field, value: u64) {
                if field.name() == "discarded" {
                    self.0.fetch_add(value, Ordering::Relaxed);
                }
            }
            fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
        }
        event.record(&mut Count(&self.0));
    }
}

async fn send_all(actor: ActorRef<Counter>, outcomes: Arc<Outcomes>, id: u64) {
    for n in 0..PER_SENDER {
        if (id + n) % 2 == 0 {
            match actor.tell(Msg::Tell).await {
                Ok(()) => outcomes.tells_accepted.fetch_add(1, Ordering::Relaxed),
                Err(TellError::Closed(Msg::Tell)) => {
                    outcomes.refused.fetch_add(1, Ordering::Relaxed)
                }
                Err(other) => panic!("a tell came back as {other:?}"),
            };
        } else {
            match actor.ask(Msg::Ask).await {
                Ok(()) => outcomes.asks_answered.fetch_add(1, Ordering::Relaxed),
                Err(AskError::NoReply) => outcomes.asks_unanswered.fetch_add(1, Ordering::Relaxed),
                Err(AskError::Closed(Msg::Ask(_))) => {
                    outcomes.refused.fetch_add(1, Ordering::Relaxed)
                }
                Err(other) => panic!("an ask came back as {other:?}"),
            };
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Stop {
    Close,
    Token,
    Fail,
    Panic,
    Abort,
}

const STOPS: [Stop; 5] = [
    Stop::Close,
    Stop::Token,
    Stop::Fail,
    Stop::Panic,
    Stop::Abort,
];

/// Keeps every core busy until dropped, so that the runtime's workers are preempted by the OS
/// at arbitrary instructions — among them, between a send's reserve and its push. Without it the
/// gap is a few instructions long and a stop practically never lands in it.
struct Preemption {
    stop: Arc<AtomicBool>,
    spinners: Vec<std::thread::JoinHandle<()>>,
}

impl Preemption {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        let spinners = (0..cores)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Self { stop, spinners }
    }
}

impl Drop for Preemption {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for spinner in self.spinners.drain(..) {
            let _ = spinner.join();
        }
    }
}

/// One round: senders start, the actor is stopped `how` once it has handled `progress` of this
/// round's messages (mid-stream: the senders keep the mailbox full), and everything resolves.
/// Returns the number of messages sent.
async fn round(how: Stop, progress: u64, handled: &Arc<Handled>, outcomes: &Arc<Outcomes>) -> u64 {
    let token = CancellationToken::new();
    let config = ActorConfig::builder()
        .mailbox_capacity(CAPACITY)
        .cancellation_token(token.clone())
        .build()
        .unwrap();
    let before = handled.total();
    let actor = Counter::spawn_with(Arc::clone(handled), &config);
    let senders: Vec<_> = (0..SENDERS)
        .map(|id| tokio::spawn(send_all(actor.clone(), Arc::clone(outcomes), id)))
        .collect();
    while handled.total() - before < progress {
        tokio::task::yield_now().await;
    }
    match how {
        Stop::Close => actor.close(),
        Stop::Token => token.cancel(),
        Stop::Abort => actor.abort(),
        // Queued behind the senders' messages; handled, since nothing else stops the actor.
        Stop::Fail => assert!(actor.tell(Msg::Fail).await.is_ok()),
        Stop::Panic => assert!(actor.tell(Msg::Panic).await.is_ok()),
    }
    for sender in senders {
        sender.await.expect("a sender panicked");
    }
    let reason = actor.monitor().await;
    let expected = match how {
        Stop::Close => matches!(reason, ExitReason::Stopped),
        Stop::Token => matches!(reason, ExitReason::Cancelled),
        Stop::Fail => matches!(reason, ExitReason::Failed(_)),
        Stop::Panic => matches!(reason, ExitReason::Panicked(_)),
        Stop::Abort => matches!(reason, ExitReason::Killed),
    };
    assert!(expected, "stopped by {how:?}, exited {reason}");
    SENDERS * PER_SENDER
}

#[test]
fn every_call_resolves_and_every_message_is_accounted_for_when_stopped_mid_stream() {
    let discards = Discards::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(discards.clone()))
        .expect("the only subscriber of this test binary");
    let _preemption = Preemption::start();
    finishes_within(HANG_LIMIT, "asks racing stops", move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let handled = Arc::new(Handled::default());
            let outcomes = Arc::new(Outcomes::default());
            let mut sent = 0;
            for n in 0..ROUNDS {
                let how = STOPS[(n % STOPS.len() as u64) as usize];
                sent += round(how, n * 7 % (SENDERS * PER_SENDER / 2), &handled, &outcomes).await;

                let handled_tells = load(&handled.tells);
                let handled_asks = load(&handled.asks);
                let accepted = load(&outcomes.tells_accepted);
                let answered = load(&outcomes.asks_answered);
                let unanswered = load(&outcomes.asks_unanswered);
                let refused = load(&outcomes.refused);
                assert_eq!(
                    answered, handled_asks,
                    "round {n}: an answer without a handled ask"
                );
                assert!(handled_tells <= accepted, "round {n}");
                assert_eq!(
                    accepted + answered + unanswered + refused,
                    sent,
                    "round {n}"
                );
                // Accepted but never handled: discarded, and counted by the crate. What lands
                // after the exit is counted by a background task, which may run late on a loaded
                // machine: wait for it for as long as it takes (a count that never arrives is a
                // hang, caught by `finishes_within`; one too many fails the `assert_eq` below).
                let discarded = accepted - handled_tells + unanswered;
                while discards.get() < discarded {
                    tokio::task::yield_now().await;
                }
                assert_eq!(
                    discards.get(),
                    discarded,
                    "round {n} ({how:?}): handled {} + discarded + refused {refused} != sent \
                     {sent} (discards logged {}, expected {discarded})",
                    handled_tells + handled_asks,
                    discards.get()
                );
            }
        });
    });
}
