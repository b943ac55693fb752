//! The public types can cross threads, and `call` futures are `Send` when the operation is.

use taskweave_breaker::{
    Breaker, CallError, ConfigError, FailOnErr, Metrics, Outcome, Permit, Rejected, State,
    Transition,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Breaker>();
    send_sync::<Permit>();
    send_sync::<Permit<FailOnErr>>();
    send_sync::<Rejected>();
    send_sync::<CallError<std::io::Error>>();
    send_sync::<ConfigError>();
    send_sync::<Metrics>();
    send_sync::<State>();
    send_sync::<Transition>();
    send_sync::<Outcome>();
}

#[test]
fn call_futures_are_send_and_clones_share_one_breaker() {
    let breaker = Breaker::builder()
        .count_window(4)
        .minimum_calls(1)
        .build()
        .unwrap();
    let clone = breaker.clone();
    let fut = clone.call(|| async { Err::<(), _>("down") });
    send(&fut);
    drop(fut);
    clone.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics(), clone.metrics());
}

#[tokio::test]
async fn a_breaker_moves_into_spawned_tasks() {
    let breaker = Breaker::builder().build().unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let breaker = breaker.clone();
            tokio::spawn(async move { breaker.call(|| async move { Ok::<_, ()>(i) }).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), Ok(i));
    }
    assert_eq!(breaker.metrics().buffered_calls, 4);
}
