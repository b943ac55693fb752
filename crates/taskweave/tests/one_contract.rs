//! One lifecycle contract across every pattern crate: a service wired under one
//! `shutdown::Coordinator` **by tokens only** — each component is built with the
//! `cancellation_token` of the coordinator group that owns it; the coordinator never sees a
//! component's type — is put under load, stopped by a signal in the middle, and then every item
//! is accounted for (from the components' own metrics, results and reports) and every phase is
//! shown to have had its grace period.
//!
//! ```text
//!  intake      RateLimiter ─▶ generator ─▶ Pool ───────────────────────────── work
//!                                          job: retry(backoff) ─▶ Breaker ─▶ flaky dependency
//!  output                                   ├─▶ Tally actor (every item: done or gave up)
//!                                           └─▶ Batcher (done items) ─flush─▶ Bus ── telemetry
//!                                                                             └─▶ subscriber
//! ```
//!
//! Phases stop in that order: intake, work, output, telemetry. Time is paused (deterministic,
//! no real sleep), and the whole run is under a hang watchdog.
#![cfg(feature = "full")]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use taskweave::actor::{self, Actor, ActorConfig, ActorRef, Context, ExitReason};
use taskweave::backoff::{Backoff, StopReason, retry};
use taskweave::batch::{self, Batcher};
use taskweave::breaker::{Breaker, CallError, Rejected};
use taskweave::bus::{Bus, LagPolicy, RecvError};
use taskweave::limit::{self, Quota, RateLimiter};
use taskweave::pool::{self, Pool};
use taskweave::shutdown::{Cause, Coordinator, Outcome, Report, Signal};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};

/// Grace period of each phase, in stop order (the default phase holds no task).
const PHASES: [(&str, Duration); 4] = [
    ("intake", Duration::from_secs(1)),
    ("work", Duration::from_secs(2)),
    ("output", Duration::from_secs(2)),
    ("telemetry", Duration::from_secs(2)),
];
/// What each owning task gives its component to finish, inside its phase's grace period.
const COMPONENT_GRACE: Duration = Duration::from_millis(1500);
/// One call to the dependency.
const LATENCY: Duration = Duration::from_millis(25);
/// One flush of the batcher (a write downstream, before it publishes).
const FLUSH_LATENCY: Duration = Duration::from_millis(30);
/// The dependency fails every call in this window (since the start).
const OUTAGE: std::ops::Range<Duration> = Duration::from_millis(150)..Duration::from_millis(250);
/// When the signal arrives, with items queued and in flight.
const SIGNAL_AT: Duration = Duration::from_millis(400);
const SUBJECT: &str = "results.batch";

/// The dependency's only failure.
#[derive(Debug)]
struct Unavailable;

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dependency unavailable")
    }
}

impl std::error::Error for Unavailable {}

/// A flaky in-process dependency: down during [`OUTAGE`]; otherwise every fourth item fails its
/// first attempt.
struct Dependency {
    start: Instant,
}

impl Dependency {
    async fn call(&self, item: u64, attempt: u32) -> Result<u64, Unavailable> {
        sleep(LATENCY).await;
        if OUTAGE.contains(&self.start.elapsed()) || (item % 4 == 0 && attempt == 1) {
            Err(Unavailable)
        } else {
            Ok(item * 10)
        }
    }
}

/// Counts every item's fate; hands its totals over when it stops.
struct Tally {
    done: u64,
    gave_up: u64,
    cancelled: u64,
    totals: Option<oneshot::Sender<TallyTotals>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TallyTotals {
    done: u64,
    gave_up: u64,
    /// Of those that gave up, how many stopped because the work phase's token fired.
    cancelled: u64,
    reason: &'static str,
}

enum Fate {
    Done,
    GaveUp(StopReason),
}

impl Actor for Tally {
    type Args = oneshot::Sender<TallyTotals>;
    type Message = Fate;
    type Error = Infallible;

    async fn start(totals: Self::Args, _: &mut Context<Self>) -> Result<Self, Infallible> {
        Ok(Tally {
            done: 0,
            gave_up: 0,
            cancelled: 0,
            totals: Some(totals),
        })
    }

    async fn handle(&mut self, fate: Fate, _: &mut Context<Self>) -> Result<(), Infallible> {
        match fate {
            Fate::Done => self.done += 1,
            Fate::GaveUp(reason) => {
                self.gave_up += 1;
                if reason == StopReason::Cancelled {
                    self.cancelled += 1;
                }
            }
        }
        Ok(())
    }

