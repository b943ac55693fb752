//! A half-open breaker whose trial slots are all held by calls that never record — a hung call,
//! a leaked permit — re-opens after `max_wait_in_half_open` instead of staying half-open for ever.

use std::time::Duration;

use taskweave_breaker::{Breaker, Builder, Outcome, State};
use tokio::time::advance;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn small() -> Builder {
    Breaker::builder()
        .count_window(64)
        .minimum_calls(64)
        .failure_rate_threshold(0.5)
        .wait_duration(secs(10))
        .half_open_calls(2)
}

/// Trips the breaker and waits out the open state.
async fn trip_and_wait(breaker: &Breaker) {
    for _ in 0..64 {
        breaker.try_acquire().unwrap().record(Outcome::Failure);
    }
    assert_eq!(breaker.state(), State::Open);
    advance(secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn leaked_trial_permits_do_not_keep_the_breaker_half_open_by_default() {
    let breaker = small().build().unwrap();
    trip_and_wait(&breaker).await;
    for _ in 0..2 {
        let permit = breaker.try_acquire().unwrap();
        assert_eq!(permit.admitted_in(), State::HalfOpen);
        std::mem::forget(permit);
    }
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    // The default bound is finite: an hour later, the next caller finds the trials abandoned.
    advance(secs(3600)).await;
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(
        rejected.state(),
        State::Open,
        "re-opened, not stuck half-open"
    );
    assert_eq!(rejected.retry_after(), Some(secs(10)));
    assert_eq!(breaker.state(), State::Open);
    advance(secs(10)).await;
    // Fresh trials, all slots free again.
    for _ in 0..2 {
        let permit = breaker.try_acquire().unwrap();
        assert_eq!(permit.admitted_in(), State::HalfOpen);
        permit.record(Outcome::Success);
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_hung_trial_call_is_abandoned_after_max_wait_in_half_open() {
    let breaker = small()
        .half_open_calls(1)
        .max_wait_in_half_open(secs(5))
        .build()
        .unwrap();
    trip_and_wait(&breaker).await;
    let hung = tokio::spawn({
        let breaker = breaker.clone();
        async move { breaker.call(std::future::pending::<Result<(), ()>>).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(
        breaker.state(),
        State::HalfOpen,
        "the hung call took the trial"
    );
    advance(Duration::from_millis(4_999)).await;
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    let mut events = breaker.subscribe();
    advance(Duration::from_millis(1)).await;
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.state(), State::Open);
    assert_eq!(rejected.retry_after(), Some(secs(10)));
    let t = events.try_recv().unwrap();
    assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
    assert_eq!(breaker.metrics().rejected_calls, 2);

    advance(secs(10)).await;
    assert_eq!(breaker.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    assert_eq!(breaker.state(), State::Closed);
    // Cancelling the abandoned call releases nothing of the new state.
    hung.abort();
    assert!(hung.await.unwrap_err().is_cancelled());
    let m = breaker.metrics();
    assert_eq!((m.state, m.stale_outcomes), (State::Closed, 0));
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_permit_that_records_late_is_dropped_and_counted() {
    let breaker = small()
        .half_open_calls(1)
        .max_wait_in_half_open(secs(5))
        .build()
        .unwrap();
    trip_and_wait(&breaker).await;
    let late = breaker.try_acquire().unwrap();
    advance(secs(5)).await;
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::Open);
    advance(secs(10)).await;
    let trial = breaker.try_acquire().unwrap();
    assert_eq!(trial.admitted_in(), State::HalfOpen);
    // The abandoned trial's failure must neither decide the new trial nor free its slot.
    late.record(Outcome::Failure);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.metrics().buffered_calls, 0);
    assert_eq!(breaker.metrics().stale_outcomes, 1);
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    trial.record(Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_free_trial_slot_is_taken_rather_than_abandoning_the_trials() {
    let breaker = small().max_wait_in_half_open(secs(5)).build().unwrap();
    trip_and_wait(&breaker).await;
    std::mem::forget(breaker.try_acquire().unwrap());
    // Light traffic: the second trial arrives long after the bound. It still gets its slot.
    advance(secs(60)).await;
    let second = breaker.try_acquire().expect("a free slot is handed out");
    assert_eq!(second.admitted_in(), State::HalfOpen);
    // Now every slot is held, and the bound is long past: the next caller gives up on them.
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::Open);
    second.record(Outcome::Success);
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().stale_outcomes, 1);
}

#[tokio::test(start_paused = true)]
async fn abandoning_the_trials_is_a_consecutive_trip_for_the_growing_wait() {
    let breaker = small()
        .half_open_calls(1)
        .wait_growth(2.0, secs(35))
        .max_wait_in_half_open(secs(1))
        .build()
        .unwrap();
    trip_and_wait(&breaker).await;
    for wait in [20, 35, 35] {
        std::mem::forget(breaker.try_acquire().unwrap());
        advance(secs(1)).await;
        let rejected = breaker.try_acquire().unwrap_err();
        assert_eq!(
            (rejected.state(), rejected.retry_after()),
            (State::Open, Some(secs(wait)))
        );
        advance(secs(wait)).await;
    }
    breaker.try_acquire().unwrap().record(Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_manual_half_open_is_bounded_too() {
    let breaker = small()
        .half_open_calls(1)
        .max_wait_in_half_open(secs(5))
        .build()
        .unwrap();
    breaker.half_open();
    std::mem::forget(breaker.try_acquire().unwrap());
    advance(secs(5)).await;
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn duration_max_waits_for_ever_as_resilience4j_zero_does() {
    let breaker = small()
        .max_wait_in_half_open(Duration::MAX)
        .build()
        .unwrap();
    trip_and_wait(&breaker).await;
    let held: Vec<_> = (0..2).map(|_| breaker.try_acquire().unwrap()).collect();
    advance(secs(10 * 365 * 24 * 3600)).await;
    assert_eq!(breaker.try_acquire().unwrap_err().state(), State::HalfOpen);
    for permit in held {
        permit.record(Outcome::Success);
    }
    assert_eq!(breaker.state(), State::Closed);
}
