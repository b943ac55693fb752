//! The wiring: which task owns what, which phase stops it, and how the counts reach the
//! statistics actor.
//!
//! (Over 400 lines on purpose: this is the one place where the whole service is wired, read
//! top to bottom against the diagram below; each stage's own logic lives in its module.)
//!
//! ```text
//! phase (default)   generator ──mpsc──▶ ┐
//! phase "workers"   enrich task: taskweave-pipeline Flow, stage "enrich" (unordered,
//!                   `concurrency` at once), each event a Pool job: validate ─▶ rate limiter
//!                   (remote quota) ─▶ wait while breaker open ─▶ retry(backoff, budget)
//!                   ─▶ breaker ─▶ remote;  outcomes ──push──▶ Batcher
//!                   breaker-watch: breaker transitions ─▶ bus
//! phase "storage"   Batcher ─flush─▶ spawn_blocking: one transaction per batch ─▶ SQLite
//!                   writer task: batcher.drain(), close the connection, close the bus
//! phase "telemetry" bus ">" (lossless) ─▶ stats task ─▶ StatsActor  (asked at the end)
//!                   bus ">" (lossy)    ─▶ progress bar / log lines
//!                   --nats only: bus (lossy) ─▶ taskweave-nats Bridge ─JSON─▶ NATS server
//! ```
//!
//! A normal run ends from the front: the generator returns after the last event, which closes
//! the channel; the enrich task sees the pipeline's output end and drains the pool; the writer
//! flushes the batcher, closes the database and the bus; the telemetry tasks drain the bus and
//! return (the NATS bridge, if any, sends what it holds and has the server confirm it). With no task left, the coordinator reports [`Cause::AllTasksFinished`].
//!
//! Ctrl-C or `--stop-after` starts the same sequence at the generator, phase by phase: the
//! generator's token stops it, and every later stage drains what is already in flight. The
//! "workers" token cuts retries short and closes the rate limiter (its cancellation token), so
//! an event still waiting for a permit is dead-lettered rather than sent.
//!
//! [`Cause::AllTasksFinished`]: taskweave::shutdown::Cause::AllTasksFinished

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use taskweave::actor::{Actor, ActorConfig};
use taskweave::batch::Batcher;
use taskweave::bus::{Bus, LagPolicy, RecvError};
use taskweave::limit::Quota;
use taskweave::pipeline::{ErrorPolicy, Flow, StageConfig};
use taskweave::pool::Pool;
use taskweave::shutdown::{Coordinator, Group};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::enrich::{Enricher, Outcome};
use crate::error::Error;
use crate::events::{Generator, RawEvent};
use crate::progress;
use crate::remote::RemoteService;
use crate::remote_watch::{RemoteWatch, WatchReport};
use crate::stats::{Stats, StatsActor, StatsMsg};
use crate::store::{Row, Store, remove_database};
use crate::summary::Summary;
use crate::telemetry::{
    GENERATOR_PROGRESS, PIPELINE_PROGRESS, Processed, STORE_BATCH, Telemetry, breaker_subject,
};

/// Rows per batch, and so per transaction.
const BATCH_ROWS: usize = 1_000;
/// How often, at most, a stage publishes its counts (it also publishes every `PUBLISH_EVERY`).
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
const PUBLISH_EVERY: u64 = 2_000;

