//! The breaker's futures under a waker that changes on every poll.
//!
//! The breaker never parks a caller: `call` and the tower `ResponseFuture` wait only on the
//! operation they wrap. These tests pin that they add no wake-ups of their own (no self-wake
//! spin) and complete when the waker changes every poll, closed or as a half-open trial.

use std::time::Duration;

use taskweave_breaker::{Breaker, State};
use taskweave_testkit::FreshWakers;
use tokio::sync::oneshot;

fn breaker() -> Breaker {
    Breaker::builder()
        .count_window(64)
        .minimum_calls(64)
        .half_open_calls(1)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_call_completes_under_fresh_wakers_without_spinning() {
    let breaker = breaker();
    for state in [State::Closed, State::HalfOpen] {
        if state == State::HalfOpen {
            breaker.half_open();
        }
        let call = breaker.call(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, ()>(7)
        });
        let (out, polls) = FreshWakers::new(call).await;
        assert_eq!(out, Ok(7));
        // Once to start, once after each sleep.
        assert!(polls <= 3, "{polls} polls in {state}");
    }
    assert_eq!(breaker.state(), State::Closed, "the trial was recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_woken_from_another_thread_completes_under_fresh_wakers() {
    let breaker = breaker();
    breaker.half_open();
    let (tx, rx) = oneshot::channel::<u32>();
    let call = tokio::spawn({
        let breaker = breaker.clone();
        async move {
            FreshWakers::new(breaker.call(|| async { rx.await.map_err(|_| "sender dropped") }))
                .await
        }
    });
    tokio::task::yield_now().await;
    tx.send(9).unwrap();
    let (out, polls) = call.await.unwrap();
    assert_eq!(out, Ok(9));
    assert!(polls <= 2, "{polls} polls");
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().stale_outcomes, 0);
}

#[cfg(feature = "tower")]
#[tokio::test(start_paused = true)]
async fn a_tower_response_completes_under_fresh_wakers_without_spinning() {
    use taskweave_breaker::{BreakerLayer, Rejected};
    use tower::{Layer, Service, ServiceExt, service_fn};

    let breaker = breaker();
    let mut svc = BreakerLayer::new(breaker.clone()).layer(service_fn(|n: u32| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, std::io::Error>(n)
    }));
    breaker.half_open();
    let trial = svc.ready().await.unwrap().call(1);
    // The trial holds the only slot: this call is rejected, at its first poll.
    let rejected = svc.ready().await.unwrap().call(2);
    let (out, polls) = FreshWakers::new(rejected).await;
    assert!(out.unwrap_err().is::<Rejected>());
    assert_eq!(polls, 1);
    let (out, polls) = FreshWakers::new(trial).await;
    assert_eq!(out.unwrap(), 1);
    assert!(polls <= 2, "{polls} polls");
    assert_eq!(breaker.state(), State::Closed);
}
