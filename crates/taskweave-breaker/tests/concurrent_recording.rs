//! Outcomes recorded from many threads at once are all counted: none lost, none doubled.

use std::sync::Barrier;
use std::thread;

use taskweave_breaker::{Breaker, Outcome, State};

const THREADS: usize = 4;
const PER_THREAD: usize = 2_000;

#[test]
fn every_concurrent_outcome_is_counted_once() {
    let breaker = Breaker::builder()
        .count_window(THREADS * PER_THREAD)
        .minimum_calls(THREADS * PER_THREAD)
        .slow_call_duration(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let permit = breaker.try_acquire().unwrap();
                    let outcome = match i % 10 {
                        0 => Outcome::Failure,
                        1 => Outcome::Ignored,
                        _ => Outcome::Success,
                    };
                    let took = std::time::Duration::from_millis(if i % 20 == 2 { 150 } else { 0 });
                    permit.record_elapsed(outcome, took);
                }
            });
        }
    });
    let m = breaker.metrics();
    let recorded = (THREADS * PER_THREAD * 9 / 10) as u64;
    assert_eq!(m.buffered_calls, recorded);
    assert_eq!(m.failed_calls, (THREADS * PER_THREAD / 10) as u64);
    assert_eq!(m.slow_calls, (THREADS * PER_THREAD / 20) as u64);
    assert_eq!(m.state, State::Closed);
}

#[test]
fn a_full_clean_window_shared_by_threads_still_sees_the_next_failures() {
    let breaker = Breaker::builder()
        .count_window(100)
        .minimum_calls(100)
        .failure_rate_threshold(0.1)
        .build()
        .unwrap();
    // Fill the window with successes from several threads, long enough to go steady.
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..5_000 {
                    breaker.try_acquire().unwrap().record(Outcome::Success);
                }
            });
        }
    });
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (100, 0));
    // 9 failures of 100: below 10%.
    for _ in 0..9 {
        breaker.try_acquire().unwrap().record(Outcome::Failure);
    }
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (100, 9));
    assert_eq!(breaker.state(), State::Closed);
    // The failures stay in the window while successes are counted again.
    for _ in 0..90 {
        breaker.try_acquire().unwrap().record(Outcome::Success);
    }
    assert_eq!(breaker.metrics().failed_calls, 9);
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open, "10 failures of the last 100");
}
