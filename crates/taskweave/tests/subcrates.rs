//! Every re-exported crate is reachable through the facade and works from there: one small,
//! real use of each, gated by its feature (run with `--all-features`, or one feature at a time).

#[cfg(feature = "actor")]
#[tokio::test]
async fn actor() {
    use std::convert::Infallible;
    use taskweave::actor::{Actor, Context, Reply};

    struct Counter(u64);
    enum Msg {
        Add(u64),
        Get(Reply<u64>),
    }
    impl Actor for Counter {
        type Args = u64;
        type Message = Msg;
        type Error = Infallible;
        async fn start(initial: u64, _: &mut Context<Self>) -> Result<Self, Infallible> {
            Ok(Counter(initial))
        }
        async fn handle(&mut self, msg: Msg, _: &mut Context<Self>) -> Result<(), Infallible> {
            match msg {
                Msg::Add(n) => self.0 += n,
                Msg::Get(reply) => {
                    let _ = reply.send(self.0);
                }
            }
            Ok(())
        }
    }

    let counter = Counter::spawn(1);
    counter.tell(Msg::Add(2)).await.unwrap();
    assert_eq!(counter.ask(Msg::Get).await.unwrap(), 3);
    assert!(counter.drain().await.is_normal());
    let metrics: taskweave::actor::Metrics = counter.metrics();
    assert_eq!(metrics.handled, 2);
}

#[cfg(feature = "backoff")]
#[tokio::test(start_paused = true)]
async fn backoff() {
    use std::time::Duration;
    use taskweave::backoff::{Backoff, StopReason, retry};

    let policy = Backoff::constant(Duration::from_millis(10))
        .max_attempts(3)
        .build()
        .unwrap();
    let error = retry(policy, || async { Err::<(), _>("down") })
        .await
        .unwrap_err();
    assert_eq!(error.reason(), StopReason::Exhausted);
    assert_eq!(error.attempts(), 3);
}

#[cfg(feature = "batch")]
#[tokio::test]
async fn batch() {
    use taskweave::batch::Batcher;

    let batcher = Batcher::builder()
        .max_items(2)
        .build(|items: Vec<u32>| async move {
            Ok::<_, std::io::Error>(items.iter().map(|i| i * 2).collect::<Vec<_>>())
        })
        .unwrap();
    let first = batcher.submit(1).await.unwrap();
    let second = batcher.submit(2).await.unwrap();
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (2, 4));
    batcher.drain().await;
    assert_eq!(batcher.metrics().items_flushed, 2);
}

#[cfg(feature = "pipeline")]
#[tokio::test]
async fn pipeline() {
    use taskweave::pipeline::{Flow, StageConfig};

    let pipeline = Flow::from_iter(1..=3u32)
        .map(StageConfig::new("double").concurrency(2), |n| async move {
            Ok::<_, std::io::Error>(n * 2)
        })
        .build()
        .unwrap();
    let handle = pipeline.handle();
    let mut out = Vec::new();
    pipeline.run(|n| out.push(n)).await.unwrap();
    assert_eq!(out, [2, 4, 6]);
    assert!(handle.metrics().reconciles());
}

#[cfg(feature = "breaker")]
#[tokio::test(start_paused = true)]
async fn breaker() {
    use taskweave::breaker::{Breaker, CallError, State};

    let breaker = Breaker::builder()
        .count_window(4)
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    for _ in 0..2 {
        let _ = breaker.call(|| async { Err::<(), _>("refused") }).await;
    }
    assert_eq!(breaker.state(), State::Open);
    let rejected = breaker.call(|| async { Ok::<_, &str>(()) }).await;
    assert!(matches!(rejected, Err(CallError::Rejected(_))));

    // Settings as data, on a clock of the caller's choosing.
    use taskweave::breaker::{BreakerConfig, ManualClock};
    let clock = ManualClock::new();
    let breaker = BreakerConfig::default()
        .builder()
        .clock(clock.clone())
        .build()
        .unwrap();
    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
}

#[cfg(feature = "bus")]
#[tokio::test]
async fn bus() {
    use taskweave::bus::{Bus, RecvError};

    let bus: Bus<u32> = Bus::new(8);
    let mut created = bus.subscribe("orders.*.created").unwrap();
    bus.publish("orders.eu.created", 1).await.unwrap();
    bus.publish("orders.eu.shipped", 2).await.unwrap();
    bus.close();
    assert_eq!(created.recv().await, Ok(1));
    assert_eq!(created.recv().await, Err(RecvError::Closed));
}

