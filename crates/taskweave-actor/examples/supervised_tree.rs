//! A supervised actor tree, shut down by a cancellation token.
//!
//! ```text
//! root (one-for-one, at most 5 restarts in 10 s)
//! ├── cache            KvStore, permanent
//! └── jobs             Supervisor (rest-for-one)
//!     ├── intake       Worker, permanent: crashes on job 13
//!     └── audit        Worker, transient: depends on intake, so restarts with it
//! ```
//!
//! Run with `cargo run -p taskweave-actor --example supervised_tree` (set `RUST_LOG=debug` to
//! see every lifecycle event).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use taskweave_actor::{
    Actor, ActorConfig, ActorRef, ChildSpec, Context, ExitReason, Reply, Restart, Strategy,
    Supervisor, SupervisorSpec,
};
use tokio_util::sync::CancellationToken;

/// A key-value store: state owned by one task, no lock.
struct KvStore {
    entries: HashMap<String, String>,
}

enum KvMsg {
    Put(String, String),
    Get(String, Reply<Option<String>>),
}

impl Actor for KvStore {
    type Args = ();
    type Message = KvMsg;
    type Error = Infallible;

    async fn start((): (), _ctx: &mut Context<Self>) -> Result<Self, Infallible> {
        Ok(Self {
            entries: HashMap::new(),
        })
    }

    async fn handle(&mut self, msg: KvMsg, _ctx: &mut Context<Self>) -> Result<(), Infallible> {
        match msg {
            KvMsg::Put(key, value) => {
                self.entries.insert(key, value);
            }
            KvMsg::Get(key, reply) => {
                let _ = reply.send(self.entries.get(&key).cloned());
            }
        }
        Ok(())
    }

    async fn stop(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
        println!(
            "  {} stopping ({reason}) with {} entries",
            ctx.name(),
            self.entries.len()
        );
    }
}

/// Processes jobs; job 13 is unlucky.
struct Worker {
    done: u32,
}

enum WorkerMsg {
    Job(u32),
    Done(Reply<u32>),
}

impl Actor for Worker {
    type Args = ();
    type Message = WorkerMsg;
    type Error = Infallible;

    async fn start((): (), ctx: &mut Context<Self>) -> Result<Self, Infallible> {
        println!("  {} started as {}", ctx.name(), ctx.id());
        Ok(Self { done: 0 })
    }

    async fn handle(&mut self, msg: WorkerMsg, _ctx: &mut Context<Self>) -> Result<(), Infallible> {
        match msg {
            WorkerMsg::Job(13) => panic!("job 13 is unlucky"),
            WorkerMsg::Job(_) => self.done += 1,
            WorkerMsg::Done(reply) => {
                let _ = reply.send(self.done);
            }
        }
        Ok(())
    }

    async fn stop(&mut self, reason: &ExitReason, ctx: &mut Context<Self>) {
        println!("  {} {} stopping: {reason}", ctx.name(), ctx.id());
    }
}

fn jobs_spec() -> SupervisorSpec {
    Supervisor::builder()
        .strategy(Strategy::RestForOne)
        .child(ChildSpec::new::<Worker, _>("intake", || ()))
        .child(ChildSpec::new::<Worker, _>("audit", || ()).restart(Restart::Transient))
        .build()
        .expect("a valid jobs supervisor")
}

async fn intake(jobs: &ActorRef<Supervisor>) -> ActorRef<Worker> {
    jobs.child::<Worker>("intake")
        .await
        .expect("intake is running")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    // Keep the deliberate panic to one line instead of a backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("  (panic: {info})")));

    let shutdown = CancellationToken::new();
    let root_spec = Supervisor::builder()
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .restart_delay(Duration::from_millis(50))
        .child(ChildSpec::new::<KvStore, _>("cache", || ()))
        .child(Supervisor::child_spec("jobs", jobs_spec))
        .build()?;
    let root = Supervisor::spawn_with(
        root_spec,
        &ActorConfig::builder()
            .name("root")
            .cancellation_token(shutdown.clone())
            .build()?,
    );

    println!("1. the tree is up");
    let cache = root
        .child::<KvStore>("cache")
        .await
        .expect("cache is running");
    cache
        .tell(KvMsg::Put("greeting".into(), "hello".into()))
        .await?;
    let greeting = cache
        .ask(|reply| KvMsg::Get("greeting".into(), reply))
        .await?;
    println!("  cache says {greeting:?}");

    println!("2. jobs 10..=12 go through");
    let jobs = root
        .child::<Supervisor>("jobs")
        .await
        .expect("jobs is running");
    let worker = intake(&jobs).await;
    for job in 10..=12 {
        worker.tell(WorkerMsg::Job(job)).await?;
    }
    println!("  intake did {} jobs", worker.ask(WorkerMsg::Done).await?);

    println!("3. job 13 crashes intake: rest-for-one restarts intake and audit");
    let crashed = worker.monitor();
    worker.tell(WorkerMsg::Job(13)).await?;
    println!("  intake exited: {}", crashed.await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for child in jobs.children().await? {
        let id = child.id.map_or_else(|| "-".to_owned(), |id| id.to_string());
        println!(
            "  {:<7} running as {id}, restarted {} time(s)",
            child.name, child.restarts
        );
    }
    let worker = intake(&jobs).await;
    worker.tell(WorkerMsg::Job(14)).await?;
    println!(
        "  the new intake did {} job(s)",
        worker.ask(WorkerMsg::Done).await?
    );

    println!(
        "  jobs restarted {} child(ren) so far",
        jobs.metrics().restarts
    );

    println!("4. shutdown: the token closes the tree, children before parents, in reverse order");
    shutdown.cancel();
    let reason = root.monitor().await;
    println!("  root exited: {reason}");
    Ok(())
}
