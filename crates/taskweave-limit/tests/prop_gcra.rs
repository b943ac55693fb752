//! Property: `check_n` decides exactly like a reference GCRA written in its other textbook
//! form, the continuous-state leaky bucket (ITU-T I.371): a counter that drains at one unit
//! per nanosecond and must stay within `τ` after adding `n·T`.

use std::time::Duration;

use proptest::prelude::*;
use taskweave_limit::{CheckError, ManualClock, Quota, RateLimiter};

/// The leaky-bucket form: `level` drains with time; admitting `n` adds `n·T`.
struct LeakyBucket {
    interval: u64,
    tolerance: u64,
    burst: u32,
    level: u64,
    last: u64,
}

impl LeakyBucket {
    fn check(&mut self, now: u64, n: u32) -> Result<(), Option<u64>> {
        if n > self.burst {
            return Err(None);
        }
        let drained = self.level.saturating_sub(now - self.last);
        let filled = drained + self.interval * u64::from(n);
        if filled > self.tolerance {
            return Err(Some(filled - self.tolerance));
        }
        self.level = filled;
        self.last = now;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_the_leaky_bucket_model(
        count in 1u32..1000,
        period_ms in 1u64..5000,
        burst in 1u32..50,
        ops in prop::collection::vec((0u64..50_000_000, 0u32..60), 1..200),
    ) {
        let quota = Quota::new(count, Duration::from_millis(period_ms)).with_burst(burst);
        let interval = quota.emission_interval().unwrap().as_nanos() as u64;
        let clock = ManualClock::new();
        let limiter = RateLimiter::builder().quota(quota).clock(clock.clone()).build().unwrap();
        let mut model = LeakyBucket {
            interval,
            tolerance: interval * u64::from(burst),
            burst,
            level: 0,
            last: 0,
        };
        let mut admitted = 0u64;
        for (step, n) in ops {
            clock.advance(Duration::from_nanos(step));
            let now = clock.elapsed().as_nanos() as u64;
            let expected = model.check(now, n);
            let actual = limiter.check_n(n);
            match (expected, actual) {
                (Ok(()), Ok(())) => admitted += u64::from(n),
                (Err(Some(wait)), Err(CheckError::RetryAfter(r))) => {
                    prop_assert_eq!(r.duration(), Duration::from_nanos(wait));
                }
                (Err(None), Err(CheckError::ExceedsBurst(e))) => {
                    prop_assert_eq!((e.requested, e.burst), (n, burst));
                }
                (e, a) => prop_assert!(false, "model {:?} vs limiter {:?} at {} for {}", e, a, now, n),
            }
        }
        prop_assert_eq!(limiter.metrics().admitted, admitted);
    }
}
