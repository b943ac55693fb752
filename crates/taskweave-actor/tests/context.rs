//! Context utilities: delayed and periodic messages to self, streams as message sources, and
//! cancellation by token.

mod support;

use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{Actor, ActorConfig, ConfigError, Context, ExitReason, Reply};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Schedules messages to itself from `start`, as told by its arguments.
struct Clock {
    ticks: Vec<Duration>,
    origin: Instant,
    timer: Option<AbortHandle>,
}

enum ClockMsg {
    Tick,
    Ticks(Reply<Vec<Duration>>),
    /// Whether the timer task started in `start` is still running.
    TimerRunning(Reply<bool>),
}

enum Schedule {
    After(Duration),
    Every(Duration),
    EveryZero(tokio::sync::oneshot::Sender<ConfigError>),
}

impl Actor for Clock {
    type Args = Schedule;
    type Message = ClockMsg;
    type Error = std::convert::Infallible;

    async fn start(schedule: Schedule, ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
        let timer = match schedule {
            Schedule::After(delay) => Some(ctx.send_after(ClockMsg::Tick, delay)),
            Schedule::Every(period) => Some(
                ctx.send_interval(period, || ClockMsg::Tick)
                    .expect("a positive period"),
            ),
            Schedule::EveryZero(reply) => {
                let error = ctx
                    .send_interval(Duration::ZERO, || ClockMsg::Tick)
                    .unwrap_err();
                let _ = reply.send(error);
                None
            }
        };
        Ok(Self {
            ticks: Vec::new(),
            origin: Instant::now(),
            timer,
        })
    }

    async fn handle(
        &mut self,
        message: ClockMsg,
        _ctx: &mut Context<Self>,
    ) -> Result<(), Self::Error> {
        match message {
            ClockMsg::Tick => self.ticks.push(self.origin.elapsed()),
            ClockMsg::Ticks(reply) => {
                let _ = reply.send(self.ticks.clone());
            }
            ClockMsg::TimerRunning(reply) => {
                let running = self.timer.as_ref().is_some_and(|t| !t.is_finished());
                let _ = reply.send(running);
            }
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn send_after_delivers_once_after_the_delay() {
    let clock = Clock::spawn(Schedule::After(Duration::from_millis(300)));
    tokio::time::sleep(Duration::from_millis(299)).await;
    assert!(clock.ask(ClockMsg::Ticks).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        clock.ask(ClockMsg::Ticks).await.unwrap(),
        [Duration::from_millis(300)]
    );
}

#[tokio::test(start_paused = true)]
async fn send_interval_delivers_every_period_and_timers_do_not_keep_the_actor_alive() {
    let clock = Clock::spawn(Schedule::Every(Duration::from_millis(100)));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let ticks = clock.ask(ClockMsg::Ticks).await.unwrap();
    let expected: Vec<Duration> = (1..=4).map(|n| Duration::from_millis(100 * n)).collect();
    assert_eq!(ticks, expected);
    let exited = clock.monitor();
    drop(clock);
    assert!(matches!(exited.await, ExitReason::Normal));
}

#[tokio::test(start_paused = true)]
async fn huge_delays_and_periods_never_fire_and_do_not_panic() {
    // `Instant::now() + Duration::MAX` would overflow: such timers simply never fire.
    let after = Clock::spawn(Schedule::After(Duration::MAX));
    let every = Clock::spawn(Schedule::Every(Duration::MAX));
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(after.ask(ClockMsg::Ticks).await.unwrap().is_empty());
    assert!(every.ask(ClockMsg::Ticks).await.unwrap().is_empty());
    assert!(after.is_alive() && every.is_alive());
    // The timers did not die (a panic in a timer task would end it): they wait for the actor.
    assert!(after.ask(ClockMsg::TimerRunning).await.unwrap());
    assert!(every.ask(ClockMsg::TimerRunning).await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_zero_period_is_an_error_not_a_panic() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let clock = Clock::spawn(Schedule::EveryZero(tx));
    assert_eq!(rx.await.unwrap(), ConfigError::ZeroPeriod);
    assert!(clock.is_alive());
}

#[tokio::test(start_paused = true)]
async fn an_attached_stream_feeds_messages_in_order_and_keeps_the_actor_alive() {
    let log = Log::default();
    let probe = Probe::spawn(ProbeArgs::new(&log));
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let attached = probe.ask(|reply| Msg::Attach(rx, reply)).await.unwrap();
    assert!(attached);
    let exited = probe.monitor();
    drop(probe);
    for n in 0..10 {
        tx.send(n).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(log.entries().contains(&"handle 9".to_owned()));
    drop(tx);
    assert!(matches!(exited.await, ExitReason::Normal));
    let handled: Vec<String> = (0..10).map(|n| format!("handle {n}")).collect();
    assert_eq!(log.entries()[1..11], handled[..]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_token_drains_and_stops_with_cancelled() {
    let log = Log::default();
    let token = CancellationToken::new();
    let probe = Probe::spawn_with(
        ProbeArgs::new(&log),
        &ActorConfig::builder()
            .cancellation_token(token.clone())
            .build()
            .unwrap(),
    );
    let (release, parked) = tokio::sync::oneshot::channel();
    probe.tell(Msg::Block(parked)).await.unwrap();
    probe.tell(Msg::Record(1)).await.unwrap();
    probe.tell(Msg::Record(2)).await.unwrap();
    token.cancel();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(
        probe.try_tell(Msg::Record(3)).is_err(),
        "refused once cancelled"
    );
    release.send(()).unwrap();
    let reason = probe.monitor().await;
    assert!(matches!(reason, ExitReason::Cancelled), "{reason}");
    assert_eq!(
        log.entries(),
        ["start", "handle 1", "handle 2", "stop cancelled"]
    );
}

/// Cancels its own token from a handler.
struct SelfCancelling;

impl Actor for SelfCancelling {
    type Args = ();
    type Message = ();
    type Error = std::convert::Infallible;

    async fn start((): (), _ctx: &mut Context<Self>) -> Result<Self, Self::Error> {
        Ok(Self)
    }

    async fn handle(&mut self, (): (), ctx: &mut Context<Self>) -> Result<(), Self::Error> {
        ctx.cancellation_token().cancel();
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_context_token_is_a_graceful_stop() {
    let actor = SelfCancelling::spawn(());
    actor.tell(()).await.unwrap();
    assert!(matches!(actor.monitor().await, ExitReason::Cancelled));
}