/// Runs the ingest service to the end (all events processed) or to a stop (Ctrl-C,
/// `stop_after`, `stop_after_events`), and returns what it did.
///
/// # Errors
///
/// [`Error`] if a component cannot start, the database cannot be opened or read back, or the
/// statistics actor is gone before the summary. Events that fail one by one are not errors:
/// they are counted in the [`Summary`].
///
/// # Panics
///
/// Panics if called outside a multi-threaded Tokio runtime with time enabled (the actor,
/// pool and batcher spawn tasks on it).
pub async fn run(config: Config) -> Result<Summary, Error> {
    let started = Instant::now();
    let (db_path, keep_db) = match &config.db {
        Some(path) => (path.clone(), true),
        None => (temporary_database(), false),
    };
    let db_error = |source| Error::Database {
        path: db_path.clone(),
        source,
    };
    let store = Arc::new(Store::open(&db_path, config.events).map_err(db_error)?);
    let run_id = store.run_id();

    let result = wire_and_run(&config, Arc::clone(&store), started).await;
    drop(store);
    let outcome = match result {
        Ok(parts) => Store::count_rows(&db_path, run_id)
            .map_err(db_error)
            .map(|rows| (parts, rows)),
        Err(e) => Err(e),
    };
    if !keep_db {
        remove_database(&db_path);
    }
    let (parts, rows) = outcome?;
    Ok(Summary {
        requested: config.events,
        stats: parts.stats,
        rows,
        elapsed: started.elapsed(),
        remote_calls: parts.remote.calls(),
        remote_failures: parts.remote.failures(),
        breaker_rejections: parts.breaker_rejections,
        retries_denied: parts.retries_denied,
        remote_rate: config.remote_rate,
        rate_limited: parts.rate_limited,
        database: keep_db.then_some(db_path),
        report: parts.report,
        nats: parts.nats,
    })
}

/// What `wire_and_run` hands back for the summary.
struct Parts {
    stats: Stats,
    report: taskweave::shutdown::Report,
    remote: Arc<RemoteService>,
    breaker_rejections: u64,
    retries_denied: u64,
    rate_limited: u64,
    nats: Option<WatchReport>,
}

fn temporary_database() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "taskweave-demo-{}-{nanos}.sqlite",
        std::process::id()
    ))
}

