//! `breaker`: the cost a closed circuit breaker adds to every call.
//!
//! - `breaker/closed-1-task`, `breaker/closed-2-tasks`: 1M calls of an `Ok` future through a
//!   closed breaker, from 1 task or from 2 tasks sharing it (500k each) on a 2-worker runtime.
//!   The baseline awaits the same future directly; the difference is the breaker's cost per
//!   call: admitting, classifying and recording the outcome in the sliding window.
//!   `taskweave: Breaker + slow-call timing` also counts slow calls, so reads the clock twice
//!   per call (failsafe has no slow-call detection): Tokio's clock, the default, and, as
//!   `… (QuantaClock)`, the time-stamp-counter clock set with `Builder::clock`.
//!
//!   While its window holds only successes, our breaker skips recording further successes (the
//!   window would not change). A note on each group gives the cost when that shortcut is off:
//!   the same 1M calls with 1 in 100 failing, so the window always holds a failure and every
//!   success is counted (on a per-thread stripe).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use taskweave_benches::{iter_runs, multi_thread, note, run_tasks, workload_group};

const CALLS: u64 = 1_000_000;

/// The operation behind the breaker: an immediately ready `Ok` future.
async fn op(i: u64) -> Result<u64, ()> {
    Ok(black_box(i))
}

/// Fails 1 call in 100.
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

fn ours_timed_quanta() -> taskweave_breaker::Breaker {
    taskweave_breaker::Breaker::builder()
        .slow_call_duration(Duration::from_secs(1))
        .clock(taskweave_breaker::QuantaClock::new())
        .build()
        .expect("the settings are valid")
}

fn closed(c: &mut Criterion, tasks: u64) {
    let id = if tasks == 1 {
        "breaker/closed-1-task"
    } else {
        "breaker/closed-2-tasks"
    };
    let per_task = CALLS / tasks;
    let rt = multi_thread(2);
    let mut group = workload_group(c, id, CALLS);

    group.bench_function("baseline: direct call", |b| {
        iter_runs(b, || {
            run_tasks(&rt, tasks, |_| async move {
                for i in 0..per_task {
                    black_box(op(i).await).expect("op succeeds");
                }
            })
        });
    });

    group.bench_function("failsafe", |b| {
        iter_runs(b, || {
            let breaker = failsafe::Config::new().build();
            run_tasks(&rt, tasks, |_| {
                let breaker = breaker.clone();
                async move {
                    for i in 0..per_task {
                        black_box(breaker.call(op(i)).await).expect("op succeeds");
                    }
                }
            })
        });
    });

    for (name, make) in [
        (
            "taskweave: Breaker",
            ours as fn() -> taskweave_breaker::Breaker,
        ),
        ("taskweave: Breaker + slow-call timing", ours_timed),
        (
            "taskweave: Breaker + slow-call timing (QuantaClock)",
            ours_timed_quanta,
        ),
    ] {
        group.bench_function(name, |b| {
            iter_runs(b, || {
                let breaker = make();
                let elapsed = run_tasks(&rt, tasks, |_| {
                    let breaker = breaker.clone();
                    async move {
                        for i in 0..per_task {
                            black_box(breaker.call(|| op(i)).await).expect("op succeeds");
                        }
                    }
                });
                let m = breaker.metrics();
                assert_eq!(m.state, taskweave_breaker::State::Closed);
                // The window holds the last 100 calls, all successes.
                assert_eq!((m.buffered_calls, m.failed_calls), (100, 0));
                elapsed
            });
        });
    }
    group.finish();
    note_counted_successes(&rt, id, tasks, per_task);
}

/// Times 1M calls with 1% failures, direct and through our breaker (which never trips at a
/// 1% failure rate), and notes the difference per call: the cost of the counted-success path.
fn note_counted_successes(rt: &tokio::runtime::Runtime, id: &str, tasks: u64, per_task: u64) {
    let best_of_5 = |through_breaker: bool| {
        (0..5)
            .map(|_| {
                let breaker = ours();
                run_tasks(rt, tasks, |_| {
                    let breaker = breaker.clone();
                    async move {
                        for i in 0..per_task {
                            if through_breaker {
                                let _ = black_box(breaker.call(|| flaky(i)).await);
                            } else {
                                let _ = black_box(flaky(i).await);
                            }
                        }
                    }
                })
            })
            .min()
            .expect("five runs")
    };
    let direct = best_of_5(false);
    let ours = best_of_5(true);
    let added = (ours.as_nanos() as f64 - direct.as_nanos() as f64) / CALLS as f64;
    note(
        id,
        "taskweave: Breaker",
        &format!(
            "with 1 call in 100 failing (every success counted): +{added:.1} ns per call over \
             the direct call (best of 5 runs)"
        ),
    );
}

fn closed_1_task(c: &mut Criterion) {
    closed(c, 1);
}

fn closed_2_tasks(c: &mut Criterion) {
    closed(c, 2);
}

criterion_group!(benches, closed_1_task, closed_2_tasks);
criterion_main!(benches);