    async fn stop(&mut self, reason: &ExitReason, _: &mut Context<Self>) {
        let reason = match reason {
            ExitReason::Cancelled => "cancelled",
            ExitReason::Stopped => "stopped",
            _ => "other",
        };
        if let Some(totals) = self.totals.take() {
            let _ = totals.send(TallyTotals {
                done: self.done,
                gave_up: self.gave_up,
                cancelled: self.cancelled,
                reason,
            });
        }
    }
}

type Results = Batcher<u64, (), taskweave::bus::PublishError<Vec<u64>>>;

/// One item's job: the dependency through the breaker, inside a retry that stops on the work
/// phase's token; then its fate to the tally, and a done item to the batcher.
async fn job(
    item: u64,
    dependency: Arc<Dependency>,
    breaker: Breaker,
    policy: Backoff,
    token: taskweave::shutdown::CancellationToken,
    tally: ActorRef<Tally>,
    results: Results,
) {
    let mut attempt = 0;
    let outcome = retry(policy, || {
        attempt += 1;
        let (breaker, dependency, attempt) = (breaker.clone(), Arc::clone(&dependency), attempt);
        async move { breaker.call(|| dependency.call(item, attempt)).await }
    })
    .retry_after(|e: &CallError<Unavailable>| e.as_rejected().and_then(Rejected::retry_after))
    .cancellation_token(token)
    .await;
    let fate = match outcome {
        Ok(_) => Fate::Done,
        Err(e) => Fate::GaveUp(e.reason()),
    };
    let done = matches!(fate, Fate::Done);
    // The output phase stops after the work phase: both must still accept.
    assert!(
        tally.tell(fate).await.is_ok(),
        "the tally refused item {item}"
    );
    if done {
        assert!(
            results.push(item).await.is_ok(),
            "the batcher refused item {item}"
        );
    }
}

struct IntakeEnd {
    generated: u64,
    handed_back: u64,
    limiter: limit::Metrics,
}

struct WorkEnd {
    intake_closed_first: bool,
    report: pool::ShutdownReport,
    metrics: pool::Metrics,
}

struct OutputEnd {
    pool_drained_first: bool,
    actor: actor::ShutdownReport,
    actor_metrics: actor::Metrics,
    batch: batch::ShutdownReport<u64>,
    batch_metrics: batch::Metrics,
}

struct TelemetryEnd {
    closed_by_its_token: bool,
    report: taskweave::bus::ShutdownReport,
    metrics: taskweave::bus::Metrics,
    batches: u64,
    items: u64,
    lagged: u64,
}

struct Run {
    report: Report,
    intake: IntakeEnd,
    work: WorkEnd,
    output: OutputEnd,
    telemetry: TelemetryEnd,
    tally: TallyTotals,
    breaker: taskweave::breaker::Metrics,
}

async fn run_service() -> Run {
    let mut builder = Coordinator::builder()
        .signals(false)
        .grace(Duration::from_secs(1));
    for (name, grace) in PHASES {
        builder = builder.phase(name, grace);
    }
    let coordinator = builder.build().expect("valid coordinator");
    let (intake, work, output, telemetry) = (
        coordinator.group("intake"),
        coordinator.group("work"),
        coordinator.group("output"),
        coordinator.group("telemetry"),
    );

    // Components, each stopped by the token of the group that owns it.
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(100).with_burst(1))
        .cancellation_token(intake.token())
        .build()
        .expect("valid limiter");
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(8)
        .cancellation_token(work.token())
        .build()
        .expect("valid pool");
    let (totals_tx, totals_rx) = oneshot::channel();
    let tally = Tally::spawn_with(
        totals_tx,
        &ActorConfig::builder()
            .name("tally")
            .mailbox_capacity(16)
            .cancellation_token(output.token())
            .build()
            .expect("valid actor config"),
    );
    let bus: Bus<Vec<u64>> = Bus::builder()
        .capacity(4)
        .cancellation_token(telemetry.token())
        .build()
        .expect("valid bus");
    let mut subscription = bus
        .subscription("results.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .expect("valid subscription");
    let flush_bus = bus.clone();
    let results: Results = Batcher::builder()
        .max_items(8)
        .max_delay(Duration::from_millis(20))
        .cancellation_token(output.token())
        .build(move |batch: Vec<u64>| {
            let bus = flush_bus.clone();
            async move {
                sleep(FLUSH_LATENCY).await;
                bus.publish(SUBJECT, batch).await.map(drop)
            }
        })
        .expect("valid batcher");
    // No queue, no task of its own: nothing to stop (see the lifecycle table).
    let breaker = Breaker::builder()
        .count_window(10)
        .minimum_calls(5)
        .failure_rate_threshold(0.5)
        .wait_duration(Duration::from_millis(30))
        .build()
        .expect("valid breaker");
    let policy = Backoff::constant(Duration::from_millis(10))
        .max_attempts(3)
        .build()
        .expect("valid policy");
    let dependency = Arc::new(Dependency {
        start: Instant::now(),
    });

    // intake: admitted by the limiter, submitted to the pool, until the limiter closes.
    let limiter_probe = limiter.clone();
    let (intake_tx, intake_rx) = oneshot::channel();
    {
        let (pool, tally, results, breaker, work_token) = (
            pool.clone(),
            tally.clone(),
            results.clone(),
            breaker.clone(),
            work.token(),
        );
        intake
            .spawn("generator", move |_token| async move {
                let (mut generated, mut handed_back) = (0, 0);
                while limiter.acquire().await.is_ok() {
                    generated += 1;
                    let job = job(
                        generated,
                        Arc::clone(&dependency),
                        breaker.clone(),
                        policy,
                        work_token.clone(),
                        tally.clone(),
                        results.clone(),
                    );
                    if let Err(refused) = pool.submit(job).await {
                        drop(refused.into_inner());
                        handed_back += 1;
                    }
                }
                let _ = intake_tx.send(IntakeEnd {
                    generated,
                    handed_back,
                    limiter: limiter.metrics(),
                });
                Ok::<_, Infallible>(())
            })
            .expect("spawn generator");
    }

    // work: the pool finishes what it accepted.
    let (work_tx, work_rx) = oneshot::channel();
    {
        let pool = pool.clone();
        work.spawn("pool", move |token| async move {
            token.cancelled().await;
            let intake_closed_first = limiter_probe.is_closed();
            let report = pool.shutdown(COMPONENT_GRACE).await;
            let _ = work_tx.send(WorkEnd {
                intake_closed_first,
                report,
                metrics: pool.metrics(),
            });
            Ok::<_, Infallible>(())
        })
        .expect("spawn pool owner");
    }

    // output: the tally handles its mailbox, the batcher flushes what it holds to the bus.
    let (output_tx, output_rx) = oneshot::channel();
    {
        let (tally, results, pool) = (tally.clone(), results.clone(), pool.clone());
        output
            .spawn("sinks", move |token| async move {
                token.cancelled().await;
                let m = pool.metrics();
                let pool_drained_first = pool.is_closed() && m.in_flight == 0 && m.queued == 0;
                // The token closed the tally: wait for it to exit on its own (a `shutdown`
                // racing the token would close it first, and it would exit `Stopped`), then
                // collect its report, bounded by the grace period either way.
                let _ = tokio::time::timeout(COMPONENT_GRACE, tally.monitor()).await;
                let actor = tally.shutdown(COMPONENT_GRACE).await;
                let batch = results.shutdown(COMPONENT_GRACE).await;
                let _ = output_tx.send(OutputEnd {
                    pool_drained_first,
                    actor,
                    actor_metrics: tally.metrics(),
                    batch,
                    batch_metrics: results.metrics(),
                });
                Ok::<_, Infallible>(())
            })
            .expect("spawn output owner");
    }

    // telemetry: the subscriber reads until the bus, closed by its token, is drained.
    let (telemetry_tx, telemetry_rx) = oneshot::channel();
    telemetry
        .spawn("subscriber", move |token| async move {
            // Holding a handle keeps the bus open until its token closes it.
            let (mut batches, mut items, mut lagged) = (0, 0, 0);
            let closed = loop {
                match subscription.recv().await {
                    Ok(batch) => {
                        batches += 1;
                        items += batch.len() as u64;
                    }
                    Err(RecvError::Lagged(n)) => lagged += n,
                    Err(e) => break matches!(e, RecvError::Closed),
                }
            };
            // Everything was read: nothing for the shutdown to discard.
            let report = bus.shutdown(COMPONENT_GRACE).await;
            let _ = telemetry_tx.send(TelemetryEnd {
                closed_by_its_token: closed && token.is_cancelled(),
                report,
                metrics: bus.metrics(),
                batches,
                items,
                lagged,
            });
            Ok::<_, Infallible>(())
        })
        .expect("spawn subscriber");

    // Our own handles go: from here on only the coordinator's tasks hold the components.
    drop((pool, tally, results));

    let signaller = coordinator.handle();
    tokio::spawn(async move {
        sleep(SIGNAL_AT).await;
        signaller.deliver_signal(Signal::Terminate);
    });
    let report = coordinator.run().await;

    Run {
        report,
        intake: intake_rx.await.expect("the generator reported"),
        work: work_rx.await.expect("the pool owner reported"),
        output: output_rx.await.expect("the output owner reported"),
        telemetry: telemetry_rx.await.expect("the subscriber reported"),
        tally: totals_rx.await.expect("the tally handed over its totals"),
        breaker: breaker.metrics(),
    }
}

fn run_paused() -> Run {
    finishes_within(HANG_LIMIT, "one_contract", || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime")
            .block_on(run_service())
    })
}

