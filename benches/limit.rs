//! `limit`: rate-limit admission cost and pacing accuracy.
//!
//! - `limit/admit-1-task`, `limit/admit-2-tasks`: 1M admissions through a limiter whose quota
//!   admits everything, from 1 task or from 2 tasks sharing it (500k each) on a 2-worker
//!   runtime. This is the cost of a `check` when the answer is yes. Keyed contenders spread
//!   the admissions over 64 keys. `taskweave: RateLimiter + QuantaClock` is ours with the crate's
//!   optional `quanta` clock, the same TSC clock governor reads, instead of Tokio's.
//! - `limit/paced-100k`: 2 tasks take 20,000 permits in total from a fresh 100,000/s limiter
//!   with burst 100, waiting as each API waits. Each contender notes the achieved rate and the
//!   most permits admitted in any 1 ms window (the quota allows at most 100 + 100). A burst
//!   of 100 is exactly 1 ms of the rate, one tick of Tokio's timer: ours yields through waits
//!   shorter than 50 µs rather than oversleep them (the default); it is also measured with
//!   `spin_wait(2 ms)`, which yields through the last 2 ms of every wait.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use taskweave_benches::{iter_runs, multi_thread, note, run_tasks, workload_group};

const ADMISSIONS: u64 = 1_000_000;
const KEYS: u64 = 64;
const PACED_PERMITS: u64 = 20_000;
const PACED_RATE: u32 = 100_000;
const PACED_BURST: u32 = 100;

/// A quota that admits everything: ~2 ns per permit and a burst of 4 billion.
fn ours_unlimited() -> taskweave_limit::Quota {
    taskweave_limit::Quota::new(u32::MAX, Duration::from_secs(10))
}

fn governor_unlimited() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::MAX)
}

fn admit(c: &mut Criterion, tasks: u64) {
    let id = if tasks == 1 {
        "limit/admit-1-task"
    } else {
        "limit/admit-2-tasks"
    };
    let per_task = ADMISSIONS / tasks;
    let rt = multi_thread(2);
    let mut group = workload_group(c, id, ADMISSIONS);

    group.bench_function("baseline: governor check", |b| {
        iter_runs(b, || {
            let limiter = Arc::new(governor::RateLimiter::direct(governor_unlimited()));
            run_tasks(&rt, tasks, |_| {
                let limiter = Arc::clone(&limiter);
                async move {
                    for _ in 0..per_task {
                        assert!(limiter.check().is_ok());
                    }
                }
            })
        });
    });

    group.bench_function("governor keyed", |b| {
        iter_runs(b, || {
            let limiter = Arc::new(governor::RateLimiter::keyed(governor_unlimited()));
            run_tasks(&rt, tasks, |t| {
                let limiter = Arc::clone(&limiter);
                async move {
                    for i in 0..per_task {
                        assert!(limiter.check_key(&((i + t) % KEYS)).is_ok());
                    }
                }
            })
        });
    });

    group.bench_function("leaky-bucket", |b| {
        iter_runs(b, || {
            let limiter = Arc::new(
                leaky_bucket::RateLimiter::builder()
                    .max(usize::MAX / 4)
                    .initial(usize::MAX / 4)
                    .refill(usize::MAX / 4)
                    .build(),
            );
            run_tasks(&rt, tasks, |_| {
                let limiter = Arc::clone(&limiter);
                async move {
                    for _ in 0..per_task {
                        limiter.acquire_one().await;
                    }
                }
            })
        });
    });

    group.bench_function("tokio Semaphore", |b| {
        iter_runs(b, || {
            let semaphore = Arc::new(tokio::sync::Semaphore::new(1 << 20));
            run_tasks(&rt, tasks, |_| {
                let semaphore = Arc::clone(&semaphore);
                async move {
                    for _ in 0..per_task {
                        drop(semaphore.acquire().await.expect("never closed"));
                    }
                }
            })
        });
    });

    group.bench_function("taskweave: RateLimiter", |b| {
        iter_runs(b, || {
            let limiter =
                taskweave_limit::RateLimiter::new(ours_unlimited()).expect("a valid quota");
            run_tasks(&rt, tasks, |_| {
                let limiter = limiter.clone();
                async move {
                    for _ in 0..per_task {
                        assert!(limiter.check().is_ok());
                    }
                }
            })
        });
    });

    group.bench_function("taskweave: RateLimiter + QuantaClock", |b| {
        iter_runs(b, || {
            let limiter = taskweave_limit::RateLimiter::builder()
                .quota(ours_unlimited())
                .clock(taskweave_limit::QuantaClock::new())
                .build()
                .expect("a valid quota");
            run_tasks(&rt, tasks, |_| {
                let limiter = limiter.clone();
                async move {
                    for _ in 0..per_task {
                        assert!(limiter.check().is_ok());
                    }
                }
            })
        });
    });

    group.bench_function("taskweave: KeyedRateLimiter", |b| {
        iter_runs(b, || {
            let limiter = taskweave_limit::KeyedRateLimiter::<u64>::new(ours_unlimited())
                .expect("a valid quota");
            run_tasks(&rt, tasks, |t| {
                let limiter = limiter.clone();
                async move {
                    for i in 0..per_task {
                        assert!(limiter.check_key(&((i + t) % KEYS)).is_ok());
                    }
                }
            })
        });
    });

    group.finish();
}

