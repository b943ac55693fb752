//! Each clock is monotonic and the testable ones follow what drives them.

use std::time::Duration;

use taskweave_clock::{Clock, ManualClock, TokioClock, duration_nanos};

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

#[cfg(feature = "quanta")]
#[test]
fn the_quanta_clock_never_goes_backwards() {
    let clock = taskweave_clock::QuantaClock::new();
    let mut last = clock.now_nanos();
    for _ in 0..10_000 {
        let now = clock.now_nanos();
        assert!(now >= last);
        last = now;
    }
}
