//! Unit tests of the policies: shapes, validation, saturation, seeds.

use std::time::Duration;

use super::*;
use crate::error::ConfigError;

fn millis(policy: Backoff) -> Vec<u128> {
    policy.iter().map(|d| d.as_millis()).collect()
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn shapes_yield_their_sequences() {
    let c = Backoff::constant(5 * MS).max_attempts(4).build().unwrap();
    assert_eq!(millis(c), [5, 5, 5]);
    let l = Backoff::linear(10 * MS).max_attempts(4).build().unwrap();
    assert_eq!(millis(l), [10, 20, 30]);
    let l = Backoff::linear(10 * MS)
        .step(5 * MS)
        .max_delay(18 * MS)
        .max_attempts(5)
        .build()
        .unwrap();
    assert_eq!(millis(l), [10, 15, 18, 18]);
    let e = Backoff::exponential(MS)
        .factor(3.0)
        .max_attempts(5)
        .build()
        .unwrap();
    assert_eq!(millis(e), [1, 3, 9, 27]);
    let f = Backoff::fibonacci(MS).max_attempts(8).build().unwrap();
    assert_eq!(millis(f), [1, 1, 2, 3, 5, 8, 13]);
}

#[test]
fn one_attempt_means_no_delay() {
    let p = Backoff::exponential(MS).max_attempts(1).build().unwrap();
    assert_eq!(p.iter().next(), None);
    assert_eq!(p.iter().len(), 0);
}

#[test]
fn bad_configuration_is_a_typed_error() {
    assert_eq!(
        Backoff::exponential(MS).factor(0.5).build(),
        Err(ConfigError::FactorBelowOne(0.5))
    );
    assert!(matches!(
        Backoff::exponential(MS).factor(f64::NAN).build(),
        Err(ConfigError::FactorNotFinite(f)) if f.is_nan()
    ));
    assert_eq!(
        Backoff::exponential(MS).factor(f64::INFINITY).build(),
        Err(ConfigError::FactorNotFinite(f64::INFINITY))
    );
    assert_eq!(
        Backoff::decorrelated(MS).factor(-1.0).build(),
        Err(ConfigError::FactorBelowOne(-1.0))
    );
    assert_eq!(
        Backoff::exponential(Duration::ZERO).build(),
        Err(ConfigError::ZeroBase)
    );
    assert_eq!(
        Backoff::fibonacci(Duration::ZERO).build(),
        Err(ConfigError::ZeroBase)
    );
    assert_eq!(
        Backoff::decorrelated(Duration::ZERO).build(),
        Err(ConfigError::ZeroBase)
    );
    assert_eq!(
        Backoff::linear(Duration::ZERO).build(),
        Err(ConfigError::ZeroBase)
    );
    assert!(Backoff::linear(Duration::ZERO).step(MS).build().is_ok());
    assert!(Backoff::constant(Duration::ZERO).build().is_ok());
    assert_eq!(
        Backoff::exponential(10 * MS).max_delay(MS).build(),
        Err(ConfigError::CapBelowBase {
            base: 10 * MS,
            cap: MS
        })
    );
    assert_eq!(
        Backoff::constant(MS).max_attempts(0).build(),
        Err(ConfigError::ZeroAttempts)
    );
    assert_eq!(
        Backoff::constant(MS).max_elapsed(Duration::ZERO).build(),
        Err(ConfigError::ZeroTimeBudget)
    );
}

#[test]
fn huge_values_saturate_instead_of_overflowing() {
    let p = Backoff::exponential(Duration::MAX)
        .factor(1e300)
        .max_attempts(5)
        .build()
        .unwrap();
    for d in p.iter() {
        assert_eq!(d, Duration::from_nanos(u64::MAX));
    }
    let p = Backoff::fibonacci(Duration::from_secs(u64::MAX / 2_000_000_000))
        .max_attempts(200)
        .build()
        .unwrap();
    assert_eq!(p.iter().last(), Some(Duration::from_nanos(u64::MAX)));
    let p = Backoff::linear(Duration::MAX)
        .max_attempts(10)
        .build()
        .unwrap();
    assert!(p.iter().all(|d| d == Duration::from_nanos(u64::MAX)));
}

#[test]
fn seeded_policies_repeat() {
    let p = Backoff::exponential(MS)
        .jitter(Jitter::Full)
        .max_attempts(20)
        .fixed_seed(42)
        .build()
        .unwrap();
    assert_eq!(p.iter().collect::<Vec<_>>(), p.iter().collect::<Vec<_>>());
    let per_loop = Backoff::exponential(MS)
        .jitter(Jitter::Full)
        .max_attempts(20)
        .seed(42)
        .build()
        .unwrap();
    assert_ne!(
        per_loop.iter().collect::<Vec<_>>(),
        per_loop.iter().collect::<Vec<_>>()
    );
    assert_eq!(
        per_loop.iter_seeded(9).collect::<Vec<_>>(),
        per_loop.iter_seeded(9).collect::<Vec<_>>()
    );
    let unseeded = Backoff::exponential(Duration::from_secs(1))
        .jitter(Jitter::Full)
        .max_attempts(20)
        .build()
        .unwrap();
    assert_ne!(
        unseeded.iter().collect::<Vec<_>>(),
        unseeded.iter().collect::<Vec<_>>()
    );
}

#[test]
fn default_is_capped_exponential_with_full_jitter() {
    let p = Backoff::default();
    assert_eq!(p.jitter(), Jitter::Full);
    assert_eq!(p.max_attempts(), DEFAULT_MAX_ATTEMPTS);
    assert_eq!(p.max_delay(), Some(Duration::from_secs(10)));
    assert_eq!(p.max_elapsed(), None);
    let fresh = Backoff::exponential(Duration::from_millis(100))
        .max_delay(Duration::from_secs(10))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    assert_eq!(fresh, p);
}
