//! `actor/ask-100k`: 100k sequential ask round trips to a counter actor.
//! `actor/tell-1m`: 1M tells to a counter actor, then one ask (so every tell was handled).
//!
//! Contenders: the hand-written `mpsc(1024)` + `oneshot` handle (the floor), kameo, ractor and
//! `taskweave_actor`, each with a 1024-message mailbox where it has one (ractor's is
//! unbounded). Measured from a spawned task on a 2-worker runtime; spawning and stopping the
//! actor are not timed.

use std::future::Future;
use std::time::Duration;

use taskweave_benches::{Suite, multi_thread, time_spawned};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

const MAILBOX: usize = 1024;

/// Times `workload(handle)` with a fresh actor from `spawn` (spawning is not timed).
fn measure<H, S, SF, W, WF>(rt: &Runtime, spawn: S, workload: W) -> Duration
where
    H: Send + 'static,
    S: Fn() -> SF,
    SF: Future<Output = H>,
    W: Fn(H) -> WF,
    WF: Future<Output = ()> + Send + 'static,
{
    let handle = rt.block_on(spawn());
    time_spawned(rt, || workload(handle))
}

mod baseline {
    use super::{MAILBOX, mpsc, oneshot};

    pub(crate) enum Msg {
        Inc,
        Get(oneshot::Sender<u64>),
    }

    #[derive(Clone)]
    pub(crate) struct Handle(mpsc::Sender<Msg>);

    impl Handle {
        pub(crate) fn spawn() -> Self {
            let (tx, mut rx) = mpsc::channel(MAILBOX);
            tokio::spawn(async move {
                let mut count = 0_u64;
                while let Some(msg) = rx.recv().await {
                    match msg {
                        Msg::Inc => count += 1,
                        Msg::Get(reply) => {
                            let _ = reply.send(count);
                        }
                    }
                }
            });
            Self(tx)
        }

        pub(crate) async fn inc(&self) {
            self.0.send(Msg::Inc).await.expect("actor alive");
        }

        pub(crate) async fn get(&self) -> u64 {
            let (tx, rx) = oneshot::channel();
            self.0.send(Msg::Get(tx)).await.expect("actor alive");
            rx.await.expect("actor replies")
        }
    }
}

mod ours {
    use taskweave_actor::{Actor, Context, Reply};

    pub(crate) enum Msg {
        Inc,
        Get(Reply<u64>),
    }

    pub(crate) struct Counter(u64);

    impl Actor for Counter {
        type Args = ();
        type Message = Msg;
        type Error = std::convert::Infallible;

        async fn start((): (), _ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
            Ok(Self(0))
        }

        async fn handle(&mut self, msg: Msg, _ctx: &mut Context<Self>) -> Result<(), Self::Error> {
            match msg {
                Msg::Inc => self.0 += 1,
                Msg::Get(reply) => {
                    let _ = reply.send(self.0);
                }
            }
            Ok(())
        }
    }
}

mod kameo_counter {
    use kameo::error::Infallible;
    use kameo::message::{Context, Message};

    pub(crate) struct Counter(pub(crate) u64);
    pub(crate) struct Inc;
    pub(crate) struct Get;

    impl kameo::Actor for Counter {
        type Args = Self;
        type Error = Infallible;

        async fn on_start(
            args: Self,
            _actor_ref: kameo::actor::ActorRef<Self>,
        ) -> Result<Self, Self::Error> {
            Ok(args)
        }
    }

    impl Message<Inc> for Counter {
        type Reply = ();

        async fn handle(&mut self, _: Inc, _ctx: &mut Context<Self, ()>) {
            self.0 += 1;
        }
    }

    impl Message<Get> for Counter {
        type Reply = u64;

        async fn handle(&mut self, _: Get, _ctx: &mut Context<Self, u64>) -> u64 {
            self.0
        }
    }
}

mod ractor_counter {
    use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

    pub(crate) enum Msg {
        Inc,
        Get(RpcReplyPort<u64>),
    }

    pub(crate) struct Counter;

    impl ractor::Actor for Counter {
        type Msg = Msg;
        type State = u64;
        type Arguments = ();

        async fn pre_start(
            &self,
            _myself: ActorRef<Msg>,
            (): (),
        ) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }

        async fn handle(
            &self,
            _myself: ActorRef<Msg>,
            msg: Msg,
            count: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                Msg::Inc => *count += 1,
                Msg::Get(reply) => {
                    let _ = reply.send(*count);
                }
            }
            Ok(())
        }
    }
}

