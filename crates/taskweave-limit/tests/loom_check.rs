//! Loom model: concurrent `check` calls on the single atomic word never admit more than the
//! burst, never lose an admission, and agree on the final state.
#![cfg(taskweave_loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use taskweave_limit::{ManualClock, Quota, RateLimiter};

#[test]
fn concurrent_checks_admit_exactly_the_burst() {
    loom::model(|| {
        let clock = ManualClock::new();
        let limiter = Arc::new(
            RateLimiter::builder()
                .quota(Quota::per_second(10).with_burst(2))
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                thread::spawn(move || limiter.check().is_ok())
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 2);
        let m = limiter.metrics();
        assert_eq!((m.admitted, m.rejected), (2, 1));
        // The state is exactly "two admitted at t = 0": the next permit is 100 ms away.
        assert_eq!(
            limiter.check().unwrap_err().duration(),
            Duration::from_millis(100)
        );
    });
}

#[test]
fn concurrent_multi_permit_checks_are_all_or_nothing() {
    loom::model(|| {
        let clock = ManualClock::new();
        let limiter = Arc::new(
            RateLimiter::builder()
                .quota(Quota::per_second(10).with_burst(3))
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        let a = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.check_n(2).is_ok())
        };
        let b = {
            let limiter = Arc::clone(&limiter);
            thread::spawn(move || limiter.check_n(2).is_ok())
        };
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        // Exactly one of two requests for 2 fits in a burst of 3, whoever wins the race.
        assert!(a ^ b);
        assert_eq!(limiter.metrics().admitted, 2);
        limiter.check().unwrap();
        assert!(limiter.check().is_err());
    });
}
