//! Invariant: whatever the phases and however tasks behave, the report accounts for every task
//! exactly once, with the outcome and shutdown duration that the phase rules predict.

use std::io;
use std::time::Duration;

use proptest::prelude::*;
use taskweave_shutdown::{AbortReason, Cause, Coordinator, Outcome};
use tokio::time::{Instant, sleep, sleep_until};

#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Stops this long after its token is cancelled.
    Stops(Duration),
    /// Ignores its token and ends at this instant after the start.
    EndsAt(Duration),
    /// Ignores its token and never ends.
    Ignores,
}

// A task ending at the very instant a grace period expires or a phase begins is a tie with no
// defined winner, so times are chosen never to coincide: grace periods and the trigger are
// whole seconds, `Stops` adds whole seconds + 500 ms, and `EndsAt` is whole seconds + 250 ms
// + the task's index in milliseconds (fractions no sum of the others can reach).
fn seconds_and(max: u64, millis: u64) -> impl Strategy<Value = Duration> {
    (0..max).prop_map(move |s| Duration::from_millis(s * 1000 + millis))
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        3 => seconds_and(25, 500).prop_map(Behaviour::Stops),
        2 => seconds_and(40, 250).prop_map(Behaviour::EndsAt),
        1 => Just(Behaviour::Ignores),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    /// Grace of the default phase, then of each declared phase, in whole seconds.
    graces: Vec<u64>,
    /// Each task's phase (index into `graces`) and behaviour.
    tasks: Vec<(usize, Behaviour)>,
    trigger_at: Duration,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    prop::collection::vec(1..20_u64, 1..=4).prop_flat_map(|graces| {
        let phases = graces.len();
        (
            Just(graces),
            prop::collection::vec((0..phases, behaviour()), 1..12),
            (1..10_u64).prop_map(Duration::from_secs),
        )
            .prop_map(|(graces, mut tasks, trigger_at)| {
                for (i, (_, b)) in tasks.iter_mut().enumerate() {
                    if let Behaviour::EndsAt(t) = b {
                        *t += Duration::from_millis(i as u64);
                    }
                }
                Scenario {
                    graces,
                    tasks,
                    trigger_at,
                }
            })
    })
}

/// What the phase rules predict for one task.
#[derive(Debug, PartialEq)]
enum Expected {
    CountedEarly,
    Line(Outcome, Option<Duration>),
}

/// Replays the rules: phases stop one after another; each ends when its last task has, or
/// when its grace period is over (its stragglers are then aborted).
fn predict(s: &Scenario) -> (Cause, Vec<Expected>, Duration) {
    let end = |b: Behaviour, began: Duration| match b {
        Behaviour::Stops(d) => Some(began + d),
        Behaviour::EndsAt(t) => Some(t),
        Behaviour::Ignores => None,
    };
    let early = |b: Behaviour| matches!(b, Behaviour::EndsAt(t) if t < s.trigger_at);
    if s.tasks.iter().all(|&(_, b)| early(b)) {
        return (
            Cause::AllTasksFinished,
            s.tasks.iter().map(|_| Expected::CountedEarly).collect(),
            Duration::ZERO,
        );
    }
    let mut expected: Vec<Option<Expected>> = s
        .tasks
        .iter()
        .map(|&(_, b)| early(b).then_some(Expected::CountedEarly))
        .collect();
    let mut began = s.trigger_at;
    for (phase, &grace) in s.graces.iter().enumerate() {
        let grace = Duration::from_secs(grace);
        let deadline = began + grace;
        let mut ended = began;
        for (i, &(p, b)) in s.tasks.iter().enumerate() {
            if p != phase || expected[i].is_some() {
                continue;
            }
            expected[i] = Some(match end(b, began) {
                Some(t) if t < began => Expected::Line(Outcome::Completed, None),
                Some(t) if t < deadline => {
                    ended = ended.max(t);
                    Expected::Line(Outcome::Completed, Some(t - began))
                }
                _ => {
                    ended = deadline;
                    Expected::Line(
                        Outcome::Aborted(AbortReason::GraceExpired { grace }),
                        Some(grace),
                    )
                }
            });
        }
        began = ended;
    }
    let expected = expected
        .into_iter()
        .map(|e| e.expect("every task is placed"))
        .collect();
    (Cause::Requested, expected, began - s.trigger_at)
}

async fn play(s: &Scenario) -> taskweave_shutdown::Report {
    let mut builder = Coordinator::builder()
        .signals(false)
        .grace(Duration::from_secs(s.graces[0]));
    for (i, &grace) in s.graces.iter().enumerate().skip(1) {
        builder = builder.phase(format!("p{i}"), Duration::from_secs(grace));
    }
    let coordinator = builder.build().unwrap();
    let start = Instant::now();
    for (i, &(phase, behaviour)) in s.tasks.iter().enumerate() {
        let group = if phase == 0 {
            coordinator.handle()
        } else {
            coordinator.group(&format!("p{phase}"))
        };
        group
            .spawn(format!("t{i}"), move |token| async move {
                match behaviour {
                    Behaviour::Stops(d) => {
                        token.cancelled().await;
                        sleep(d).await;
                    }
                    Behaviour::EndsAt(t) => sleep_until(start + t).await,
                    Behaviour::Ignores => std::future::pending().await,
                }
                Ok::<_, io::Error>(())
            })
            .unwrap();
    }
    let handle = coordinator.handle();
    let trigger_at = s.trigger_at;
    tokio::spawn(async move {
        sleep_until(start + trigger_at).await;
        handle.close();
    });
    coordinator.run().await
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_report_matches_the_phase_rules(s in scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let report = rt.block_on(play(&s));
        let (cause, expected, duration) = predict(&s);

        prop_assert_eq!(report.cause(), &cause);
        let early = expected.iter().filter(|e| **e == Expected::CountedEarly).count();
        prop_assert_eq!(report.completed_before_shutdown(), early as u64);
        prop_assert_eq!(report.tasks().len(), s.tasks.len() - early, "one line per task: {}", report);
        for (i, ((phase, _), e)) in s.tasks.iter().zip(&expected).enumerate() {
            let path = if *phase == 0 { format!("t{i}") } else { format!("p{phase}/t{i}") };
            let line = report.task(&path);
            match e {
                Expected::CountedEarly => prop_assert!(line.is_none(), "{} has a line", path),
                Expected::Line(outcome, took) => {
                    let line = line.expect("a line for every task alive at the trigger");
                    prop_assert_eq!(line.outcome(), outcome, "{}", path);
                    prop_assert_eq!(line.shutdown_duration(), *took, "{}", path);
                }
            }
        }
        if cause == Cause::Requested {
            prop_assert_eq!(report.duration(), duration);
        }
        let aborted = expected.iter().any(|e| matches!(e, Expected::Line(Outcome::Aborted(_), _)));
        prop_assert_eq!(report.is_clean(), !aborted);
    }
}