async fn spawn_ours() -> taskweave_actor::ActorRef<ours::Counter> {
    use taskweave_actor::{Actor, ActorConfig};
    let config = ActorConfig::builder()
        .mailbox_capacity(MAILBOX)
        .build()
        .expect("a valid config");
    ours::Counter::spawn_with((), &config)
}

async fn spawn_kameo() -> kameo::actor::ActorRef<kameo_counter::Counter> {
    use kameo::actor::Spawn as _;
    kameo_counter::Counter::spawn_with_mailbox(
        kameo_counter::Counter(0),
        kameo::mailbox::bounded(MAILBOX),
    )
}

async fn spawn_ractor() -> ractor::ActorRef<ractor_counter::Msg> {
    let (actor, _join) = ractor::Actor::spawn(None, ractor_counter::Counter, ())
        .await
        .expect("ractor spawns");
    actor
}

/// One runtime per contender, so that no contender's leftover tasks run during another's.
fn runtimes() -> [Runtime; 4] {
    std::array::from_fn(|_| multi_thread(2))
}

fn ask_100k(suite: &mut Suite) {
    let asks = suite.scale(100_000);
    let [floor, ours, kameo, ractor] = runtimes();
    suite.group("actor/ask-100k", asks, |g| {
        g.floor("mpsc(1024) + oneshot", || {
            let spawn = || async { baseline::Handle::spawn() };
            measure(&floor, spawn, |handle| async move {
                for _ in 0..asks {
                    assert_eq!(handle.get().await, 0);
                }
            })
        });
        g.ours("taskweave: Actor", || {
            measure(&ours, spawn_ours, |actor| async move {
                for _ in 0..asks {
                    assert_eq!(actor.ask(ours::Msg::Get).await.expect("replies"), 0);
                }
            })
        });
        g.peer("kameo", || {
            measure(&kameo, spawn_kameo, |actor| async move {
                for _ in 0..asks {
                    let count = actor.ask(kameo_counter::Get).await.expect("replies");
                    assert_eq!(count, 0);
                }
                actor.kill();
            })
        });
        g.peer("ractor", || {
            measure(&ractor, spawn_ractor, |actor| async move {
                for _ in 0..asks {
                    let count = ractor::call!(actor, ractor_counter::Msg::Get).expect("replies");
                    assert_eq!(count, 0);
                }
                actor.stop(None);
            })
        });
    });
}

fn tell_1m(suite: &mut Suite) {
    let tells = suite.scale(1_000_000);
    let [floor, ours, kameo, ractor] = runtimes();
    suite.group("actor/tell-1m", tells, |g| {
        g.floor("mpsc(1024) + oneshot", || {
            let spawn = || async { baseline::Handle::spawn() };
            measure(&floor, spawn, |handle| async move {
                for _ in 0..tells {
                    handle.inc().await;
                }
                assert_eq!(handle.get().await, tells);
            })
        });
        g.ours("taskweave: Actor", || {
            measure(&ours, spawn_ours, |actor| async move {
                for _ in 0..tells {
                    actor.tell(ours::Msg::Inc).await.expect("accepts");
                }
                assert_eq!(actor.ask(ours::Msg::Get).await.expect("replies"), tells);
            })
        });
        g.peer("kameo", || {
            measure(&kameo, spawn_kameo, |actor| async move {
                for _ in 0..tells {
                    actor.tell(kameo_counter::Inc).await.expect("accepts");
                }
                let count = actor.ask(kameo_counter::Get).await.expect("replies");
                assert_eq!(count, tells);
                actor.kill();
            })
        });
        g.peer("ractor", || {
            measure(&ractor, spawn_ractor, |actor| async move {
                for _ in 0..tells {
                    ractor::cast!(actor, ractor_counter::Msg::Inc).expect("accepts");
                }
                let count = ractor::call!(actor, ractor_counter::Msg::Get).expect("replies");
                assert_eq!(count, tells);
                actor.stop(None);
            })
        });
    });
    taskweave_benches::note(
        "actor/tell-1m",
        "ractor",
        "unbounded mailbox: tells never wait for the actor (no backpressure)",
    );
}

fn main() {
    let mut suite = Suite::from_env();
    ask_100k(&mut suite);
    tell_1m(&mut suite);
}