fn admit_1_task(c: &mut Criterion) {
    admit(c, 1);
}

fn admit_2_tasks(c: &mut Criterion) {
    admit(c, 2);
}

/// Admission times of one paced run, folded into the notes of a contender.
#[derive(Default)]
struct Pacing {
    /// Achieved rate of every run, permits per second.
    rates: Vec<f64>,
    /// Most permits in any 1 ms window, over every run.
    max_per_ms: usize,
}

impl Pacing {
    fn record(&mut self, elapsed: Duration, mut stamps: Vec<Instant>) {
        self.rates.push(stamps.len() as f64 / elapsed.as_secs_f64());
        stamps.sort_unstable();
        let window = Duration::from_millis(1);
        let mut start = 0;
        for end in 0..stamps.len() {
            while stamps[end].duration_since(stamps[start]) >= window {
                start += 1;
            }
            self.max_per_ms = self.max_per_ms.max(end - start + 1);
        }
    }

    fn report(&self, contender: &str) {
        if self.rates.is_empty() {
            return;
        }
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let limit = PACED_BURST + PACED_RATE / 1000;
        note(
            "limit/paced-100k",
            contender,
            &format!(
                "achieved {median:.0} permits/s ({:+.1}% vs quota); at most {} permits in a 1 ms window (quota allows {limit})",
                (median / f64::from(PACED_RATE) - 1.0) * 100.0,
                self.max_per_ms,
            ),
        );
    }
}

/// Runs 2 tasks that each take half the permits through `take`, recording admission times.
fn paced<T, F, Fut>(
    rt: &tokio::runtime::Runtime,
    pacing: &Mutex<Pacing>,
    limiter: T,
    take: F,
) -> Duration
where
    T: Clone + Send + 'static,
    F: Fn(T) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stamps = Arc::new(Mutex::new(Vec::with_capacity(PACED_PERMITS as usize)));
    let elapsed = run_tasks(rt, 2, |_| {
        let limiter = limiter.clone();
        let stamps = Arc::clone(&stamps);
        async move {
            let mut mine = Vec::with_capacity((PACED_PERMITS / 2) as usize);
            for _ in 0..PACED_PERMITS / 2 {
                take(limiter.clone()).await;
                mine.push(Instant::now());
            }
            stamps.lock().expect("not poisoned").extend(mine);
        }
    });
    let stamps = std::mem::take(&mut *stamps.lock().expect("not poisoned"));
    pacing.lock().expect("not poisoned").record(elapsed, stamps);
    elapsed
}

fn paced_100k(c: &mut Criterion) {
    let rt = multi_thread(2);
    let mut group = workload_group(c, "limit/paced-100k", PACED_PERMITS);
    let quota_burst = NonZeroU32::new(PACED_BURST).expect("not zero");

    let pacing = Mutex::new(Pacing::default());
    group.bench_function("baseline: governor until_ready", |b| {
        iter_runs(b, || {
            let quota = governor::Quota::per_second(NonZeroU32::new(PACED_RATE).expect("not zero"))
                .allow_burst(quota_burst);
            let limiter = Arc::new(governor::RateLimiter::direct(quota));
            paced(
                &rt,
                &pacing,
                limiter,
                |l| async move { l.until_ready().await },
            )
        });
    });
    pacing
        .lock()
        .expect("not poisoned")
        .report("baseline: governor until_ready");

    let pacing = Mutex::new(Pacing::default());
    group.bench_function("leaky-bucket", |b| {
        iter_runs(b, || {
            let limiter = Arc::new(
                leaky_bucket::RateLimiter::builder()
                    .max(PACED_BURST as usize)
                    .initial(PACED_BURST as usize)
                    .refill((PACED_RATE / 1000) as usize)
                    .interval(Duration::from_millis(1))
                    .build(),
            );
            paced(
                &rt,
                &pacing,
                limiter,
                |l| async move { l.acquire_one().await },
            )
        });
    });
    pacing.lock().expect("not poisoned").report("leaky-bucket");

    let pacing = Mutex::new(Pacing::default());
    group.bench_function("taskweave: RateLimiter acquire", |b| {
        iter_runs(b, || {
            let quota = taskweave_limit::Quota::per_second(PACED_RATE).with_burst(PACED_BURST);
            let limiter = taskweave_limit::RateLimiter::new(quota).expect("a valid quota");
            paced(&rt, &pacing, limiter, |l| async move {
                l.acquire().await.expect("never closed");
            })
        });
    });
    pacing
        .lock()
        .expect("not poisoned")
        .report("taskweave: RateLimiter acquire");

    let pacing = Mutex::new(Pacing::default());
    group.bench_function("taskweave: RateLimiter acquire + spin_wait(2 ms)", |b| {
        iter_runs(b, || {
            let limiter = taskweave_limit::RateLimiter::builder()
                .quota(taskweave_limit::Quota::per_second(PACED_RATE).with_burst(PACED_BURST))
                .spin_wait(Duration::from_millis(2))
                .build()
                .expect("a valid quota");
            paced(&rt, &pacing, limiter, |l| async move {
                l.acquire().await.expect("never closed");
            })
        });
    });
    pacing
        .lock()
        .expect("not poisoned")
        .report("taskweave: RateLimiter acquire + spin_wait(2 ms)");

    group.finish();
}

criterion_group!(benches, admit_1_task, admit_2_tasks, paced_100k);
criterion_main!(benches);
