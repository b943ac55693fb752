//! Each clock is monotonic and the testable ones follow what drives them.

use std::time::Duration;

use taskweave_clock::{
    Clock, CoarseClock, DefaultClock, ManualClock, QuantaClock, TokioClock, duration_nanos,
};

#[tokio::test(start_paused = true)]
async fn the_tokio_clock_follows_paused_time() {
    let clock = TokioClock::new();
    assert_eq!(clock.now_nanos(), 0);
    tokio::time::advance(Duration::from_millis(250)).await;
    assert_eq!(clock.now_nanos(), 250_000_000);
    // Copies share the origin.
    let copy = clock;
    assert_eq!(copy.now_nanos(), clock.now_nanos());
}

#[test]
fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
    let clock = ManualClock::new();
    let other = clock.clone();
    assert_eq!(clock.now_nanos(), 0);
    other.advance(Duration::from_micros(7));
    assert_eq!(clock.now_nanos(), 7_000);
    assert_eq!(clock.elapsed(), Duration::from_micros(7));
}

#[test]
fn durations_saturate_instead_of_overflowing() {
    assert_eq!(duration_nanos(Duration::ZERO), 0);
    assert_eq!(duration_nanos(Duration::new(1, 5)), 1_000_000_005);
    assert_eq!(duration_nanos(Duration::MAX), u64::MAX);
    let clock = ManualClock::new();
    clock.advance(Duration::MAX);
    assert_eq!(clock.now_nanos(), u64::MAX);
}

/// Reads `clock` many times, each reading at least the one before.
fn assert_monotonic(clock: &impl Clock) {
    let mut last = clock.now_nanos();
    for _ in 0..10_000 {
        let now = clock.now_nanos();
        assert!(now >= last, "{now} after {last}");
        last = now;
    }
}

#[test]
fn the_quanta_clock_never_goes_backwards() {
    assert_monotonic(&QuantaClock::new());
}

#[test]
fn the_quanta_clock_keeps_pace_with_the_os_clock() {
    let clock = QuantaClock::new();
    let os = std::time::Instant::now;
    // Each quanta reading is bracketed by two OS readings, so a preemption anywhere only widens
    // the bounds: quanta's interval must lie between the inner and the outer OS intervals.
    let (os1, q1, os2) = (os(), clock.now_nanos(), os());
    // Busy-wait rather than sleep: the point is the two clocks' agreement, not a duration.
    while os2.elapsed() < Duration::from_millis(50) {}
    let (os3, q2, os4) = (os(), clock.now_nanos(), os());
    let quanta = q2 - q1;
    let inner = duration_nanos(os3 - os2);
    let outer = duration_nanos(os4 - os1);
    // quanta calibrates against the OS clock; allow it 2% either way.
    assert!(
        quanta >= inner / 100 * 98 && quanta <= outer / 100 * 102,
        "quanta measured {quanta} ns where the OS clock measured {inner}..{outer} ns"
    );
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn the_coarse_clock_never_goes_backwards_and_steps_by_its_resolution() {
    let clock = CoarseClock::new().expect("Linux has a coarse clock");
    let tick = duration_nanos(clock.resolution());
    assert!(
        (1..=100_000_000).contains(&tick),
        "a kernel tick of {tick} ns"
    );
    assert_monotonic(&clock);
    // Busy-wait (no sleep) until it has stepped twice, then check the step against the
    // OS clock, which brackets it.
    let os = std::time::Instant::now();
    let first = clock.now_nanos();
    let mut steps = Vec::new();
    let mut last = first;
    while steps.len() < 2 {
        let now = clock.now_nanos();
        if now != last {
            steps.push(now - last);
            last = now;
        }
        assert!(
            os.elapsed() < Duration::from_secs(10),
            "the coarse clock did not step twice in 10 s (tick {tick} ns)"
        );
    }
    // A step is a whole number of ticks (more than one if this thread was descheduled), and
    // the clock moved no further than the OS clock did, plus a tick.
    for step in steps {
        assert!(
            step >= tick / 2,
            "a step of {step} ns with a tick of {tick} ns"
        );
    }
    assert!(last - first <= duration_nanos(os.elapsed()) + tick);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[test]
fn other_platforms_have_no_coarse_clock() {
    assert!(CoarseClock::new().is_none());
}

#[test]
fn the_default_clock_never_goes_backwards() {
    assert_monotonic(&DefaultClock::new());
}

/// With `test-util` (CI runs every test with all features) the default clock is Tokio's.
#[cfg(feature = "test-util")]
#[tokio::test(start_paused = true)]
async fn with_test_util_the_default_clock_follows_paused_time() {
    const { assert!(DefaultClock::FOLLOWS_TOKIO) };
    let clock = DefaultClock::new();
    assert_eq!(clock.now_nanos(), 0);
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert_eq!(clock.now_nanos(), 3_600_000_000_000);
}

/// Without `test-util` (`cargo test -p taskweave-clock`, a step of its own in CI) the default
/// clock is the time-stamp counter, which paused time does not move.
#[cfg(not(feature = "test-util"))]
#[tokio::test(start_paused = true)]
async fn without_test_util_the_default_clock_ignores_paused_time() {
    const { assert!(!DefaultClock::FOLLOWS_TOKIO) };
    let clock = DefaultClock::new();
    tokio::time::advance(Duration::from_secs(3600)).await;
    assert!(
        clock.now_nanos() < 60_000_000_000,
        "an hour of paused time moved it"
    );
}