#[test]
fn every_item_is_accounted_for_from_the_components_own_counts() {
    let Run {
        intake,
        work,
        output,
        telemetry,
        tally,
        breaker,
        ..
    } = run_paused();

    // Load really ran, and the signal came in the middle of it: the outage was seen, the
    // breaker opened and rejected, and the intake was still generating.
    assert!(intake.generated >= 30, "generated {}", intake.generated);
    assert!(tally.gave_up > 0, "{tally:?}");
    assert!(
        breaker.transitions > 0 && breaker.rejected_calls > 0,
        "{breaker:?}"
    );

    // intake: every item generated was admitted by the limiter, and nothing else was.
    assert_eq!(intake.limiter.admitted, intake.generated);
    // work: every admitted item was run by the pool or handed back by it.
    assert_eq!(
        intake.generated,
        work.metrics.completed + work.metrics.failed + intake.handed_back,
        "pool {:?}, handed back {}",
        work.metrics,
        intake.handed_back
    );
    assert_eq!(work.metrics.failed, 0, "{:?}", work.metrics);
    assert_eq!((work.metrics.in_flight, work.metrics.queued), (0, 0));
    // Phases in order: the pool closed after the intake stopped submitting.
    assert_eq!(intake.handed_back, 0);
    // output: every job reported its item's fate to the tally exactly once.
    assert_eq!(output.actor_metrics.handled, work.metrics.completed);
    assert_eq!(tally.done + tally.gave_up, output.actor_metrics.handled);
    assert_eq!(output.actor_metrics.discarded, 0);
    // Every done item went into the batcher and was flushed, successfully.
    let b = &output.batch_metrics;
    assert_eq!(b.accepted, tally.done, "{b:?}");
    assert_eq!(b.items_flushed, b.accepted, "{b:?}");
    assert_eq!(
        (
            b.batches_failed,
            b.batches_aborted,
            b.items_unflushed,
            b.rejected_closed
        ),
        (0, 0, 0, 0),
        "{b:?}"
    );
    // telemetry: every flushed batch reached the subscriber, nothing lagged.
    assert_eq!(telemetry.items, b.items_flushed);
    assert_eq!(telemetry.batches, b.batches_succeeded);
    assert_eq!(telemetry.lagged, 0);
    let m = &telemetry.metrics;
    assert_eq!(m.published, b.batches_succeeded, "{m:?}");
    assert_eq!(
        (m.delivered, m.refused, m.lagged, m.discarded),
        (m.published, 0, 0, 0),
        "{m:?}"
    );
}

