//! A runtime dropped while calls are in flight through the breaker — closed calls, half-open
//! trials, tower service calls, callers waiting to retry — neither hangs nor panics, and leaves
//! the breaker usable: every trial slot the dropped calls held is free again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use taskweave_breaker::{Breaker, CallError, Outcome, State};
use taskweave_testkit::{HANG_LIMIT, finishes_within};
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

const TRIALS: usize = 64;

fn breaker() -> Breaker {
    Breaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .half_open_calls(TRIALS)
        .build()
        .unwrap()
}

/// A call through the breaker that never finishes once admitted, and retries while rejected.
async fn hang_or_wait(breaker: Breaker, started: Arc<AtomicUsize>) -> Result<(), CallError<()>> {
    loop {
        let started = &started;
        let result = breaker
            .call(|| async move {
                started.fetch_add(1, SeqCst);
                std::future::pending::<Result<(), ()>>().await
            })
            .await;
        match result {
            Err(CallError::Rejected(r)) => {
                started.fetch_add(1, SeqCst);
                tokio::time::sleep(r.retry_after().unwrap_or(Duration::from_secs(1))).await;
            }
            other => return other,
        }
    }
}

fn spawn_all(
    rt: &Runtime,
    n: usize,
    breaker: &Breaker,
    started: &Arc<AtomicUsize>,
) -> Vec<JoinHandle<Result<(), CallError<()>>>> {
    (0..n)
        .map(|_| rt.spawn(hang_or_wait(breaker.clone(), started.clone())))
        .collect()
}

/// Waits (on the runtime) until `n` calls have started or been rejected.
fn wait_started(rt: &Runtime, started: &AtomicUsize, n: usize) {
    rt.block_on(async {
        while started.load(SeqCst) < n {
            tokio::task::yield_now().await;
        }
    });
}

fn teardown(rt: Runtime) {
    let breaker = breaker();
    let mut events = breaker.subscribe();
    let started = Arc::new(AtomicUsize::new(0));
    // Closed: 100 calls in flight.
    let mut handles = spawn_all(&rt, 100, &breaker, &started);
    wait_started(&rt, &started, 100);
    // Half-open: every trial slot taken by calls (and, with `tower`, service calls) that hang,
    // then 36 more callers rejected and waiting to retry.
    breaker.half_open();
    started.store(0, SeqCst);
    #[cfg(feature = "tower")]
    let (tower_handles, service_trials) = {
        let handles = tower_calls(&rt, &breaker, &started);
        let n = handles.len();
        wait_started(&rt, &started, n);
        (handles, n)
    };
    #[cfg(not(feature = "tower"))]
    let service_trials = 0;
    handles.extend(spawn_all(&rt, TRIALS - service_trials, &breaker, &started));
    wait_started(&rt, &started, TRIALS);
    handles.extend(spawn_all(&rt, 36, &breaker, &started));
    wait_started(&rt, &started, TRIALS + 36);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert!(breaker.try_acquire().is_err(), "every trial slot is held");

    drop(rt);

    // Every dropped trial gave its slot back; none recorded anything.
    let m = breaker.metrics();
    assert_eq!(
        (m.state, m.buffered_calls, m.stale_outcomes),
        (State::HalfOpen, 0, 0)
    );
    let trials: Vec<_> = (0..TRIALS)
        .map(|_| breaker.try_acquire().unwrap())
        .collect();
    assert!(trials.iter().all(|p| p.admitted_in() == State::HalfOpen));
    assert!(breaker.try_acquire().is_err());
    for p in trials {
        p.record(Outcome::Success);
    }
    assert_eq!(breaker.state(), State::Closed);
    let seen: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|t| (t.from, t.to))
        .collect();
    assert_eq!(
        seen,
        [
            (State::Closed, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );

    // The handles, created outside, resolve as cancelled on another runtime instead of hanging.
    let rt = Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for h in handles {
            assert!(h.await.unwrap_err().is_cancelled());
        }
        #[cfg(feature = "tower")]
        for h in tower_handles {
            assert!(h.await.unwrap_err().is_cancelled());
        }
    });
}

/// Tower service calls in flight through a `BreakerService` sharing the breaker, each holding a
/// trial slot and hanging.
#[cfg(feature = "tower")]
fn tower_calls(
    rt: &Runtime,
    breaker: &Breaker,
    started: &Arc<AtomicUsize>,
) -> Vec<JoinHandle<Result<(), tower::BoxError>>> {
    use tower::{Layer, Service, ServiceExt, service_fn};
    let layer = taskweave_breaker::BreakerLayer::new(breaker.clone());
    (0..16)
        .map(|_| {
            let started = started.clone();
            let mut svc = layer.layer(service_fn(|()| {
                std::future::pending::<Result<(), std::io::Error>>()
            }));
            rt.spawn(async move {
                let call = svc.ready().await?.call(());
                started.fetch_add(1, SeqCst);
                call.await
            })
        })
        .collect()
}

#[test]
fn dropping_a_multi_thread_runtime_mid_flight_frees_every_trial_slot() {
    finishes_within(HANG_LIMIT, "multi-thread runtime teardown", || {
        teardown(
            Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        );
    });
}

#[test]
fn dropping_a_current_thread_runtime_mid_flight_frees_every_trial_slot() {
    finishes_within(HANG_LIMIT, "current-thread runtime teardown", || {
        teardown(Builder::new_current_thread().enable_all().build().unwrap());
    });
}
