//! Loom models of the state machine: concurrent half-open callers never get more trial calls
//! than allowed, and no transition is lost or made twice.
//!
//! Run with `RUSTFLAGS="--cfg taskweave_loom" cargo test --release --test loom_half_open`.
#![cfg(taskweave_loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use taskweave_breaker::{Breaker, Outcome, State, Transition};
use tokio::sync::broadcast::Receiver;

fn breaker(half_open_calls: usize) -> Breaker {
    Breaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .wait_duration(Duration::from_secs(60))
        .half_open_calls(half_open_calls)
        .build()
        .unwrap()
}

fn drain(rx: &mut Receiver<Transition>) -> Vec<(State, State)> {
    let mut seen = Vec::new();
    while let Ok(t) = rx.try_recv() {
        seen.push((t.from, t.to));
    }
    seen
}

/// Two callers race for one trial slot: one gets it (the other is rejected, or admitted by the
/// closed breaker the trial produced), and the half-open state ends exactly once.
#[test]
fn one_trial_slot_goes_to_one_caller() {
    loom::model(|| {
        let breaker = breaker(1);
        breaker.half_open();
        let mut events = breaker.subscribe();
        let trials = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let breaker = breaker.clone();
                let trials = trials.clone();
                thread::spawn(move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        if permit.admitted_in() == State::HalfOpen {
                            assert_eq!(trials.fetch_add(1, SeqCst), 0, "a second trial");
                        }
                        permit.record(if i == 0 {
                            Outcome::Success
                        } else {
                            Outcome::Failure
                        });
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(trials.load(SeqCst), 1);
        let seen = drain(&mut events);
        assert_eq!(
            seen.len(),
            1,
            "exactly one transition out of half-open: {seen:?}"
        );
        assert_eq!(seen[0].0, State::HalfOpen);
        assert_eq!(breaker.state(), seen[0].1);
        assert_eq!(breaker.metrics().transitions, 2);
    });
}

/// A trial dropped unrecorded gives its slot back: the other caller can still run the trial,
/// and at no point do two trials run at once.
#[test]
fn a_dropped_trial_frees_its_slot_without_overshoot() {
    loom::model(|| {
        let breaker = breaker(1);
        breaker.half_open();
        let running = Arc::new(AtomicUsize::new(0));
        let dropper = {
            let breaker = breaker.clone();
            let running = running.clone();
            thread::spawn(move || {
                if let Ok(permit) = breaker.try_acquire() {
                    assert_eq!(running.fetch_add(1, SeqCst), 0, "two trials at once");
                    running.fetch_sub(1, SeqCst);
                    drop(permit);
                }
            })
        };
        let mut recorded = false;
        for _ in 0..2 {
            if let Ok(permit) = breaker.try_acquire() {
                assert_eq!(running.fetch_add(1, SeqCst), 0, "two trials at once");
                running.fetch_sub(1, SeqCst);
                permit.record(Outcome::Success);
                recorded = true;
                break;
            }
            thread::yield_now();
        }
        dropper.join().unwrap();
        if !recorded {
            // Rejected twice: the dropper held the slot both times; it is free now.
            breaker.try_acquire().unwrap().record(Outcome::Success);
        }
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(breaker.metrics().transitions, 2);
    });
}

/// Two failures racing in a closed breaker trip it once.
#[test]
fn racing_failures_trip_once() {
    loom::model(|| {
        let breaker = breaker(1);
        let mut events = breaker.subscribe();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    let permit = breaker.try_acquire().unwrap();
                    permit.record(Outcome::Failure);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // One failure is below minimum_calls, so both calls are admitted, and whichever failure
        // is recorded second completes the window and trips the breaker.
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(drain(&mut events), vec![(State::Closed, State::Open)]);
        assert_eq!(breaker.metrics().transitions, 1);
    });
}

/// Three callers race for two trial slots: never more than two trials are admitted.
#[test]
fn three_callers_never_get_more_than_two_trials() {
    loom::model(|| {
        let breaker = breaker(2);
        breaker.half_open();
        let trials = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let breaker = breaker.clone();
                let trials = trials.clone();
                thread::spawn(move || match breaker.try_acquire() {
                    Ok(permit) => {
                        assert_eq!(permit.admitted_in(), State::HalfOpen);
                        trials.fetch_add(1, SeqCst);
                        // Held to the end of the model: nothing is recorded or released.
                        std::mem::forget(permit);
                    }
                    Err(rejected) => assert_eq!(rejected.state(), State::HalfOpen),
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(trials.load(SeqCst), 2);
        assert_eq!(breaker.metrics().rejected_calls, 1);
    });
}

/// Two callers arrive after the open wait: exactly one turns the breaker half-open, and exactly
/// one trial runs.
#[test]
fn racing_callers_after_the_wait_half_open_once() {
    loom::model(|| {
        let breaker = Breaker::builder()
            .count_window(1)
            .minimum_calls(1)
            .wait_duration(Duration::from_millis(1))
            .half_open_calls(1)
            .build()
            .unwrap();
        breaker.try_acquire().unwrap().record(Outcome::Failure);
        assert_eq!(breaker.state(), State::Open);
        // Real time: loom does not model the clock.
        std::thread::sleep(Duration::from_millis(2));
        let mut events = breaker.subscribe();
        let trials = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let breaker = breaker.clone();
                let trials = trials.clone();
                thread::spawn(move || {
                    if let Ok(permit) = breaker.try_acquire() {
                        if permit.admitted_in() == State::HalfOpen {
                            trials.fetch_add(1, SeqCst);
                        }
                        permit.record(Outcome::Success);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(trials.load(SeqCst), 1);
        assert_eq!(
            drain(&mut events),
            vec![
                (State::Open, State::HalfOpen),
                (State::HalfOpen, State::Closed)
            ]
        );
        assert_eq!(breaker.state(), State::Closed);
    });
}

/// Past `max_wait_in_half_open`, the last trial's outcome races a caller that finds every slot
/// held and gives up on the trials: exactly one of them ends the half-open state, and the
/// trial's outcome is either the decision or counted as stale, never both.
#[test]
fn abandoning_the_trials_races_the_last_outcome_and_one_wins() {
    // Which side won, over all explored interleavings (std atomics: outside loom's model).
    static CLOSED_FIRST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static ABANDONED_FIRST: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    loom::model(|| {
        let breaker = Breaker::builder()
            .count_window(2)
            .minimum_calls(2)
            .wait_duration(Duration::from_secs(60))
            .half_open_calls(1)
            .max_wait_in_half_open(Duration::from_nanos(1))
            .build()
            .unwrap();
        breaker.half_open();
        let trial = breaker.try_acquire().unwrap();
        // Real time: loom does not model the clock. The deadline rounds up to the next ms.
        std::thread::sleep(Duration::from_millis(2));
        let mut events = breaker.subscribe();
        let recorder = thread::spawn(move || trial.record(Outcome::Success));
        let caller = {
            let breaker = breaker.clone();
            thread::spawn(move || match breaker.try_acquire() {
                Ok(permit) => {
                    let admitted_in = permit.admitted_in();
                    permit.record(Outcome::Success);
                    Ok(admitted_in)
                }
                Err(rejected) => Err(rejected.state()),
            })
        };
        recorder.join().unwrap();
        let got = caller.join().unwrap();
        let seen = drain(&mut events);
        let m = breaker.metrics();
        match got {
            // The trial closed the breaker first; the caller was admitted by the closed state.
            Ok(State::Closed) => {
                assert_eq!(seen, vec![(State::HalfOpen, State::Closed)]);
                assert_eq!((m.state, m.stale_outcomes), (State::Closed, 0));
                CLOSED_FIRST.fetch_add(1, SeqCst);
            }
            // The caller gave up on the trial first; the trial's outcome came too late.
            Err(State::Open) => {
                assert_eq!(seen, vec![(State::HalfOpen, State::Open)]);
                assert_eq!((m.state, m.stale_outcomes), (State::Open, 1));
                ABANDONED_FIRST.fetch_add(1, SeqCst);
            }
            other => panic!("unexpected {other:?}, transitions {seen:?}"),
        }
        assert_eq!(m.transitions, 2);
    });
    assert!(CLOSED_FIRST.load(SeqCst) > 0 && ABANDONED_FIRST.load(SeqCst) > 0);
}
