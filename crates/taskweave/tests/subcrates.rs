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
    counter.stop();
    assert!(counter.monitor().await.is_normal());
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
    batcher.shutdown().await;
    assert_eq!(batcher.metrics().items_flushed, 2);
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
}

#[cfg(feature = "bus")]
#[tokio::test]
async fn bus() {
    use std::num::NonZeroUsize;
    use taskweave::bus::{Bus, RecvError};

    let bus: Bus<u32> = Bus::new(NonZeroUsize::new(8).unwrap());
    let mut created = bus.subscribe("orders.*.created").unwrap();
    bus.publish("orders.eu.created", 1).await.unwrap();
    bus.publish("orders.eu.shipped", 2).await.unwrap();
    bus.close();
    assert_eq!(created.recv().await, Ok(1));
    assert_eq!(created.recv().await, Err(RecvError::Closed));
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
}

#[cfg(feature = "pool")]
#[tokio::test]
async fn pool() {
    use std::time::Duration;
    use taskweave::pool::Pool;

    let pool = Pool::builder()
        .max_concurrency(2)
        .queue_capacity(4)
        .build()
        .unwrap();
    let handle = pool.submit(async { 6 * 7 }).await.unwrap();
    assert_eq!(handle.await, Ok(42));
    assert!(pool.shutdown(Duration::from_secs(1)).await.is_clean());
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
    coordinator.trigger();
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::Requested);
    assert_eq!(
        *report.task("workers/worker").unwrap().outcome(),
        Outcome::Completed
    );
}
