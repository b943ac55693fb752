//! Handles are shared across tasks, so they must stay `Send + Sync` (and `Unpin`, so they can be
//! held in any future). These checks fail to compile if a change loses an auto trait.
#![cfg(feature = "full")]

use std::io;

use taskweave::prelude::*;

fn shared_handle<T: Send + Sync + Unpin + Clone + 'static>() {}
fn owned_value<T: Send + Sync + Unpin + 'static>() {}

/// An actor with an enum mailbox, only to name its handle types.
struct Echo;
enum EchoMsg {
    Ping(Reply<()>),
}
impl Actor for Echo {
    type Args = ();
    type Message = EchoMsg;
    type Error = io::Error;
    async fn start((): (), _: &mut ActorContext<Self>) -> Result<Self, io::Error> {
        Ok(Echo)
    }
    async fn handle(&mut self, msg: EchoMsg, _: &mut ActorContext<Self>) -> Result<(), io::Error> {
        let EchoMsg::Ping(reply) = msg;
        let _ = reply.send(());
        Ok(())
    }
}

/// A handle moved into another task keeps working there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_handle_crosses_tasks() {
    let echo = Echo::spawn(());
    let remote = echo.clone();
    tokio::spawn(async move { remote.ask(EchoMsg::Ping).await })
        .await
        .unwrap()
        .unwrap();
    assert!(echo.drain().await.is_normal());
}

#[test]
fn handles_are_send_sync_unpin_and_clone() {
    shared_handle::<ActorRef<Echo>>();
    shared_handle::<taskweave::actor::WeakActorRef<Echo>>();
    owned_value::<taskweave::actor::TellSink<Echo>>();
    shared_handle::<Batcher<u64, u64, io::Error>>();
    shared_handle::<Breaker>();
    shared_handle::<Bus<u64>>();
    shared_handle::<RateLimiter>();
    shared_handle::<taskweave::limit::KeyedRateLimiter<String>>();
    shared_handle::<ConcurrencyLimit>();
    shared_handle::<Pool>();
    shared_handle::<taskweave::pool::KeyedPool<u64>>();
    shared_handle::<taskweave::pool::FixedPool<u64, u64>>();
    shared_handle::<RetryBudget>();
    shared_handle::<Backoff>();
    shared_handle::<CancellationToken>();
    shared_handle::<taskweave::nats::Connection>();
    shared_handle::<taskweave::nats::Bridge>();
    shared_handle::<taskweave::nats::WorkQueue<u64, taskweave::nats::Json>>();
    shared_handle::<taskweave::pipeline::PipelineHandle>();
}

#[test]
fn owned_values_are_send_sync_and_unpin() {
    owned_value::<Coordinator>();
    owned_value::<taskweave::shutdown::Report>();
    owned_value::<taskweave::bus::Subscription<u64>>();
    owned_value::<taskweave::pool::JobHandle<u64>>();
    owned_value::<taskweave::batch::Ticket<u64, io::Error>>();
    owned_value::<taskweave::batch::BatcherSink<u64, u64, io::Error>>();
    owned_value::<taskweave::breaker::Permit>();
    owned_value::<taskweave::nats::Worker>();
    owned_value::<taskweave::pipeline::Pipeline<u64>>();
    owned_value::<taskweave::pipeline::DeadLetters>();
}
