//! Every transition of the state machine, on tokio's paused clock.

use std::time::Duration;

use taskweave_breaker::{Breaker, CallError, Outcome, State};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::{advance, sleep};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Records `outcomes` through permits: 'S' success, 'F' failure, 'I' ignored.
fn record(breaker: &Breaker, outcomes: &str) {
    for c in outcomes.chars() {
        let permit = breaker.try_acquire().expect("the breaker admits the call");
        permit.record(match c {
            'S' => Outcome::Success,
            'F' => Outcome::Failure,
            _ => Outcome::Ignored,
        });
    }
}

fn next_transition(
    rx: &mut tokio::sync::broadcast::Receiver<taskweave_breaker::Transition>,
) -> (State, State) {
    let t = rx.try_recv().expect("a transition was announced");
    (t.from, t.to)
}

fn small() -> taskweave_breaker::Builder {
    Breaker::builder()
        .count_window(10)
        .minimum_calls(5)
        .failure_rate_threshold(0.5)
        .wait_duration(secs(10))
        .half_open_calls(3)
}

#[tokio::test(start_paused = true)]
async fn closed_opens_when_the_failure_rate_reaches_the_threshold_after_minimum_calls() {
    let breaker = small().build().unwrap();
    let mut events = breaker.subscribe();
    // 4 calls at 75% failures: below minimum_calls, so no trip.
    record(&breaker, "FFSF");
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().failure_rate(), Some(0.75));
    // The 5th call completes the minimum; 3 of 5 failed = 60% ≥ 50%.
    record(&breaker, "S");
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(next_transition(&mut events), (State::Closed, State::Open));
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (5, 3));
    assert_eq!(m.transitions, 1);
}

#[tokio::test(start_paused = true)]
async fn closed_stays_closed_below_the_threshold_and_old_failures_leave_the_window() {
    let breaker = small().build().unwrap();
    // 4 failures in 10 calls: 40%.
    record(&breaker, "SSSSSSFFFF");
    assert_eq!(breaker.state(), State::Closed);
    // 10 more successes push every failure out of the 10-call window.
    record(&breaker, "SSSSSSSSSS");
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (10, 0));
    // 4 failures now make 40% again, still closed; a 5th makes 50%.
    record(&breaker, "FFFF");
    assert_eq!(breaker.state(), State::Closed);
    record(&breaker, "F");
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn ignored_results_are_not_recorded() {
    let breaker = small()
        .classify(|r: &Result<u16, u16>| match r {
            Ok(_) => Outcome::Success,
            Err(404) => Outcome::Ignored,
            Err(_) => Outcome::Failure,
        })
        .build()
        .unwrap();
    for _ in 0..20 {
        let r = breaker.call(|| async { Err::<u16, u16>(404) }).await;
        assert_eq!(r, Err(CallError::Operation(404)));
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().buffered_calls, 0);
    for _ in 0..5 {
        let _ = breaker.call(|| async { Err::<u16, u16>(503) }).await;
    }
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn slow_calls_open_the_breaker_on_their_own_rate() {
    let breaker = small()
        .slow_call_duration(Duration::from_millis(100))
        .slow_call_rate_threshold(0.5)
        .build()
        .unwrap();
    let slow_ok = || async {
        sleep(Duration::from_millis(100)).await;
        Ok::<_, ()>(())
    };
    let fast_ok = || async { Ok::<_, ()>(()) };
    breaker.call(fast_ok).await.unwrap();
    breaker.call(fast_ok).await.unwrap();
    breaker.call(fast_ok).await.unwrap();
    breaker.call(slow_ok).await.unwrap();
    assert_eq!(breaker.metrics().slow_calls, 1);
    breaker.call(slow_ok).await.unwrap();
    // 2 slow of 5 = 40%.
    assert_eq!(breaker.state(), State::Closed);
    breaker.call(slow_ok).await.unwrap();
    // 3 slow of 6 = 50%, though every call succeeded.
    assert_eq!(breaker.state(), State::Open);
    let m = breaker.metrics();
    assert_eq!((m.failed_calls, m.slow_calls, m.buffered_calls), (0, 3, 6));
}

#[tokio::test(start_paused = true)]
async fn a_caller_supplied_duration_decides_slowness() {
    let breaker = small()
        .slow_call_duration(Duration::from_millis(100))
        .build()
        .unwrap();
    let p = breaker.try_acquire().unwrap();
    p.record_elapsed(Outcome::Success, Duration::from_millis(99));
    let p = breaker.try_acquire().unwrap();
    p.record_elapsed(Outcome::Failure, Duration::from_millis(100));
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls, m.slow_calls), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn open_rejects_with_the_remaining_wait_then_turns_half_open() {
    let breaker = small().build().unwrap();
    let mut events = breaker.subscribe();
    record(&breaker, "FFFFF");
    assert_eq!(next_transition(&mut events), (State::Closed, State::Open));

    let ran = std::cell::Cell::new(false);
    let rejected = breaker
        .call(|| async {
            ran.set(true);
            Ok::<_, ()>(())
        })
        .await
        .unwrap_err();
    assert!(!ran.get(), "a rejected call does not run");
    let CallError::Rejected(r) = rejected else {
        panic!("expected a rejection")
    };
    assert_eq!(r.state(), State::Open);
    assert_eq!(r.retry_after(), Some(secs(10)));
    assert!(r.to_string().contains("open"), "{r}");

    advance(Duration::from_millis(9_999)).await;
    let r = breaker.try_acquire().unwrap_err();
    assert_eq!(r.retry_after(), Some(Duration::from_millis(1)));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.metrics().rejected_calls, 2);

    advance(Duration::from_millis(1)).await;
    // The wait is over, but nothing happens until a call arrives.
    assert_eq!(breaker.state(), State::Open);
    let trial = breaker.try_acquire().unwrap();
    assert_eq!(trial.admitted_in(), State::HalfOpen);
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(next_transition(&mut events), (State::Open, State::HalfOpen));
    // Entering half-open empties the window.
    assert_eq!(breaker.metrics().buffered_calls, 0);
    drop(trial);
}

