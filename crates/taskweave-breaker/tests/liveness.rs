//! Realistic concurrency on a multi-thread runtime: many tasks calling through one breaker
//! never overshoot the trial slots, never lose a call or a transition, and a breaker whose
//! dependency recovers always ends up closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use taskweave_breaker::{Breaker, CallError, Outcome, State};
use taskweave_testkit::{HANG_LIMIT, finishes_within};

const TASKS: usize = 64;
const CALLS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_failing_callers_trip_once_and_every_call_is_accounted_for() {
    let breaker = Breaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .wait_duration(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut events = breaker.subscribe();
    let ran = Arc::new(AtomicUsize::new(0));
    let rejected = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (breaker, ran, rejected) = (breaker.clone(), ran.clone(), rejected.clone());
            tokio::spawn(async move {
                for _ in 0..CALLS {
                    let result = breaker
                        .call(|| async {
                            ran.fetch_add(1, SeqCst);
                            tokio::task::yield_now().await;
                            Err::<(), _>("down")
                        })
                        .await;
                    match result {
                        Err(CallError::Rejected(r)) => {
                            assert_eq!(r.state(), State::Open);
                            rejected.fetch_add(1, SeqCst);
                        }
                        Err(CallError::Operation("down")) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (ran, rejected) = (ran.load(SeqCst), rejected.load(SeqCst));
    assert_eq!(
        ran + rejected,
        TASKS * CALLS,
        "every call ran or was rejected"
    );
    assert!(
        ran >= 100,
        "the breaker needs its minimum before it trips: {ran}"
    );
    let m = breaker.metrics();
    assert_eq!(m.rejected_calls, rejected as u64);
    assert_eq!((m.state, m.transitions), (State::Open, 1));
    let t = events.try_recv().unwrap();
    assert_eq!((t.from, t.to), (State::Closed, State::Open));
    assert!(events.try_recv().is_err(), "tripped exactly once");
}

/// One round: the breaker turns half-open (by hand, standing in for the wait), and 64 tasks
/// race for its 16 trial slots, some recording successes, some ignored, some dropping their
/// permits unrecorded, until it closes.
async fn recover(breaker: &Breaker) {
    breaker.half_open();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (breaker, in_flight, most) = (breaker.clone(), in_flight.clone(), most.clone());
            tokio::spawn(async move {
                let mut attempt = 0;
                while breaker.state() != State::Closed {
                    attempt += 1;
                    let Ok(permit) = breaker.try_acquire() else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    if permit.admitted_in() != State::HalfOpen {
                        permit.record(Outcome::Success);
                        continue;
                    }
                    let now = in_flight.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    tokio::task::yield_now().await;
                    in_flight.fetch_sub(1, SeqCst);
                    match (task + attempt) % 4 {
                        0 => drop(permit),
                        1 => permit.record(Outcome::Ignored),
                        _ => permit.record(Outcome::Success),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        most.load(SeqCst) <= 16,
        "{} trials at once",
        most.load(SeqCst)
    );
}

#[test]
fn racing_trials_never_overshoot_and_the_breaker_always_recovers() {
    finishes_within(HANG_LIMIT, "20 recoveries", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let breaker = Breaker::builder()
                .count_window(64)
                .minimum_calls(64)
                .half_open_calls(16)
                .build()
                .unwrap();
            let mut events = breaker.subscribe();
            for round in 0..20 {
                recover(&breaker).await;
                assert_eq!(breaker.state(), State::Closed, "round {round}");
                for expected in [State::HalfOpen, State::Closed] {
                    assert_eq!(events.try_recv().unwrap().to, expected, "round {round}");
                }
            }
            let m = breaker.metrics();
            assert_eq!((m.transitions, m.stale_outcomes), (40, 0));
        });
    });
}