async fn wire_and_run(
    config: &Config,
    store: Arc<Store>,
    started: Instant,
) -> Result<Parts, Error> {
    let coordinator = Coordinator::builder()
        .signals(config.signals)
        .grace(Duration::from_secs(5))
        .phase("workers", Duration::from_secs(30))
        .phase("storage", Duration::from_secs(30))
        .phase("telemetry", Duration::from_secs(10))
        .build()
        .map_err(|e| Error::setup("shutdown coordinator", e))?;
    let workers = coordinator.group("workers");
    let storage = coordinator.group("storage");
    let telemetry = coordinator.group("telemetry");

    // The bus first, with both subscribers, so that no message is published before they exist.
    let bus: Bus<Telemetry> = Bus::builder()
        .capacity(1_024)
        .build()
        .map_err(|e| Error::setup("bus", e))?;
    let stats_sub = bus
        .subscription(">")
        .lag_policy(LagPolicy::Block)
        .build()
        .map_err(|e| Error::setup("bus", e))?;
    let progress_sub = bus
        .subscription(">")
        .lag_policy(LagPolicy::DropOldest)
        .build()
        .map_err(|e| Error::setup("bus", e))?;
    // `--nats`: the export subscribes before anything is published too.
    let watch = match &config.nats {
        Some(url) => Some(RemoteWatch::start(url, &bus, telemetry.token()).await?),
        None => None,
    };
    // Cancelled by the writer once it closed the bus: the NATS bridge then drains.
    let bus_closed = CancellationToken::new();

    // The remote goes down once half the events' worth of calls has reached it.
    let remote = Arc::new(RemoteService::new(
        config.fail_rate,
        config.outage,
        config.events / 2,
        config.seed,
    ));
    let quota = config
        .remote_rate
        .zip(config.remote_burst())
        .map(|(rate, burst)| Quota::per_second(rate).with_burst(burst));
    let enricher = Arc::new(Enricher::new(Arc::clone(&remote), quota, workers.token())?);

    let batcher = {
        let bus = bus.clone();
        let store = Arc::clone(&store);
        Batcher::builder()
            .max_items(BATCH_ROWS)
            .max_delay(Duration::from_millis(50))
            .max_buffered_items(4 * BATCH_ROWS)
            .build(move |rows: Vec<Row>| write_batch(Arc::clone(&store), bus.clone(), rows))
            .map_err(|e| Error::setup("batcher", e))?
    };

    // The pool runs each enrichment as a task of its own (so they spread over the cores); the
    // pipeline's "enrich" stage keeps `concurrency` of them going and hands the outcomes on.
    let pool = Pool::builder()
        .max_concurrency(config.concurrency)
        .queue_capacity(config.concurrency * 2)
        .build()
        .map_err(|e| Error::setup("worker pool", e))?;

    // Cancelled by the enrich task when no more rows will reach the batcher.
    let intake_done = CancellationToken::new();
    let (events_tx, events_rx) = mpsc::channel::<RawEvent>(1_024);
    let spawn_error = |e| Error::setup("task", e);

    workers
        .spawn("enrich", {
            let (bus, batcher, done) = (bus.clone(), batcher.clone(), intake_done.clone());
            let (enricher, concurrency) = (Arc::clone(&enricher), config.concurrency);
            move |_token| async move {
                // Deliberately deaf to its token: it stops when its input ends, so that
                // everything the generator produced is processed (retries, which would wait,
                // are cut short by the token instead; see `Enricher::new`).
                let result = enrich(pool, enricher, concurrency, events_rx, batcher, bus).await;
                done.cancel();
                result
            }
        })
        .map_err(spawn_error)?;

    workers
        .spawn("breaker-watch", {
            let (bus, done) = (bus.clone(), intake_done.clone());
            let transitions = enricher.breaker().subscribe();
            move |token| watch_breaker(transitions, bus, done, token, started)
        })
        .map_err(spawn_error)?;

    storage
        .spawn("sqlite-writer", {
            let (bus, done, bus_closed) = (bus.clone(), intake_done.clone(), bus_closed.clone());
            move |token| async move {
                tokio::select! {
                    () = done.cancelled() => {}
                    () = token.cancelled() => {}
                }
                // Closes the batcher, flushes the tail and waits for the last transaction.
                batcher.drain().await;
                let closed = tokio::task::spawn_blocking(move || store.close()).await;
                // The last publisher is done: let the subscribers drain and end.
                bus.close();
                bus_closed.cancel();
                match closed {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(join) => Err(join.to_string()),
                }
            }
        })
        .map_err(spawn_error)?;

    let (stats_tx, stats_rx) = oneshot::channel();
    telemetry
        .spawn("stats", move |_token| collect_stats(stats_sub, stats_tx))
        .map_err(spawn_error)?;
    let mode = config.progress.resolve();
    let events = config.events;
    telemetry
        .spawn("progress", move |_token| async move {
            progress::show(progress_sub, events, mode).await;
            Ok::<_, std::convert::Infallible>(())
        })
        .map_err(spawn_error)?;
    let (drained_tx, drained_rx) = oneshot::channel();
    if let Some(watch) = watch.clone() {
        telemetry
            .spawn("nats-bridge", move |token| async move {
                // The summary waits for this; if it has gone, there is no one left to tell.
                let _ = drained_tx.send(watch.run(bus_closed, token).await);
                Ok::<_, std::convert::Infallible>(())
            })
            .map_err(spawn_error)?;
    }
    // The generator last: it may close the coordinator (`stop_after_events`), and nothing can be
    // spawned after that.
    coordinator
        .spawn("generator", {
            let (bus, group, config) = (bus.clone(), coordinator.handle(), config.clone());
            move |token| generate(config, events_tx, bus, group, token)
        })
        .map_err(spawn_error)?;

    drop(bus);

    let report = coordinator.run().await;
    let stats = stats_rx.await.map_err(|_| Error::StatsUnavailable)?;
    let nats = match watch {
        Some(watch) => Some(watch.report(drained_rx.await.ok())),
        None => None,
    };
    Ok(Parts {
        stats,
        report,
        remote,
        breaker_rejections: enricher.breaker().metrics().rejected_calls,
        retries_denied: enricher.budget().denied(),
        rate_limited: enricher.limiter().map_or(0, |l| l.metrics().waited),
        nats,
    })
}

