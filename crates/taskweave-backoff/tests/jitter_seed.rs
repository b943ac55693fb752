//! A seeded policy de-correlates its loops: each loop draws its own jitter (no lock-step retry
//! storm), while `fixed_seed` gives every loop the very same, reproducible sequence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_backoff::{Backoff, Jitter, retry};

fn seeded(jitter: Jitter) -> Backoff {
    Backoff::exponential(Duration::from_secs(1))
        .jitter(jitter)
        .max_attempts(12)
        .seed(42)
        .build()
        .unwrap()
}

#[test]
fn two_loops_of_one_seeded_policy_draw_different_jitter() {
    for jitter in [Jitter::Full, Jitter::Equal] {
        let policy = seeded(jitter);
        let a: Vec<_> = policy.iter().collect();
        let b: Vec<_> = policy.iter().collect();
        assert_ne!(a, b, "{jitter:?}: two loops in lock-step");
    }
    let decorrelated = Backoff::decorrelated(Duration::from_millis(100))
        .max_attempts(12)
        .seed(7)
        .build()
        .unwrap();
    assert_ne!(
        decorrelated.iter().collect::<Vec<_>>(),
        decorrelated.iter().collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_retry_loops_of_one_seeded_policy_sleep_differently() {
    let policy = seeded(Jitter::Full);
    let slept = Arc::new(Mutex::new(Vec::new()));
    let mut loops = Vec::new();
    for client in 0..64 {
        let slept = Arc::clone(&slept);
        loops.push(tokio::spawn(async move {
            let mut delays = Vec::new();
            let _ = retry(policy, || async { Err::<(), _>("down") })
                .notify(|_, _, delay| delays.push(delay))
                .await;
            slept.lock().unwrap().push((client, delays));
        }));
    }
    for l in loops {
        l.await.unwrap();
    }
    let mut slept = slept.lock().unwrap().clone();
    slept.sort();
    let mut sequences: Vec<_> = slept.into_iter().map(|(_, d)| d).collect();
    sequences.sort();
    sequences.dedup();
    assert_eq!(sequences.len(), 64, "some clients retried in lock-step");
}

#[test]
fn a_fixed_seed_repeats_the_same_sequence_in_every_loop() {
    let policy = Backoff::exponential(Duration::from_secs(1))
        .jitter(Jitter::Full)
        .max_attempts(12)
        .fixed_seed(42)
        .build()
        .unwrap();
    let first: Vec<_> = policy.iter().collect();
    for _ in 0..10 {
        assert_eq!(policy.iter().collect::<Vec<_>>(), first);
    }
    // The same fixed seed in another policy value yields the same sequence too.
    let again = Backoff::exponential(Duration::from_secs(1))
        .jitter(Jitter::Full)
        .max_attempts(12)
        .fixed_seed(42)
        .build()
        .unwrap();
    assert_eq!(again.iter().collect::<Vec<_>>(), first);
    assert_eq!(again.seed(), Some(42));
}

#[test]
fn a_single_loop_is_reproducible_from_its_loop_seed() {
    let policy = seeded(Jitter::Full);
    let a: Vec<_> = policy.iter_seeded(3).collect();
    let b: Vec<_> = policy.iter_seeded(3).collect();
    assert_eq!(a, b);
    assert_ne!(a, policy.iter_seeded(4).collect::<Vec<_>>());
}
