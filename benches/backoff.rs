//! taskweave-backoff against backon, backoff and hand-written code.
//!
//! - `backoff/delays-1m`: 1M delays from exponential backoff with full jitter, as 100k retry
//!   loops of 10 delays each (base 1 ms, doubling, capped at 100 ms). The baseline is the
//!   hand-written `min(cap, base * 2^n)` with a wyrand RNG.
//! - `backoff/retry-ok-1m`: an operation that succeeds at once, called 1M times through retry;
//!   the baseline calls it directly.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use taskweave_benches::{current_thread, note, workload_group};

const LOOPS: u64 = 100_000;
const DELAYS_PER_LOOP: u32 = 10;
const DELAYS: u64 = LOOPS * DELAYS_PER_LOOP as u64;
const BASE: Duration = Duration::from_millis(1);
const CAP: Duration = Duration::from_millis(100);

/// The hand-written loop's RNG: wyrand, as anyone would paste it in.
struct WyRand(u64);

impl WyRand {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        (t >> 64) as u64 ^ t as u64
    }
}

fn delays(c: &mut Criterion) {
    const GROUP: &str = "backoff/delays-1m";
    let mut group = workload_group(c, GROUP, DELAYS);

    group.bench_function(
        "baseline: hand-written min(cap, base*2^n) + fast RNG",
        |b| {
            let base = BASE.as_nanos() as u64;
            let cap = CAP.as_nanos() as u64;
            let mut rng = WyRand(0x5eed);
            b.iter(|| {
                for _ in 0..LOOPS {
                    // Through `black_box`, as every other contender gets its policy: with
                    // constants the compiler folds the ten delays and proves them all below a
                    // second, which no configured policy can match.
                    let (base, cap) = black_box((base, cap));
                    for n in 0..DELAYS_PER_LOOP {
                        let d = cap.min(base << n);
                        let jittered = ((u128::from(rng.next()) * u128::from(d + 1)) >> 64) as u64;
                        black_box(Duration::from_nanos(jittered));
                    }
                }
            });
        },
    );

    group.bench_function("taskweave: Exponential + full jitter", |b| {
        let policy = taskweave_backoff::Backoff::exponential(BASE)
            .factor(2.0)
            .max_delay(CAP)
            .jitter(taskweave_backoff::Jitter::Full)
            .max_attempts(DELAYS_PER_LOOP + 1)
            .build()
            .expect("a valid policy");
        b.iter(|| {
            for _ in 0..LOOPS {
                for d in black_box(&policy).iter() {
                    black_box(d);
                }
            }
        });
    });

    group.bench_function("backon", |b| {
        use backon::BackoffBuilder as _;
        let builder = backon::ExponentialBuilder::default()
            .with_min_delay(BASE)
            .with_max_delay(CAP)
            .with_factor(2.0)
            .with_max_times(DELAYS_PER_LOOP as usize)
            .with_jitter();
        b.iter(|| {
            for _ in 0..LOOPS {
                for d in black_box(builder).build() {
                    black_box(d);
                }
            }
        });
    });
    note(
        GROUP,
        "backon",
        "additive jitter (d + rand·d), its only mode, not full jitter",
    );

    group.bench_function("backoff", |b| {
        use backoff::backoff::Backoff as _;
        let mut builder = backoff::ExponentialBackoffBuilder::new();
        builder
            .with_initial_interval(BASE)
            .with_multiplier(2.0)
            .with_max_interval(CAP)
            .with_randomization_factor(1.0)
            .with_max_elapsed_time(None);
        b.iter(|| {
            for _ in 0..LOOPS {
                let mut policy = black_box(&builder).build();
                for _ in 0..DELAYS_PER_LOOP {
                    black_box(policy.next_backoff());
                }
            }
        });
    });
    note(
        GROUP,
        "backoff",
        "randomization factor 1.0 (d ± d), its closest mode to full jitter; reads the clock per delay",
    );

    group.finish();
}

const CALLS: u64 = 1_000_000;

#[derive(Debug)]
struct Unavailable;

/// The operation under retry: a little work, and it always succeeds.
#[inline(never)]
async fn fetch(key: u64) -> Result<u64, Unavailable> {
    let key = black_box(key);
    if key == u64::MAX {
        return Err(Unavailable);
    }
    Ok(key.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15)
}

fn retry_ok(c: &mut Criterion) {
    const GROUP: &str = "backoff/retry-ok-1m";
    let mut group = workload_group(c, GROUP, CALLS);
    let rt = current_thread();

    group.bench_function("baseline: direct call", |b| {
        b.iter(|| {
            rt.block_on(async {
                for i in 0..CALLS {
                    black_box(fetch(i).await.ok());
                }
            });
        });
    });

    group.bench_function("taskweave: retry", |b| {
        let policy = taskweave_backoff::Backoff::default();
        b.iter(|| {
            rt.block_on(async {
                for i in 0..CALLS {
                    black_box(taskweave_backoff::retry(policy, || fetch(i)).await.ok());
                }
            });
        });
    });

    group.bench_function("backon", |b| {
        use backon::Retryable as _;
        let builder = backon::ExponentialBuilder::default().with_jitter();
        b.iter(|| {
            rt.block_on(async {
                for i in 0..CALLS {
                    black_box((|| fetch(i)).retry(builder).await.ok());
                }
            });
        });
    });

    group.finish();
}

criterion_group!(benches, delays, retry_ok);
criterion_main!(benches);