#[cfg(feature = "nats")]
#[test]
fn nats() {
    use taskweave::nats::{Codec, Json};

    // The codec needs no server; the bridge and the work queue are tested against a real
    // nats-server in taskweave-nats.
    let bytes = Codec::<Vec<u32>>::encode(&Json, &vec![1, 2]).unwrap();
    assert_eq!(&bytes[..], b"[1,2]");
    assert_eq!(
        Codec::<Vec<u32>>::decode(&Json, &bytes).unwrap(),
        vec![1, 2]
    );
}

/// The facade's `postcard` feature reaches taskweave-nats's codec.
#[cfg(all(feature = "nats", feature = "postcard"))]
#[test]
fn nats_postcard() {
    use taskweave::nats::{Codec, Postcard};

    let bytes = Codec::<Vec<u32>>::encode(&Postcard, &vec![1, 300]).unwrap();
    // A length and two varints: 1 fits a byte, 300 takes two.
    assert_eq!(&bytes[..], &[2, 1, 0xac, 0x02]);
    assert_eq!(
        Codec::<Vec<u32>>::decode(&Postcard, &bytes).unwrap(),
        vec![1, 300]
    );
}

#[cfg(feature = "clock")]
#[tokio::test(start_paused = true)]
async fn clock() {
    use std::time::Duration;
    use taskweave::clock::{Clock, TokioClock};

    let clock = TokioClock::new();
    tokio::time::advance(Duration::from_millis(3)).await;
    assert_eq!(clock.now_nanos(), 3_000_000);
}

#[cfg(feature = "limit")]
#[tokio::test(start_paused = true)]
async fn limit() {
    use std::time::Duration;
    use taskweave::limit::{Quota, RateLimiter};

    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    assert!(limiter.check().is_ok());
    let retry_after = limiter.check().unwrap_err();
    assert_eq!(retry_after.duration(), Duration::from_millis(100));
    limiter.close();
    assert_eq!(limiter.acquire().await, Err(taskweave::limit::Closed));
}

#[cfg(all(feature = "limit", feature = "tower"))]
#[test]
fn limit_tower_layers_at_the_root() {
    use taskweave::limit::{
        ConcurrencyLimit, ConcurrencyLimitLayer, KeyedRateLimitLayer, KeyedRateLimiter, Quota,
        RateLimitLayer, RateLimiter,
    };

    let rate = RateLimiter::new(Quota::per_second(1)).unwrap();
    let keyed = KeyedRateLimiter::<u32>::new(Quota::per_second(1)).unwrap();
    let slots = ConcurrencyLimit::new(1).unwrap();
    let layers = (
        RateLimitLayer::new(rate),
        KeyedRateLimitLayer::rejecting(keyed, |r: &u32| *r),
        ConcurrencyLimitLayer::new(slots),
    );
    assert!(format!("{layers:?}").contains("RateLimitLayer"));
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn pool() {
    use std::time::Duration;
    use taskweave::pool::{ConfigError, Pool, PoolConfig};

    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(4)
        .build()
        .unwrap();
    assert_eq!(
        pool.set_max_concurrency(0),
        Err(ConfigError::ZeroConcurrency)
    );
    let handle = pool.submit(async { 6 * 7 }).await.unwrap();
    assert_eq!(handle.await, Ok(42));
    assert!(pool.shutdown(Duration::from_secs(1)).await.is_clean());
    assert!(PoolConfig::default().build().is_ok());
}

#[cfg(feature = "shutdown")]
#[tokio::test]
async fn shutdown() {
    use taskweave::shutdown::{Cause, Coordinator, Outcome};

    let coordinator = Coordinator::builder().build().unwrap();
    coordinator
        .group("workers")
        .spawn("worker", |token| async move {
            token.cancelled().await;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    coordinator.close();
    assert!(coordinator.is_closed());
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::Requested);
    assert!(report.is_clean());
    assert_eq!(
        *report.task("workers/worker").unwrap().outcome(),
        Outcome::Completed
    );
}
