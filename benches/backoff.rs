//! taskweave-backoff against backon, backoff and hand-written code.
//!
//! - `backoff/delays-1m`: 1M delays from exponential backoff with full jitter, as 100k retry
//!   loops of 10 delays each (base 1 ms, doubling, capped at 100 ms). The baseline is the
//!   hand-written `min(cap, base * 2^n)` with a wyrand RNG.
//! - `backoff/retry-ok-10m`: an operation that succeeds at once, called 10M times through retry;
//!   the floor calls it directly. Read the "added per op" column: what wrapping a call that
//!   succeeds in a retry costs.

use std::hint::black_box;
use std::time::Duration;

use taskweave_benches::{Suite, current_thread, note, timed};

const DELAYS_PER_LOOP: u32 = 10;
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

fn delays(suite: &mut Suite) {
    const GROUP: &str = "backoff/delays-1m";
    let loops = suite.scale(100_000);
    let policy = taskweave_backoff::Backoff::exponential(BASE)
        .factor(2.0)
        .max_delay(CAP)
        .jitter(taskweave_backoff::Jitter::Full)
        .max_attempts(DELAYS_PER_LOOP + 1)
        .build()
        .expect("a valid policy");
    let backon_builder = {
        backon::ExponentialBuilder::default()
            .with_min_delay(BASE)
            .with_max_delay(CAP)
            .with_factor(2.0)
            .with_max_times(DELAYS_PER_LOOP as usize)
            .with_jitter()
    };
    let mut backoff_builder = backoff::ExponentialBackoffBuilder::new();
    backoff_builder
        .with_initial_interval(BASE)
        .with_multiplier(2.0)
        .with_max_interval(CAP)
        .with_randomization_factor(1.0)
        .with_max_elapsed_time(None);
    let mut rng = WyRand(0x5eed);

    suite.group(GROUP, loops * u64::from(DELAYS_PER_LOOP), |g| {
        g.floor("hand-written min(cap, base*2^n) + wyrand", || {
            let base = BASE.as_nanos() as u64;
            let cap = CAP.as_nanos() as u64;
            timed(|| {
                for _ in 0..loops {
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
            })
        });
        g.ours("taskweave: Exponential + full jitter", || {
            timed(|| {
                for _ in 0..loops {
                    for d in black_box(&policy).iter() {
                        black_box(d);
                    }
                }
            })
        });
        g.peer("backon", || {
            use backon::BackoffBuilder as _;
            timed(|| {
                for _ in 0..loops {
                    for d in black_box(backon_builder).build() {
                        black_box(d);
                    }
                }
            })
        });
        g.peer("backoff", || {
            use backoff::backoff::Backoff as _;
            timed(|| {
                for _ in 0..loops {
                    let mut policy = black_box(&backoff_builder).build();
                    for _ in 0..DELAYS_PER_LOOP {
                        black_box(policy.next_backoff());
                    }
                }
            })
        });
    });
    note(
        GROUP,
        "backon",
        "additive jitter (d + rand·d), its only mode, not full jitter",
    );
    note(
        GROUP,
        "backoff",
        "randomization factor 1.0 (d ± d), its closest mode to full jitter; reads the clock per delay",
    );
}

/// 10M calls: a call costs a few nanoseconds, and a run must last long enough to time.
const CALLS: u64 = 10_000_000;

#[derive(Debug)]
struct Unavailable;

/// The operation under retry: a little work, and it always succeeds.
async fn fetch(key: u64) -> Result<u64, Unavailable> {
    let key = black_box(key);
    if key == u64::MAX {
        return Err(Unavailable);
    }
    Ok(key.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15)
}

fn retry_ok(suite: &mut Suite) {
    let calls = suite.scale(CALLS);
    let rt = current_thread();
    let policy = taskweave_backoff::Backoff::default();
    let backon_builder = backon::ExponentialBuilder::default().with_jitter();
    suite.group("backoff/retry-ok-10m", calls, |g| {
        g.floor("direct call", || {
            timed(|| {
                rt.block_on(async {
                    for i in 0..calls {
                        black_box(fetch(i).await.ok());
                    }
                })
            })
        });
        g.ours("taskweave: retry", || {
            timed(|| {
                rt.block_on(async {
                    for i in 0..calls {
                        black_box(taskweave_backoff::retry(policy, || fetch(i)).await.ok());
                    }
                })
            })
        });
        g.peer("backon", || {
            use backon::Retryable as _;
            timed(|| {
                rt.block_on(async {
                    for i in 0..calls {
                        black_box((|| fetch(i)).retry(backon_builder).await.ok());
                    }
                })
            })
        });
    });
}

fn main() {
    let mut suite = Suite::from_env();
    delays(&mut suite);
    retry_ok(&mut suite);
}
