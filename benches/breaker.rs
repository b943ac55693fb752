//! `breaker`: the cost a closed circuit breaker adds to every call.
//!
//! - `breaker/closed-1-task`, `breaker/closed-2-tasks`: 4M calls through a closed breaker, 1 in
//!   100 of them failing (so the window always holds a failure and every success is recorded),
//!   from 1 task or from 2 tasks sharing it (2M each) on a 2-worker runtime. The floor awaits
//!   the same future directly; read the "added per op" column: the breaker's cost per call for
//!   admitting, classifying and recording the outcome. `… + slow-call timing` also counts slow
//!   calls, so it reads a clock twice per call (failsafe has no slow-call detection). The
//!   headline uses the default configuration with a 1 s threshold, which the breaker times on
//!   the kernel's coarse clock (a threshold of 50 ticks or more, 200 ms with a 4 ms tick); a
//!   100 ms threshold is timed on the default clock, the CPU's time-stamp counter; and
//!   `TokioClock`, set with `Builder::clock`, is what the `test-util` feature makes the default,
//!   for paused-time tests.

use std::hint::black_box;
use std::time::Duration;

use failsafe::futures::CircuitBreaker as _;
use taskweave_benches::{Suite, multi_thread, run_tasks};
use tokio::runtime::Runtime;

/// The operation behind the breaker: an immediately ready future that fails 1 call in 100.
async fn flaky(i: u64) -> Result<u64, ()> {
    if i % 100 == 0 {
        Err(())
    } else {
        Ok(black_box(i))
    }
}

fn ours() -> taskweave_breaker::Breaker {
    taskweave_breaker::Breaker::builder()
        .build()
        .expect("the default settings are valid")
}

fn ours_timed() -> taskweave_breaker::Breaker {
    taskweave_breaker::Breaker::builder()
        .slow_call_duration(Duration::from_secs(1))
        .build()
        .expect("the settings are valid")
}

fn ours_timed_short() -> taskweave_breaker::Breaker {
    taskweave_breaker::Breaker::builder()
        .slow_call_duration(Duration::from_millis(100))
        .build()
        .expect("the settings are valid")
}

fn ours_timed_tokio() -> taskweave_breaker::Breaker {
    taskweave_breaker::Breaker::builder()
        .slow_call_duration(Duration::from_secs(1))
        .clock(taskweave_breaker::TokioClock::new())
        .build()
        .expect("the settings are valid")
}

fn through_ours(
    rt: &Runtime,
    tasks: u64,
    per_task: u64,
    make: fn() -> taskweave_breaker::Breaker,
) -> Duration {
    let breaker = make();
    let elapsed = run_tasks(rt, tasks, |_| {
        let breaker = breaker.clone();
        async move {
            for i in 0..per_task {
                let _ = black_box(breaker.call(|| flaky(i)).await);
            }
        }
    });
    let m = breaker.metrics();
    assert_eq!(
        m.state,
        taskweave_breaker::State::Closed,
        "1% failures never trip it: {m:?}"
    );
    elapsed
}

fn closed(suite: &mut Suite, rt: &Runtime, tasks: u64) {
    let id = if tasks == 1 {
        "breaker/closed-1-task"
    } else {
        "breaker/closed-2-tasks"
    };
    let calls = suite.scale(4_000_000);
    let per_task = calls / tasks;
    suite.group(id, calls, |g| {
        g.floor("direct call", || {
            run_tasks(rt, tasks, |_| async move {
                for i in 0..per_task {
                    let _ = black_box(flaky(i).await);
                }
            })
        });
        g.ours("taskweave: Breaker", || {
            through_ours(rt, tasks, per_task, ours)
        });
        g.ours("taskweave: Breaker + slow-call timing", || {
            through_ours(rt, tasks, per_task, ours_timed)
        });
        g.ours(
            "taskweave: Breaker + slow-call timing, 100 ms threshold (TSC clock)",
            || through_ours(rt, tasks, per_task, ours_timed_short),
        );
        g.ours("taskweave: Breaker + slow-call timing (TokioClock)", || {
            through_ours(rt, tasks, per_task, ours_timed_tokio)
        });
        g.peer("failsafe", || {
            let breaker = failsafe::Config::new().build();
            run_tasks(rt, tasks, |_| {
                let breaker = breaker.clone();
                async move {
                    for i in 0..per_task {
                        let _ = black_box(breaker.call(flaky(i)).await);
                    }
                }
            })
        });
    });
}

fn main() {
    // The headline is the default configuration; built with `test-util` it would be Tokio's
    // clock. (A run-time check: `cargo clippy --workspace --all-features` builds this with it.)
    if taskweave_breaker::DefaultClock::FOLLOWS_TOKIO {
        panic!("run through `cargo xtask bench`: taskweave-clock's test-util must be off");
    }
    let mut suite = Suite::from_env();
    let rt = multi_thread(2);
    closed(&mut suite, &rt, 1);
    closed(&mut suite, &rt, 2);
}
