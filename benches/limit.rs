//! `limit`: rate-limit admission cost and pacing accuracy.
//!
//! - `limit/admit-1-task`, `limit/admit-2-tasks`: 1M admissions through a limiter whose quota
//!   admits everything, from 1 task or from 2 tasks sharing it (500k each) on a 2-worker
//!   runtime. This is the cost of a `check` when the answer is yes. The floor is a hand-written
//!   GCRA: one `AtomicU64` updated by compare-and-swap, reading the CPU's time-stamp counter
//!   through quanta. Each crate runs in its default configuration, which for both ours and
//!   governor reads that counter; `taskweave: RateLimiter + TokioClock` is ours reading Tokio's
//!   clock instead (what the `test-util` feature makes the default, for paused-time tests).
//!   Keyed contenders spread the admissions over 64 keys.
//! - `limit/paced-100k`: 2 tasks take 20,000 permits in total from a fresh 100,000/s limiter
//!   with burst 100, waiting as each API waits. Each contender notes the achieved rate and the
//!   most permits admitted in any 1 ms window (the quota allows at most 100 + 100). A burst
//!   of 100 is exactly 1 ms of the rate, one tick of Tokio's timer: ours yields through waits
//!   shorter than 50 µs rather than oversleep them (the default); it is also measured with
//!   `spin_wait(2 ms)`, which yields through the last 2 ms of every wait. The floor is a
//!   hand-written GCRA behind a `Mutex` that sleeps with `tokio::time::sleep_until`.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskweave_benches::{Suite, multi_thread, note, run_tasks};
use tokio::runtime::Runtime;

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

/// The hand-written floor: GCRA on one atomic theoretical arrival time, in nanoseconds since
/// `origin` on the time-stamp counter. Admits when the arrival time is at most `tolerance` ahead
/// of now.
struct HandGcra {
    clock: quanta::Clock,
    origin: u64,
    tat: AtomicU64,
    interval: u64,
    tolerance: u64,
}

impl HandGcra {
    fn unlimited() -> Self {
        let clock = quanta::Clock::new();
        HandGcra {
            origin: clock.raw(),
            clock,
            tat: AtomicU64::new(0),
            interval: 2,
            tolerance: u64::MAX / 4,
        }
    }

    fn check(&self) -> bool {
        let now = self.clock.delta_as_nanos(self.origin, self.clock.raw());
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > self.tolerance {
                return false;
            }
            match self.tat.compare_exchange_weak(
                tat,
                start + self.interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }
}

/// Runs `tasks` tasks that share `limiter` and each call `check(limiter, i)` `per_task` times.
fn checks<L: Clone + Send + 'static>(
    rt: &Runtime,
    tasks: u64,
    per_task: u64,
    limiter: L,
    check: fn(&L, u64) -> bool,
) -> std::time::Duration {
    run_tasks(rt, tasks, |t| {
        let limiter = limiter.clone();
        async move {
            for i in 0..per_task {
                assert!(check(&limiter, i + t));
            }
        }
    })
}

