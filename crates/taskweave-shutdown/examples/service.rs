//! A small service in three groups that exits cleanly on Ctrl-C (press it twice to abort).
//!
//! ```text
//! cargo run -p taskweave-shutdown --example service        # stop with Ctrl-C
//! cargo run -p taskweave-shutdown --example service -- 3   # or stop itself after 3 s
//! ```
//!
//! - `ingress/ticker` makes a job every 100 ms; on shutdown it stops and closes the queue.
//! - `workers/worker-N` process jobs until the queue is closed and empty (they drain it).
//! - `storage/db-writer` batches results and flushes once a second, and once more at the end.
//!
//! The phases stop in that order, so no job that was accepted is lost.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use taskweave_shutdown::Coordinator;
use tokio::sync::{Mutex, mpsc};
use tokio::time::{interval, sleep};
use tracing_subscriber::EnvFilter;

#[derive(Debug)]
struct Job(u64);

#[derive(Debug)]
struct Done(u64);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,taskweave_shutdown=debug")),
        )
        .init();

    let coordinator = match Coordinator::builder()
        .phase("ingress", Duration::from_secs(5))
        .phase("workers", Duration::from_secs(10))
        .phase("storage", Duration::from_secs(5))
        .build()
    {
        Ok(coordinator) => coordinator,
        Err(e) => {
            eprintln!("bad configuration: {e}");
            return ExitCode::FAILURE;
        }
    };

    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(64);
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(64);

    let spawned = (|| {
        coordinator
            .group("ingress")
            .spawn("ticker", move |token| async move {
                let mut tick = interval(Duration::from_millis(100));
                for n in 0.. {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = token.cancelled() => break,
                    }
                    if jobs_tx.send(Job(n)).await.is_err() {
                        return Err("the workers are gone");
                    }
                }
                tracing::info!("ingress stopped; closing the job queue");
                Ok(())
            })?;

        let workers = coordinator.group("workers");
        let jobs_rx = Arc::new(Mutex::new(jobs_rx));
        for i in 0..3 {
            let jobs = Arc::clone(&jobs_rx);
            let done = done_tx.clone();
            workers.spawn(format!("worker-{i}"), move |_token| async move {
                // No need to watch the token: ingress stops first and closes the queue, and
                // a worker's job is to drain it.
                loop {
                    let job = jobs.lock().await.recv().await;
                    let Some(Job(n)) = job else { break };
                    sleep(Duration::from_millis(30)).await;
                    if done.send(Done(n)).await.is_err() {
                        return Err("storage is gone");
                    }
                }
                Ok(())
            })?;
        }
        drop(done_tx);

        coordinator
            .group("storage")
            .spawn("db-writer", move |token| async move {
                let mut batch = Vec::new();
                let mut flush = interval(Duration::from_secs(1));
                let mut written = 0;
                loop {
                    tokio::select! {
                        result = done_rx.recv() => match result {
                            Some(Done(n)) => batch.push(n),
                            None => break, // every worker is done
                        },
                        _ = flush.tick() => {
                            written += batch.len();
                            tracing::info!(rows = batch.len(), written, "flushed");
                            batch.clear();
                        }
                        // Only reached if the workers did not finish in their phase.
                        () = token.cancelled() => break,
                    }
                }
                written += batch.len();
                tracing::info!(rows = batch.len(), written, "final flush");
                Ok::<_, std::io::Error>(())
            })?;
        Ok::<_, taskweave_shutdown::SpawnError>(())
    })();
    if let Err(e) = spawned {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }

    match std::env::args().nth(1).map(|s| s.parse::<u64>()) {
        Some(Ok(secs)) => {
            let handle = coordinator.handle();
            tokio::spawn(async move {
                sleep(Duration::from_secs(secs)).await;
                tracing::info!("{secs} s are up; stopping");
                handle.close();
            });
        }
        Some(Err(_)) => {
            eprintln!("usage: service [SECONDS_TO_RUN]");
            return ExitCode::FAILURE;
        }
        None => tracing::info!("running; press Ctrl-C to stop, twice to abort"),
    }

    let report = coordinator.run().await;
    println!("{report}");
    report.exit_code()
}
