//! `ActorRef::sink`: a `futures::Sink` that tells, with backpressure, in order, losing nothing.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use taskweave_actor::{Actor, ActorConfig, Context, ExitReason, Reply, TryTellError};

/// Handles each number slowly and remembers them in order.
struct Slow {
    seen: Vec<u32>,
}

enum Msg {
    Item(u32),
    Seen(Reply<Vec<u32>>),
}

impl Actor for Slow {
    type Args = ();
    type Message = Msg;
    type Error = Infallible;

    async fn start((): (), _: &mut Context<Self>) -> Result<Self, Infallible> {
        Ok(Self { seen: Vec::new() })
    }

    async fn handle(&mut self, msg: Msg, _: &mut Context<Self>) -> Result<(), Infallible> {
        match msg {
            Msg::Item(n) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                self.seen.push(n);
            }
            Msg::Seen(reply) => {
                let _ = reply.send(self.seen.clone());
            }
        }
        Ok(())
    }
}

fn small_mailbox() -> ActorConfig {
    ActorConfig::builder().mailbox_capacity(2).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn forwarding_a_stream_into_a_slow_actor_loses_nothing_and_keeps_order() {
    let actor = Slow::spawn_with((), &small_mailbox());
    let items = futures_util::stream::iter(0..200).map(|n| Ok(Msg::Item(n)));
    let started = tokio::time::Instant::now();
    items.forward(actor.sink()).await.unwrap();
    // Backpressure: the forward could only finish once all but a mailbox's worth were handled.
    assert!(started.elapsed() >= Duration::from_millis(10 * 197));
    let seen = actor.ask(Msg::Seen).await.unwrap();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    // `poll_close` (done by `forward`) ended the sink, not the actor.
    assert!(actor.is_alive() && !actor.is_closed());
    assert_eq!(actor.metrics().handled, 201);
}

#[tokio::test(start_paused = true)]
async fn a_closed_actor_hands_the_item_back_through_the_sink() {
    let actor = Slow::spawn_with((), &small_mailbox());
    let mut sink = actor.sink();
    sink.send(Msg::Item(1)).await.unwrap();
    actor.close();
    match sink.send(Msg::Item(2)).await {
        Err(TryTellError::Closed(Msg::Item(2))) => {}
        Err(other) => panic!("expected Closed(Item(2)), got {other:?}"),
        Ok(()) => panic!("a closed actor accepted an item"),
    }
    drop(sink);
    assert!(matches!(actor.monitor().await, ExitReason::Stopped));
    assert_eq!(actor.metrics().handled, 1);
}

#[tokio::test(start_paused = true)]
async fn a_forward_into_an_actor_that_closes_midway_returns_the_refused_item() {
    let actor = Slow::spawn_with((), &small_mailbox());
    let closer = {
        let actor = actor.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(55)).await;
            actor.close();
        })
    };
    let mut items = futures_util::stream::iter(0..100).map(|n| Ok(Msg::Item(n)));
    let refused = (&mut items).forward(actor.sink()).await.unwrap_err();
    closer.await.unwrap();
    let Msg::Item(first_refused) = refused.into_inner() else {
        panic!("the refused item is an Item");
    };
    assert!(matches!(actor.monitor().await, ExitReason::Stopped));
    // Everything before the refused item was handled; nothing in between was lost.
    assert_eq!(actor.metrics().handled, u64::from(first_refused));
    assert_eq!(actor.metrics().discarded, 0);
}

#[tokio::test(start_paused = true)]
async fn the_sink_alone_keeps_the_actor_alive_until_closed() {
    let actor = Slow::spawn(());
    let weak = actor.downgrade();
    let mut sink = actor.sink();
    drop(actor);
    sink.send(Msg::Item(7)).await.unwrap();
    assert!(weak.is_alive());
    sink.close().await.unwrap();
    // The sink held the last strong handle: closing it is dropping the last handle.
    assert!(matches!(weak.monitor().await, ExitReason::Normal));
}
