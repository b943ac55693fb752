//! Invariants of the delays a policy yields, for any configuration that builds.

use std::time::Duration;

use proptest::prelude::*;
use taskweave_backoff::{Backoff, BackoffBuilder, ConfigError, Jitter};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Constant,
    Linear,
    Exponential,
    Fibonacci,
    Decorrelated,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Constant),
        Just(Shape::Linear),
        Just(Shape::Exponential),
        Just(Shape::Fibonacci),
        Just(Shape::Decorrelated),
    ]
}

/// Applies the settings every shape shares.
fn common<S>(
    b: BackoffBuilder<S>,
    cap: Duration,
    jitter: Jitter,
    attempts: u32,
    seed: u64,
) -> BackoffBuilder<S> {
    b.max_delay(cap)
        .jitter(jitter)
        .max_attempts(attempts)
        .seed(seed)
}

fn build(
    shape: Shape,
    base: Duration,
    factor: f64,
    cap: Duration,
    jitter: Jitter,
    attempts: u32,
    seed: u64,
) -> Result<Backoff, ConfigError> {
    match shape {
        Shape::Constant => common(Backoff::constant(base), cap, jitter, attempts, seed).build(),
        Shape::Linear => common(Backoff::linear(base), cap, jitter, attempts, seed).build(),
        Shape::Exponential => common(Backoff::exponential(base), cap, jitter, attempts, seed)
            .factor(factor)
            .build(),
        Shape::Fibonacci => common(Backoff::fibonacci(base), cap, jitter, attempts, seed).build(),
        Shape::Decorrelated => common(Backoff::decorrelated(base), cap, jitter, attempts, seed)
            .factor(factor)
            .build(),
    }
}

/// Any factor, with the powers of two (which take a shift-based path) well represented.
fn factor() -> impl Strategy<Value = f64> {
    prop_oneof![
        1.0f64..20.0,
        (1u32..8).prop_map(|k| f64::from(1u32 << k)),
        Just(2.0),
    ]
}

