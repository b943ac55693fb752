//! `BreakerLayer` classifies responses like `Breaker::call` and rejects while open.
#![cfg(feature = "tower")]

use std::time::Duration;

use taskweave_breaker::{Breaker, BreakerLayer, CallError, Outcome, State};
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn the_layer_records_classified_responses_and_rejects_while_open() {
    let breaker = Breaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .wait_duration(Duration::from_secs(5))
        .classify(|r: &Result<u16, String>| match r {
            Ok(500..) => Outcome::Failure,
            Ok(404) => Outcome::Ignored,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
        .build()
        .unwrap();
    let inner = service_fn(|status: u16| async move {
        if status == 0 {
            Err("connection reset".to_owned())
        } else {
            Ok(status)
        }
    });
    let mut svc = BreakerLayer::new(breaker.clone()).layer(inner);

    assert_eq!(svc.ready().await.unwrap().call(200).await, Ok(200));
    assert_eq!(svc.ready().await.unwrap().call(404).await, Ok(404));
    assert_eq!(breaker.metrics().buffered_calls, 1, "the 404 is ignored");
    assert_eq!(svc.ready().await.unwrap().call(503).await, Ok(503));
    assert_eq!(svc.ready().await.unwrap().call(502).await, Ok(502));
    assert_eq!(
        svc.ready().await.unwrap().call(0).await,
        Err(CallError::Operation("connection reset".to_owned()))
    );
    // 3 failures of 4: open.
    assert_eq!(breaker.state(), State::Open);
    let rejected = svc.ready().await.unwrap().call(200).await.unwrap_err();
    match rejected {
        CallError::Rejected(r) => assert_eq!(r.retry_after(), Some(Duration::from_secs(5))),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(svc.breaker().metrics().rejected_calls, 1);

    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(svc.ready().await.unwrap().call(204).await, Ok(204));
    assert_eq!(breaker.state(), State::HalfOpen);
    let _inner: &_ = svc.get_ref();
}