/// The generator task: produces events until done or stopped, publishing its count.
async fn generate(
    config: Config,
    events: mpsc::Sender<RawEvent>,
    bus: Bus<Telemetry>,
    group: Group,
    token: CancellationToken,
) -> Result<(), String> {
    let mut generator = Generator::new(config.seed);
    let deadline = config.stop_after.map(|d| Instant::now() + d);
    let mut sent = 0u64;
    let mut unpublished = 0u64;
    let mut last_publish = Instant::now();
    while sent < config.events {
        if config.stop_after_events == Some(sent) {
            tracing::info!(sent, "--stop-after-events reached: stopping as on Ctrl-C");
            group.close();
            break;
        }
        if token.is_cancelled() {
            break;
        }
        let event = generator.next_event();
        // Fast path: room in the channel. Otherwise wait for room, the stop, or the deadline;
        // an event that loses that race was never generated (it is not counted).
        let sent_now = match events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(event)) => tokio::select! {
                biased;
                () = token.cancelled() => false,
                () = sleep_until(deadline) => false,
                sent = events.send(event) => sent.is_ok(),
            },
        };
        if !sent_now {
            break;
        }
        sent += 1;
        unpublished += 1;
        if unpublished >= PUBLISH_EVERY || last_publish.elapsed() >= PUBLISH_INTERVAL {
            publish(
                &bus,
                GENERATOR_PROGRESS,
                Telemetry::Generated {
                    events: unpublished,
                },
            )
            .await;
            unpublished = 0;
            last_publish = Instant::now();
            // The deadline is checked here too, for when the channel never fills.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
    }
    if deadline.is_some_and(|d| Instant::now() >= d) && sent < config.events {
        tracing::info!(sent, "--stop-after reached: stopping as on Ctrl-C");
        group.close();
    }
    publish(
        &bus,
        GENERATOR_PROGRESS,
        Telemetry::Generated {
            events: unpublished,
        },
    )
    .await;
    tracing::debug!(sent, "generator stopped");
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The enrich task: a pipeline from the event channel through the "enrich" stage (each event a
/// pool job), whose outcomes it routes to the batcher.
async fn enrich(
    pool: Pool,
    enricher: Arc<Enricher>,
    concurrency: usize,
    events: mpsc::Receiver<RawEvent>,
    batcher: Batcher<Row, (), rusqlite::Error>,
    bus: Bus<Telemetry>,
) -> Result<(), String> {
    let stage = StageConfig::new("enrich")
        .concurrency(concurrency)
        .unordered()
        .buffer(concurrency * 2)
        // A job the pool reports as panicked or cancelled is counted, and the rest go on.
        .on_error(ErrorPolicy::Skip);
    let jobs = pool.clone();
    let mut results = Flow::from_receiver(events)
        .map(stage, move |event: RawEvent| {
            let (pool, enricher) = (jobs.clone(), Arc::clone(&enricher));
            async move {
                let job = pool
                    .submit(async move { enricher.process(event).await })
                    .await
                    .map_err(|e| e.to_string())?;
                job.await.map_err(|e| e.to_string())
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    let mut delta = Processed::default();
    let mut last_publish = Instant::now();
    while let Some(outcome) = results.next().await {
        let row = match outcome {
            Outcome::Accepted { row, retries } => {
                delta.accepted += 1;
                delta.retries += u64::from(retries);
                Some(Row::Event(row))
            }
            Outcome::DeadLettered {
                row,
                reason,
                retries,
            } => {
                delta.dead_lettered[reason.index()] += 1;
                delta.retries += u64::from(retries);
                Some(Row::DeadLetter(row))
            }
            Outcome::Rejected(reason) => {
                delta.rejected[reason.index()] += 1;
                None
            }
        };
        if let Some(row) = row {
            if batcher.push(row).await.is_err() {
                delta.store_refused += 1;
            }
        }
        if delta.events() >= PUBLISH_EVERY || last_publish.elapsed() >= PUBLISH_INTERVAL {
            publish(&bus, PIPELINE_PROGRESS, Telemetry::Processed(delta)).await;
            delta = Processed::default();
            last_publish = Instant::now();
        }
    }
    // The output has ended: every event has gone through. Jobs that failed were skipped.
    let stopped = results.finished().await;
    let skipped = results
        .metrics()
        .stages
        .iter()
        .map(|s| s.skipped)
        .sum::<u64>();
    if skipped > 0 {
        tracing::warn!(jobs = skipped, "enrichment jobs failed in the pool");
    }
    delta.pool_errors += skipped;
    publish(&bus, PIPELINE_PROGRESS, Telemetry::Processed(delta)).await;
    drop(results);
    pool.drain().await;
    stopped.map_err(|e| e.to_string())
}

/// The batcher's flush handler: one transaction on a blocking thread, then a bus message.
async fn write_batch(
    store: Arc<Store>,
    bus: Bus<Telemetry>,
    rows: Vec<Row>,
) -> Result<(), rusqlite::Error> {
    let dead_letters = rows
        .iter()
        .filter(|r| matches!(r, Row::DeadLetter(_)))
        .count() as u64;
    let events = rows.len() as u64 - dead_letters;
    let result = tokio::task::spawn_blocking(move || store.write_batch(&rows))
        .await
        .unwrap_or_else(|join| {
            Err(rusqlite::Error::ToSqlConversionFailure(Box::new(
                std::io::Error::other(join.to_string()),
            )))
        });
    if let Err(error) = &result {
        tracing::warn!(%error, events, dead_letters, "batch transaction failed");
    }
    let committed = result.is_ok();
    publish(
        &bus,
        STORE_BATCH,
        Telemetry::Batch {
            events,
            dead_letters,
            committed,
        },
    )
    .await;
    result
}

/// Forwards breaker transitions to the bus until the enrich task is done.
async fn watch_breaker(
    mut transitions: tokio::sync::broadcast::Receiver<taskweave::breaker::Transition>,
    bus: Bus<Telemetry>,
    done: CancellationToken,
    token: CancellationToken,
    started: Instant,
) -> Result<(), String> {
    use tokio::sync::broadcast::error::{RecvError as BroadcastError, TryRecvError};
    let forward = |t: taskweave::breaker::Transition| Telemetry::Breaker {
        from: t.from,
        to: t.to,
        at: t.at.saturating_duration_since(started),
    };
    loop {
        tokio::select! {
            t = transitions.recv() => match t {
                Ok(t) => publish(&bus, breaker_subject(t.to), forward(t)).await,
                Err(BroadcastError::Lagged(n)) => {
                    tracing::warn!(missed = n, "breaker transitions missed");
                }
                Err(BroadcastError::Closed) => return Ok(()),
            },
            () = done.cancelled() => break,
            () = token.cancelled() => break,
        }
    }
    // No more calls, so no more transitions: forward what is queued.
    loop {
        match transitions.try_recv() {
            Ok(t) => publish(&bus, breaker_subject(t.to), forward(t)).await,
            Err(TryRecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "breaker transitions missed")
            }
            Err(_) => return Ok(()),
        }
    }
}

/// The stats task: feeds every bus message to the statistics actor, then asks it for the
/// totals on the summary's behalf and drains it (closes it and waits for it to finish).
async fn collect_stats(
    mut sub: taskweave::bus::Subscription<Telemetry>,
    answer: oneshot::Sender<Stats>,
) -> Result<(), String> {
    let config = ActorConfig::builder()
        .name("stats")
        .build()
        .map_err(|e| e.to_string())?;
    let actor = StatsActor::spawn_with((), &config);
    loop {
        let msg = match sub.recv().await {
            Ok(event) => StatsMsg::Record(event),
            Err(RecvError::Lagged(n)) => StatsMsg::Missed(n),
            Err(_) => break,
        };
        actor
            .tell(msg)
            .await
            .map_err(|_| "the statistics actor stopped early".to_owned())?;
    }
    let stats = actor
        .ask(StatsMsg::Snapshot)
        .await
        .map_err(|_| "the statistics actor did not answer".to_owned())?;
    let reason = actor.drain().await;
    // The summary waits for this; if it has gone, there is no one left to tell.
    let _ = answer.send(stats);
    if reason.is_normal() {
        Ok(())
    } else {
        Err(format!("the statistics actor ended abnormally: {reason:?}"))
    }
}

/// Publishes on the bus. The bus closes only after the last publisher is done, so a refusal
/// here is a bug worth a warning, not a reason to stop the pipeline.
async fn publish(bus: &Bus<Telemetry>, subject: &str, msg: Telemetry) {
    if let Err(error) = bus.publish(subject, msg).await {
        tracing::warn!(%error, subject, "telemetry not published");
    }
}