fn nanos() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..1_000_000).prop_map(Duration::from_micros),
        (1u64..u64::MAX).prop_map(Duration::from_nanos),
        Just(Duration::MAX),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_delay_is_within_the_cap_and_there_are_attempts_minus_one(
        shape in shape(),
        base in nanos(),
        extra in 0u64..10_000_000_000,
        factor in factor(),
        jitter in jitter(),
        attempts in 1u32..200,
        seed in any::<u64>(),
    ) {
        let cap = base.saturating_add(Duration::from_nanos(extra));
        let policy = build(shape, base, factor, cap, jitter, attempts, seed).unwrap();
        let delays: Vec<Duration> = policy.iter().collect();
        prop_assert_eq!(delays.len(), attempts as usize - 1);
        for d in delays {
            prop_assert!(d <= cap, "{:?} above the cap {:?}", d, cap);
        }
    }

    #[test]
    fn exponential_without_jitter_never_decreases(
        base in nanos(),
        factor in factor(),
        cap in nanos(),
        attempts in 1u32..200,
    ) {
        let cap = cap.max(base);
        let policy = build(Shape::Exponential, base, factor, cap, Jitter::None, attempts, 0).unwrap();
        let delays: Vec<Duration> = policy.iter().collect();
        for pair in delays.windows(2) {
            prop_assert!(pair[0] <= pair[1], "{:?} then {:?}", pair[0], pair[1]);
        }
        if let Some(first) = delays.first() {
            let base_nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
            prop_assert_eq!(*first, Duration::from_nanos(base_nanos));
        }
    }

    #[test]
    fn jitter_stays_within_the_policy_delay(
        shape in prop_oneof![Just(Shape::Constant), Just(Shape::Linear), Just(Shape::Exponential), Just(Shape::Fibonacci)],
        base in nanos(),
        factor in factor(),
        extra in 0u64..10_000_000_000,
        attempts in 1u32..100,
        seed in any::<u64>(),
    ) {
        let cap = base.saturating_add(Duration::from_nanos(extra));
        let plain = build(shape, base, factor, cap, Jitter::None, attempts, seed).unwrap();
        let full = build(shape, base, factor, cap, Jitter::Full, attempts, seed).unwrap();
        let equal = build(shape, base, factor, cap, Jitter::Equal, attempts, seed).unwrap();
        for ((d, f), e) in plain.iter().zip(full.iter()).zip(equal.iter()) {
            prop_assert!(f <= d, "full jitter {:?} outside [0, {:?}]", f, d);
            prop_assert!(e <= d && e >= d / 2, "equal jitter {:?} outside [{:?}, {:?}]", e, d / 2, d);
        }
    }

    #[test]
    fn power_of_two_factors_match_min_of_cap_and_base_times_factor_to_the_n(
        base_nanos in 1u64..u64::MAX,
        cap_nanos in 1u64..u64::MAX,
        k in 1u32..8,
        attempts in 1u32..100,
    ) {
        let (base, cap) = (base_nanos.min(cap_nanos), base_nanos.max(cap_nanos));
        let policy = Backoff::exponential(Duration::from_nanos(base))
            .factor(f64::from(1u32 << k))
            .max_delay(Duration::from_nanos(cap))
            .max_attempts(attempts)
            .build()
            .unwrap();
        for (n, d) in policy.iter().enumerate() {
            let expected = u128::from(base) << (n as u32 * k).min(64);
            let expected = expected.min(u128::from(cap)) as u64;
            prop_assert_eq!(d, Duration::from_nanos(expected), "delay {}", n);
        }
    }

    #[test]
    fn decorrelated_jitter_stays_within_base_and_cap(
        base in nanos(),
        factor in 1.0f64..10.0,
        extra in 0u64..10_000_000_000,
        attempts in 1u32..200,
        seed in any::<u64>(),
    ) {
        let cap = base.saturating_add(Duration::from_nanos(extra));
        let policy = build(Shape::Decorrelated, base, factor, cap, Jitter::None, attempts, seed).unwrap();
        let base_nanos = Duration::from_nanos(u64::try_from(base.as_nanos()).unwrap_or(u64::MAX));
        for d in policy.iter() {
            prop_assert!(d >= base_nanos && d <= cap, "{:?} outside [{:?}, {:?}]", d, base, cap);
        }
    }

    #[test]
    fn any_configuration_builds_or_fails_typed_and_never_panics(
        shape in shape(),
        base in prop_oneof![Just(Duration::ZERO), nanos()],
        factor in prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(0.5), Just(1.0)],
        cap in prop_oneof![Just(Duration::ZERO), nanos()],
        jitter in jitter(),
        attempts in 0u32..50,
        seed in any::<u64>(),
    ) {
        match build(shape, base, factor, cap, jitter, attempts, seed) {
            Ok(policy) => {
                prop_assert!(attempts >= 1 && cap >= base);
                prop_assert_eq!(policy.iter().count(), attempts as usize - 1);
            }
            Err(ConfigError::FactorNotFinite(f)) => prop_assert!(!f.is_finite()),
            Err(ConfigError::FactorBelowOne(f)) => prop_assert!(f < 1.0),
            Err(ConfigError::ZeroAttempts) => prop_assert_eq!(attempts, 0),
            Err(ConfigError::ZeroBase) => prop_assert_eq!(base, Duration::ZERO),
            Err(ConfigError::CapBelowBase { base: b, cap: c }) => prop_assert!(c < b),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

proptest! {
    #[test]
    fn every_loop_of_a_seeded_policy_stays_within_its_jitter_bounds(
        base_ms in 1u64..10_000,
        factor in 1.0f64..4.0,
        attempts in 4u32..40,
        seed in any::<u64>(),
        full in any::<bool>(),
    ) {
        let jitter = if full { Jitter::Full } else { Jitter::Equal };
        let base = Duration::from_millis(base_ms);
        let cap = Duration::from_secs(3600);
        let plain = Backoff::exponential(base)
            .factor(factor)
            .max_delay(cap)
            .max_attempts(attempts)
            .build()
            .unwrap();
        let jittered = Backoff::exponential(base)
            .factor(factor)
            .max_delay(cap)
            .max_attempts(attempts)
            .jitter(jitter)
            .seed(seed)
            .build()
            .unwrap();
        let mut loops = Vec::new();
        for _ in 0..3 {
            let delays: Vec<_> = jittered.iter().collect();
            prop_assert_eq!(delays.len(), attempts as usize - 1);
            for (d, limit) in delays.iter().zip(plain.iter()) {
                prop_assert!(*d <= limit, "{:?} above the policy delay {:?}", d, limit);
                if !full {
                    prop_assert!(*d >= limit / 2, "{:?} below half of {:?}", d, limit);
                }
            }
            loops.push(delays);
        }
        // Delays of at least a millisecond, drawn with nanosecond resolution: two loops
        // drawing the same sequence means they share a seed.
        prop_assert_ne!(&loops[0], &loops[1]);
        prop_assert_ne!(&loops[1], &loops[2]);
    }
}