async fn open_then_half_open(breaker: &Breaker) {
    record(breaker, "FFFFF");
    assert_eq!(breaker.state(), State::Open);
    advance(secs(10)).await;
}

#[tokio::test(start_paused = true)]
async fn half_open_admits_exactly_its_trial_calls_and_closes_on_success() {
    let breaker = small().build().unwrap();
    open_then_half_open(&breaker).await;
    let mut events = breaker.subscribe();
    let trials: Vec<_> = (0..3).map(|_| breaker.try_acquire().unwrap()).collect();
    let r = breaker.try_acquire().unwrap_err();
    assert_eq!((r.state(), r.retry_after()), (State::HalfOpen, None));
    assert_eq!(next_transition(&mut events), (State::Open, State::HalfOpen));

    let mut trials = trials.into_iter();
    trials.next().unwrap().record(Outcome::Success);
    trials.next().unwrap().record(Outcome::Failure);
    // 1 of 2 recorded trials failed, but the decision waits for all 3.
    assert_eq!(breaker.state(), State::HalfOpen);
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (2, 1));
    // Still no room for a 4th call while the 3rd is in flight.
    assert!(breaker.try_acquire().is_err());
    trials.next().unwrap().record(Outcome::Success);
    // 1 of 3 = 33% < 50%: closed, with an empty window.
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        next_transition(&mut events),
        (State::HalfOpen, State::Closed)
    );
    assert_eq!(breaker.metrics().buffered_calls, 0);
    // The window starts afresh: 4 failures are below minimum_calls again.
    record(&breaker, "FFFF");
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn half_open_reopens_on_failing_trials_and_the_wait_grows_up_to_its_cap() {
    let breaker = small().wait_growth(2.0, secs(30)).build().unwrap();
    let mut events = breaker.subscribe();
    record(&breaker, "FFFFF");
    assert_eq!(next_transition(&mut events), (State::Closed, State::Open));
    // Trips in a row wait 10, 20, 30 (capped), 30 s.
    for wait in [10, 20, 30, 30] {
        let r = breaker.try_acquire().unwrap_err();
        assert_eq!(r.retry_after(), Some(secs(wait)));
        advance(secs(wait)).await;
        // 2 of 3 trials fail: 67% ≥ 50%.
        record(&breaker, "SFF");
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(next_transition(&mut events), (State::Open, State::HalfOpen));
        assert_eq!(next_transition(&mut events), (State::HalfOpen, State::Open));
    }
    // Closing resets the growth.
    advance(secs(30)).await;
    record(&breaker, "SSS");
    assert_eq!(breaker.state(), State::Closed);
    record(&breaker, "FFFFF");
    assert_eq!(
        breaker.try_acquire().unwrap_err().retry_after(),
        Some(secs(10))
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_permit_or_an_ignored_trial_gives_its_slot_back() {
    let breaker = small().build().unwrap();
    open_then_half_open(&breaker).await;
    let a = breaker.try_acquire().unwrap();
    let b = breaker.try_acquire().unwrap();
    let c = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err());
    drop(a);
    let a = breaker
        .try_acquire()
        .expect("the dropped permit's slot is free again");
    b.record(Outcome::Ignored);
    let b = breaker
        .try_acquire()
        .expect("the ignored trial's slot is free again");
    assert!(breaker.try_acquire().is_err());
    a.record(Outcome::Success);
    b.record(Outcome::Success);
    assert_eq!(breaker.state(), State::HalfOpen);
    c.record(Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_gives_its_trial_slot_back() {
    let breaker = small().half_open_calls(1).build().unwrap();
    open_then_half_open(&breaker).await;
    let hung = breaker.call(std::future::pending::<Result<(), ()>>);
    let timed_out = tokio::time::timeout(secs(1), hung).await;
    assert!(timed_out.is_err());
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.call(|| async { Ok::<_, ()>(7) }).await, Ok(7));
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_outcome_from_an_earlier_state_is_dropped() {
    let breaker = small().half_open_calls(1).build().unwrap();
    let late = breaker.try_acquire().unwrap();
    open_then_half_open(&breaker).await;
    // `late` was admitted while closed; its failure must not count as the trial's.
    late.record(Outcome::Failure);
    assert_eq!(
        breaker.state(),
        State::Open,
        "still open: no call arrived yet"
    );
    breaker.try_acquire().unwrap().record(Outcome::Success);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.metrics().buffered_calls, 0);
}

#[tokio::test(start_paused = true)]
async fn manual_transitions() {
    let breaker = small().build().unwrap();
    let mut events = breaker.subscribe();

    breaker.force_open();
    assert_eq!(breaker.state(), State::ForcedOpen);
    let r = breaker.try_acquire().unwrap_err();
    assert_eq!((r.state(), r.retry_after()), (State::ForcedOpen, None));
    // Forced open does not end by itself.
    advance(secs(3600)).await;
    assert!(breaker.try_acquire().is_err());
    breaker.force_open();
    assert_eq!(
        next_transition(&mut events),
        (State::Closed, State::ForcedOpen)
    );
    assert_eq!(
        events.try_recv(),
        Err(TryRecvError::Empty),
        "a no-op is not announced"
    );

    breaker.disable();
    assert_eq!(breaker.state(), State::Disabled);
    record(&breaker, "FFFFFFFFFF");
    assert_eq!(
        breaker.state(),
        State::Disabled,
        "a disabled breaker records nothing"
    );
    assert_eq!(
        next_transition(&mut events),
        (State::ForcedOpen, State::Disabled)
    );

    breaker.half_open();
    assert_eq!(
        next_transition(&mut events),
        (State::Disabled, State::HalfOpen)
    );
    record(&breaker, "FFF");
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(next_transition(&mut events), (State::HalfOpen, State::Open));

    breaker.reset();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(next_transition(&mut events), (State::Open, State::Closed));
    record(&breaker, "FFFF");
    assert_eq!(breaker.metrics().buffered_calls, 4);
    // Resetting a closed breaker empties its window, without a transition event.
    breaker.reset();
    assert_eq!(breaker.metrics().buffered_calls, 0);
    assert_eq!(events.try_recv(), Err(TryRecvError::Empty));
    record(&breaker, "FFFF");
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn time_window_forgets_calls_older_than_its_length() {
    let breaker = Breaker::builder()
        .time_window(secs(10), 10)
        .minimum_calls(4)
        .failure_rate_threshold(0.6)
        .build()
        .unwrap();
    record(&breaker, "FF");
    advance(secs(5)).await;
    record(&breaker, "SSS");
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (5, 2));
    advance(secs(5)).await;
    // The 2 failures of t=0 have left the 10 s window.
    let m = breaker.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (3, 0));
    record(&breaker, "FFFF");
    assert_eq!(breaker.state(), State::Closed, "4 of 7 failed: 57%");
    record(&breaker, "F");
    assert_eq!(breaker.state(), State::Open, "5 of 8 failed: 62.5%");
}

#[tokio::test(start_paused = true)]
async fn time_window_trips_when_successes_expire_and_leave_failures() {
    let breaker = Breaker::builder()
        .time_window(secs(10), 10)
        .minimum_calls(3)
        .failure_rate_threshold(0.5)
        .build()
        .unwrap();
    record(&breaker, "SSSSSS");
    advance(secs(5)).await;
    record(&breaker, "FFF");
    assert_eq!(breaker.state(), State::Closed, "3 of 9 failed");
    advance(secs(5)).await;
    // The successes expired; the next call, a success, finds 3 failures of 4 calls.
    record(&breaker, "S");
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_wait_of_duration_max_with_growth_trips_without_panicking() {
    let breaker = small()
        .wait_duration(Duration::MAX)
        .wait_growth(2.0, Duration::MAX)
        .build()
        .unwrap();
    record(&breaker, "FFFFF");
    assert_eq!(breaker.state(), State::Open);
    match breaker.try_acquire() {
        // Clamped to the longest deadline the state word holds, about 34 years.
        Err(rejected) => assert!(rejected.retry_after().unwrap() > secs(30 * 365 * 24 * 3600)),
        Ok(_) => panic!("an open breaker admitted a call"),
    }
}
