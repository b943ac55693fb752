//! A zero delay retries at once: no timer is armed, the clock does not move, and a long run of
//! immediate retries still yields to the scheduler instead of starving other tasks.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskweave_backoff::{Backoff, Jitter, StopReason, retry, retry_blocking};
use taskweave_testkit::FreshWakers;
use tokio::time::Instant;

fn immediate(attempts: u32) -> Backoff {
    Backoff::constant(Duration::ZERO)
        .max_attempts(attempts)
        .build()
        .unwrap()
}

/// An operation failing `failures` times, then succeeding with the number of calls.
fn failing(failures: u32) -> impl FnMut() -> std::future::Ready<Result<u32, &'static str>> {
    let mut calls = 0;
    move || {
        calls += 1;
        std::future::ready(if calls <= failures {
            Err("busy")
        } else {
            Ok(calls)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn zero_delays_do_not_move_the_clock() {
    // Off the 1 ms timer grid, as a real clock always is: a timer armed for "now" then rounds
    // up to the next tick, and the paused clock auto-advances to it.
    tokio::time::advance(Duration::from_micros(500)).await;
    let start = Instant::now();
    let value = retry(immediate(100), failing(99)).await.unwrap();
    assert_eq!(value, 100);
    assert_eq!(Instant::now(), start, "a zero delay must not arm a timer");
}

#[tokio::test(start_paused = true)]
async fn a_full_jitter_draw_of_zero_does_not_move_the_clock_either() {
    // Full jitter of a 1 ns delay draws 0 or 1 ns; only non-zero draws may arm a timer, and
    // those end within the same timer tick.
    let policy = Backoff::constant(Duration::from_nanos(1))
        .jitter(Jitter::Full)
        .max_attempts(20)
        .build()
        .unwrap();
    let value = retry(policy, failing(19)).await.unwrap();
    assert_eq!(value, 20);
}

#[test]
fn zero_delay_retries_need_no_runtime_and_finish_in_one_poll() {
    // Outside any runtime: arming a timer would panic ("no reactor running").
    let mut fut = pin!(retry(immediate(5), failing(4)));
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(5)));
}

#[test]
fn zero_delay_retries_stop_with_the_attempt_limit() {
    let mut fut = pin!(retry(immediate(5), failing(10)));
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Err(err)) = fut.as_mut().poll(&mut cx) else {
        panic!("five immediate failures end the loop in one poll");
    };
    assert_eq!((err.reason(), err.attempts()), (StopReason::Exhausted, 5));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_long_run_of_immediate_retries_lets_other_tasks_run() {
    let ticks = Rc::new(Cell::new(0u32));
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let counter = Rc::clone(&ticks);
            tokio::task::spawn_local(async move {
                loop {
                    counter.set(counter.get() + 1);
                    tokio::task::yield_now().await;
                }
            });
            tokio::task::yield_now().await;
            let before = ticks.get();
            let seen = Rc::clone(&ticks);
            let mut calls = 0u32;
            // Fails 10 000 times at once: without yielding, the other task never runs meanwhile.
            let (value, polls) = FreshWakers::new(retry(immediate(10_001), move || {
                calls += 1;
                let last = calls > 10_000;
                let ticks_now = seen.get();
                std::future::ready(if last { Ok(ticks_now) } else { Err("busy") })
            }))
            .await;
            let ticks_at_success = value.unwrap();
            assert!(
                ticks_at_success > before,
                "the other task never ran during 10 000 immediate retries"
            );
            // Yields follow tokio's cooperative budget (128 per poll), not a self-wake spin.
            assert!(
                polls <= 10_000 / 64,
                "{polls} polls for 10 000 immediate retries"
            );
        })
        .await;
}

#[test]
fn the_blocking_loop_does_not_sleep_for_a_zero_delay() {
    let value = retry_blocking(immediate(50), {
        let mut calls = 0;
        move || {
            calls += 1;
            if calls < 50 { Err("busy") } else { Ok(calls) }
        }
    })
    .call();
    assert_eq!(value, Ok(50));
}