#[test]
fn every_component_drains_and_every_phase_gets_its_grace() {
    let Run {
        report,
        work,
        output,
        telemetry,
        tally,
        ..
    } = run_paused();

    assert_eq!(*report.cause(), Cause::Signal(Signal::Terminate));
    assert!(!report.was_forced(), "{report}");
    assert!(report.is_clean(), "{report}");

    // Each component's own end state.
    assert!(work.intake_closed_first);
    assert!(work.report.is_clean(), "{:?}", work.report);
    assert!(output.pool_drained_first, "output began before work ended");
    assert!(output.actor.is_clean(), "{:?}", output.actor);
    assert!(
        matches!(output.actor.reason, ExitReason::Cancelled),
        "{:?}",
        output.actor.reason
    );
    assert!(output.actor_metrics.exited && output.actor_metrics.closed);
    assert_eq!(tally.reason, "cancelled");
    assert!(output.batch.is_clean());
    assert_eq!(output.batch_metrics.buffered_items, 0);
    assert!(telemetry.closed_by_its_token);
    assert!(telemetry.report.is_clean(), "{:?}", telemetry.report);

    // One line per task, phase by phase in stop order, each completed within its phase's grace.
    let paths: Vec<String> = report.tasks().iter().map(|t| t.path()).collect();
    assert_eq!(
        paths,
        [
            "intake/generator",
            "work/pool",
            "output/sinks",
            "telemetry/subscriber"
        ]
    );
    let mut phases_total = Duration::ZERO;
    for (task, (phase, grace)) in report.tasks().iter().zip(PHASES) {
        assert_eq!(task.group(), phase);
        assert_eq!(*task.outcome(), Outcome::Completed, "{task}");
        let took = task
            .shutdown_duration()
            .unwrap_or_else(|| panic!("{task} ended before its phase began"));
        assert!(took < grace, "{task} took {took:?}, grace {grace:?}");
        phases_total += took;
    }
    // The work phase had jobs in flight to finish, the output phase a tail to flush, and they
    // got the time; the phases ran one after another.
    let took = |path| report.task(path).unwrap().shutdown_duration().unwrap();
    assert!(took("work/pool") >= LATENCY / 2, "{report}");
    assert!(took("output/sinks") >= FLUSH_LATENCY, "{report}");
    assert!(report.duration() >= phases_total, "{report}");
}
