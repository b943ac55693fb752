//! Property: whatever the interleaving of tells from several senders, each sender's accepted
//! messages are handled in the order sent, none is lost before a graceful stop, and every
//! refused message is handed back.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use taskweave_actor::{Actor, ActorConfig, Context, ExitReason, TellError};

struct Sink {
    handled: Arc<Mutex<Vec<(usize, u32)>>>,
}

impl Actor for Sink {
    type Args = Arc<Mutex<Vec<(usize, u32)>>>;
    type Message = (usize, u32);
    type Error = std::convert::Infallible;

    async fn start(handled: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
        Ok(Self { handled })
    }

    async fn handle(
        &mut self,
        message: (usize, u32),
        _ctx: &mut Context<Self>,
    ) -> Result<(), Self::Error> {
        // Yield sometimes so that senders and the actor interleave in many ways.
        if message.1 % 3 == 0 {
            tokio::task::yield_now().await;
        }
        self.handled.lock().unwrap().push(message);
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Case {
    capacity: usize,
    /// Per sender: for each message, whether to yield before sending it.
    senders: Vec<Vec<bool>>,
    /// How many times the stopper yields before it asks for a graceful stop.
    stop_after_yields: usize,
    multi_thread: bool,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        1usize..8,
        prop::collection::vec(prop::collection::vec(any::<bool>(), 0..40), 1..5),
        0usize..60,
        any::<bool>(),
    )
        .prop_map(
            |(capacity, senders, stop_after_yields, multi_thread)| Case {
                capacity,
                senders,
                stop_after_yields,
                multi_thread,
            },
        )
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let runtime = if case.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread().build()
    }
    .unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (accepted, reason) = runtime.block_on(async {
        let config = ActorConfig::builder()
            .mailbox_capacity(case.capacity)
            .build()
            .unwrap();
        let sink = Sink::spawn_with(Arc::clone(&handled), &config);
        let exited = sink.monitor();
        let mut senders = Vec::new();
        for (sender, yields) in case.senders.iter().cloned().enumerate() {
            let sink = sink.clone();
            senders.push(tokio::spawn(async move {
                // (accepted, refused) sequence numbers of this sender.
                let mut accepted = Vec::new();
                let mut refused = Vec::new();
                for (seq, yield_first) in yields.into_iter().enumerate() {
                    if yield_first {
                        tokio::task::yield_now().await;
                    }
                    let seq = u32::try_from(seq).unwrap();
                    match sink.tell((sender, seq)).await {
                        Ok(()) => accepted.push(seq),
                        Err(TellError::Closed(message)) => {
                            assert_eq!(message, (sender, seq), "the refused message comes back");
                            refused.push(seq);
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                (accepted, refused)
            }));
        }
        let stopper = {
            let sink = sink.clone();
            let yields = case.stop_after_yields;
            tokio::spawn(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                sink.close();
            })
        };
        drop(sink);
        let mut accepted = Vec::new();
        for sender in senders {
            accepted.push(sender.await.unwrap());
        }
        stopper.await.unwrap();
        (accepted, exited.await)
    });

    prop_assert!(
        matches!(reason, ExitReason::Stopped | ExitReason::Normal),
        "{reason}"
    );
    let handled = handled.lock().unwrap().clone();
    for (sender, (accepted, refused)) in accepted.iter().enumerate() {
        let seen: Vec<u32> = handled
            .iter()
            .filter(|(from, _)| *from == sender)
            .map(|(_, seq)| *seq)
            .collect();
        prop_assert_eq!(
            &seen,
            accepted,
            "sender {} lost or reordered messages",
            sender
        );
        let total = case.senders[sender].len();
        prop_assert_eq!(accepted.len() + refused.len(), total);
        // Once refused, always refused: the accepted ones are a prefix.
        let expected: Vec<u32> = (0..u32::try_from(accepted.len()).unwrap()).collect();
        prop_assert_eq!(accepted, &expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_sender_is_in_order_and_nothing_is_lost_before_a_graceful_stop(case in cases()) {
        run(&case)?;
    }
}
