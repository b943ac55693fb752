//! Liveness at a realistic mailbox capacity on a multi-thread runtime: a slow actor that also
//! pauses outright, many senders mixing `tell`, `try_tell` and `ask`. Every sender finishes,
//! every accepted message is handled once and in per-sender order, and the actor stops cleanly.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use taskweave_actor::{Actor, ActorConfig, ActorRef, Context, ExitReason, Reply, TryTellError};
use taskweave_testkit::HANG_LIMIT;
use tokio::sync::oneshot;

const CAPACITY: usize = 64;
const SENDERS: u32 = 16;
const PER_SENDER: u32 = 400;

enum Msg {
    Item {
        sender: u32,
        seq: u32,
    },
    /// Parks the handler until released: the consumer pauses outright.
    Pause(oneshot::Receiver<()>),
    Handled(Reply<u64>),
}

/// A slow consumer: every message costs a few scheduler round trips.
struct Slow {
    next: Vec<u32>,
    handled: u64,
    out_of_order: Arc<AtomicU64>,
}

impl Actor for Slow {
    type Args = Arc<AtomicU64>;
    type Message = Msg;
    type Error = Infallible;

    async fn start(
        out_of_order: Arc<AtomicU64>,
        _: &mut Context<Self>,
    ) -> Result<Self, Infallible> {
        Ok(Self {
            next: vec![0; SENDERS as usize],
            handled: 0,
            out_of_order,
        })
    }

    async fn handle(&mut self, msg: Msg, _: &mut Context<Self>) -> Result<(), Infallible> {
        match msg {
            Msg::Item { sender, seq } => {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                let expected = &mut self.next[sender as usize];
                if seq != *expected {
                    self.out_of_order.fetch_add(1, Ordering::Relaxed);
                }
                *expected = seq + 1;
                self.handled += 1;
            }
            Msg::Pause(release) => {
                let _ = release.await;
            }
            Msg::Handled(reply) => {
                let _ = reply.send(self.handled);
            }
        }
        Ok(())
    }
}

/// Sender `id` delivers `PER_SENDER` items in order: even senders `tell`, senders `1 mod 4`
/// `try_tell` (retrying a `Full` after a yield, with the message handed back), the others `ask`
/// after every item.
async fn send_all(actor: ActorRef<Slow>, id: u32) -> u32 {
    let mut full = 0;
    for seq in 0..PER_SENDER {
        let item = Msg::Item { sender: id, seq };
        match id % 4 {
            0 | 2 => actor.tell(item).await.expect("accepting"),
            1 => {
                let mut item = item;
                loop {
                    match actor.try_tell(item) {
                        Ok(()) => break,
                        Err(TryTellError::Full(back)) => {
                            full += 1;
                            item = back;
                            tokio::task::yield_now().await;
                        }
                        Err(other) => panic!("refused while running: {other:?}"),
                    }
                }
            }
            _ => {
                actor.tell(item).await.expect("accepting");
                let handled = actor.ask(Msg::Handled).await.expect("answered");
                assert!(handled > u64::from(seq), "answered before its own items");
            }
        }
    }
    full
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_pausing_actor_at_capacity_keeps_every_sender_moving() {
    // A hang guard, not a measurement.
    tokio::time::timeout(HANG_LIMIT, async {
        let out_of_order = Arc::new(AtomicU64::new(0));
        let config = ActorConfig::builder()
            .mailbox_capacity(CAPACITY)
            .build()
            .unwrap();
        let actor = Slow::spawn_with(Arc::clone(&out_of_order), &config);
        let senders: Vec<_> = (0..SENDERS)
            .map(|id| tokio::spawn(send_all(actor.clone(), id)))
            .collect();
        // Pause the consumer three times while the senders run; each time the mailbox fills
        // up (backpressure holds every sender) before the consumer resumes.
        for _ in 0..3 {
            let (release, parked) = oneshot::channel();
            actor.tell(Msg::Pause(parked)).await.unwrap();
            while actor.metrics().queued < CAPACITY && !senders.iter().all(|s| s.is_finished()) {
                tokio::task::yield_now().await;
            }
            release.send(()).unwrap();
        }
        for sender in senders {
            sender.await.expect("sender finished without panicking");
        }
        let handled = actor.ask(Msg::Handled).await.unwrap();
        assert_eq!(handled, u64::from(SENDERS * PER_SENDER));
        assert_eq!(
            out_of_order.load(Ordering::Relaxed),
            0,
            "per-sender order broken"
        );
        actor.close();
        let reason = actor.monitor().await;
        assert!(matches!(reason, ExitReason::Stopped), "{reason}");
    })
    .await
    .expect("hung: a sender or the actor never finished");
}