fn admit(suite: &mut Suite, rt: &Runtime, tasks: u64) {
    let id = if tasks == 1 {
        "limit/admit-1-task"
    } else {
        "limit/admit-2-tasks"
    };
    let admissions = suite.scale(1_000_000);
    let per_task = admissions / tasks;
    suite.group(id, admissions, |g| {
        g.floor("hand-written atomic GCRA (TSC clock)", || {
            checks(
                rt,
                tasks,
                per_task,
                Arc::new(HandGcra::unlimited()),
                |l, _| l.check(),
            )
        });
        g.ours("taskweave: RateLimiter (default: TSC clock)", || {
            let limiter =
                taskweave_limit::RateLimiter::new(ours_unlimited()).expect("a valid quota");
            checks(rt, tasks, per_task, limiter, |l, _| l.check().is_ok())
        });
        g.ours("taskweave: RateLimiter + TokioClock", || {
            let limiter = taskweave_limit::RateLimiter::builder()
                .quota(ours_unlimited())
                .clock(taskweave_limit::TokioClock::new())
                .build()
                .expect("a valid quota");
            checks(rt, tasks, per_task, limiter, |l, _| l.check().is_ok())
        });
        g.ours("taskweave: KeyedRateLimiter (default: TSC clock)", || {
            let limiter = taskweave_limit::KeyedRateLimiter::<u64>::new(ours_unlimited())
                .expect("a valid quota");
            checks(rt, tasks, per_task, limiter, |l, i| {
                l.check_key(&(i % KEYS)).is_ok()
            })
        });
        g.peer("governor (default: TSC clock)", || {
            let limiter = Arc::new(governor::RateLimiter::direct(governor_unlimited()));
            checks(rt, tasks, per_task, limiter, |l, _| l.check().is_ok())
        });
        g.peer("governor keyed (default: TSC clock)", || {
            let limiter = Arc::new(governor::RateLimiter::keyed(governor_unlimited()));
            checks(rt, tasks, per_task, limiter, |l, i| {
                l.check_key(&(i % KEYS)).is_ok()
            })
        });
        g.peer("leaky-bucket", || {
            let limiter = Arc::new(
                leaky_bucket::RateLimiter::builder()
                    .max(usize::MAX / 4)
                    .initial(usize::MAX / 4)
                    .refill(usize::MAX / 4)
                    .build(),
            );
            run_tasks(rt, tasks, |_| {
                let limiter = Arc::clone(&limiter);
                async move {
                    for _ in 0..per_task {
                        limiter.acquire_one().await;
                    }
                }
            })
        });
    });
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

/// The hand-written pacing floor: GCRA behind a mutex, sleeping until the reserved slot.
struct HandPacer {
    tat: Mutex<tokio::time::Instant>,
    interval: Duration,
    tolerance: Duration,
}

impl HandPacer {
    async fn take(&self) {
        let at = {
            let mut tat = self.tat.lock().expect("not poisoned");
            let now = tokio::time::Instant::now();
            let start = (*tat).max(now);
            *tat = start + self.interval;
            start.checked_sub(self.tolerance).unwrap_or(now)
        };
        if at > tokio::time::Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }
}

fn paced_100k(suite: &mut Suite, rt: &Runtime) {
    const GROUP: &str = "limit/paced-100k";
    let quota_burst = NonZeroU32::new(PACED_BURST).expect("not zero");
    let pacings: [Mutex<Pacing>; 5] = Default::default();
    let names = [
        "hand-written GCRA + sleep_until",
        "taskweave: RateLimiter acquire",
        "taskweave: RateLimiter acquire + spin_wait(2 ms)",
        "governor until_ready",
        "leaky-bucket",
    ];
    suite.group(GROUP, PACED_PERMITS, |g| {
        g.floor(names[0], || {
            let interval = Duration::from_secs(1) / PACED_RATE;
            let pacer = Arc::new(HandPacer {
                tat: Mutex::new(tokio::time::Instant::now()),
                interval,
                tolerance: interval * (PACED_BURST - 1),
            });
            paced(rt, &pacings[0], pacer, |p| async move { p.take().await })
        });
        g.ours(names[1], || {
            let quota = taskweave_limit::Quota::per_second(PACED_RATE).with_burst(PACED_BURST);
            let limiter = taskweave_limit::RateLimiter::new(quota).expect("a valid quota");
            paced(rt, &pacings[1], limiter, |l| async move {
                l.acquire().await.expect("never closed");
            })
        });
        g.ours(names[2], || {
            let limiter = taskweave_limit::RateLimiter::builder()
                .quota(taskweave_limit::Quota::per_second(PACED_RATE).with_burst(PACED_BURST))
                .spin_wait(Duration::from_millis(2))
                .build()
                .expect("a valid quota");
            paced(rt, &pacings[2], limiter, |l| async move {
                l.acquire().await.expect("never closed");
            })
        });
        g.peer(names[3], || {
            let quota = governor::Quota::per_second(NonZeroU32::new(PACED_RATE).expect("not zero"))
                .allow_burst(quota_burst);
            let limiter = Arc::new(governor::RateLimiter::direct(quota));
            paced(rt, &pacings[3], limiter, |l| async move {
                l.until_ready().await
            })
        });
        g.peer(names[4], || {
            let limiter = Arc::new(
                leaky_bucket::RateLimiter::builder()
                    .max(PACED_BURST as usize)
                    .initial(PACED_BURST as usize)
                    .refill((PACED_RATE / 1000) as usize)
                    .interval(Duration::from_millis(1))
                    .build(),
            );
            paced(rt, &pacings[4], limiter, |l| async move {
                l.acquire_one().await
            })
        });
    });
    for (name, pacing) in names.iter().zip(&pacings) {
        pacing.lock().expect("not poisoned").report(name);
    }
}

fn main() {
    // The headline is the default configuration; built with `test-util` it would be Tokio's
    // clock. (A run-time check: `cargo clippy --workspace --all-features` builds this with it.)
    if taskweave_limit::DefaultClock::FOLLOWS_TOKIO {
        panic!("run through `cargo xtask bench`: taskweave-clock's test-util must be off");
    }
    let mut suite = Suite::from_env();
    let rt = multi_thread(2);
    admit(&mut suite, &rt, 1);
    admit(&mut suite, &rt, 2);
    paced_100k(&mut suite, &rt);
}
