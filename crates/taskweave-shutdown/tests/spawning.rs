//! Spawning while running (from outside and from inside tasks) and refusals once shutdown began.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_shutdown::{Cause, Coordinator, Outcome, SpawnErrorKind};
use tokio::time::sleep;

fn coordinator() -> Coordinator {
    Coordinator::builder()
        .signals(false)
        .phase("workers", Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn tasks_spawn_tasks_while_running_and_all_are_waited_for() {
    let coordinator = coordinator();
    let workers = coordinator.group("workers");
    let spawner = workers.clone();
    coordinator
        .spawn("acceptor", move |token| async move {
            for i in 0..3 {
                sleep(Duration::from_secs(1)).await;
                spawner
                    .spawn(format!("conn-{i}"), |token| async move {
                        token.cancelled().await;
                        sleep(Duration::from_millis(500)).await; // drain
                        Ok::<_, io::Error>(())
                    })
                    .unwrap();
            }
            token.cancelled().await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    let handle = coordinator.handle();
    tokio::spawn(async move {
        sleep(Duration::from_secs(5)).await;
        handle.close();
    });

    let report = coordinator.run().await;

    assert!(report.is_clean(), "{report}");
    for i in 0..3 {
        let conn = report.task(&format!("workers/conn-{i}")).unwrap();
        assert_eq!(*conn.outcome(), Outcome::Completed);
        assert_eq!(conn.shutdown_duration(), Some(Duration::from_millis(500)));
    }
    assert_eq!(report.tasks().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_spawn_after_shutdown_began_is_refused_with_an_error() {
    let coordinator = coordinator();
    let workers = coordinator.group("workers");
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&refusals);
    let inner = workers.clone();
    // A task that tries to start more work while shutting down, as a careless drain loop would.
    workers
        .spawn("dispatcher", move |token| async move {
            token.cancelled().await;
            let refused = inner.spawn("late-job", |_token| async move { Ok::<_, io::Error>(()) });
            seen.lock().unwrap().push(refused);
            Ok::<_, io::Error>(())
        })
        .unwrap();

    coordinator.close();
    assert!(coordinator.is_closed());
    // Refused from outside, right after the trigger, before run() even started.
    let mut called = false;
    let err = workers
        .spawn("too-late", |_token| {
            called = true;
            async move { Ok::<_, io::Error>(()) }
        })
        .unwrap_err();
    assert!(!called, "a refused task's function is not called");
    assert_eq!(err.kind(), SpawnErrorKind::Closed);
    assert!(err.is_closed());
    assert_eq!(err.task(), "workers/too-late");
    assert!(err.to_string().contains("shutdown has begun"), "{err}");

    let report = coordinator.run().await;

    let refusals = refusals.lock().unwrap();
    assert_eq!(refusals.len(), 1);
    let refused = refusals[0].as_ref().unwrap_err();
    assert_eq!(refused.task(), "workers/late-job");
    assert!(refused.is_closed());
    assert!(report.task("workers/late-job").is_none());
    assert_eq!(
        *report.task("workers/dispatcher").unwrap().outcome(),
        Outcome::Completed
    );
    assert_eq!(*report.cause(), Cause::Requested);
}

#[tokio::test(start_paused = true)]
async fn spawns_are_refused_after_run_returned() {
    let coordinator = coordinator();
    let handle = coordinator.handle();
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::AllTasksFinished);
    let err = handle
        .spawn("orphan", |_token| async move { Ok::<_, io::Error>(()) })
        .unwrap_err();
    assert!(err.is_closed());
}

#[test]
fn spawning_outside_a_runtime_is_an_error_not_a_panic() {
    let coordinator = coordinator();
    let err = coordinator
        .group("workers")
        .spawn("early", |_token| async move { Ok::<_, io::Error>(()) })
        .unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NoRuntime);
    assert_eq!(err.task(), "workers/early");
    assert!(err.to_string().contains("no Tokio runtime"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn dropping_run_aborts_the_tasks() {
    let coordinator = coordinator();
    let dropped = Arc::new(Mutex::new(false));
    struct SetOnDrop(Arc<Mutex<bool>>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = true;
        }
    }
    let flag = SetOnDrop(Arc::clone(&dropped));
    coordinator
        .spawn("forever", move |_token| async move {
            let _flag = flag;
            std::future::pending::<Result<(), io::Error>>().await
        })
        .unwrap();
    let run = coordinator.run();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), run)
            .await
            .is_err()
    );
    // The abort is carried out by the runtime at the task's next poll.
    tokio::task::yield_now().await;
    assert!(*dropped.lock().unwrap());
}

#[tokio::test(start_paused = true)]
async fn groups_with_invalid_names_refuse_to_spawn() {
    let coordinator = coordinator();
    let called = Arc::new(Mutex::new(0));
    let valid = coordinator.group("workers").group("parsers");
    let invalid = [
        coordinator.group(""),
        coordinator.group("a/b"),
        coordinator.group("workers").group(""),
        coordinator.group("workers").group("x/y"),
        // Nested in an invalid group: invalid too, however good its own name.
        coordinator.group("").group("fine"),
    ];
    for group in &invalid {
        let counter = Arc::clone(&called);
        let error = group
            .spawn("task", move |_| async move {
                *counter.lock().unwrap() += 1;
                Ok::<_, io::Error>(())
            })
            .unwrap_err();
        assert_eq!(error.kind(), SpawnErrorKind::InvalidGroupName);
        assert!(
            error
                .to_string()
                .contains("empty name or one containing `/`")
        );
    }
    assert_eq!(*called.lock().unwrap(), 0, "refused tasks are never called");
    // An empty name does not make a group act like the root: its child is not a top-level
    // group, so it does not take the phase of its name.
    assert_eq!(coordinator.group("").group("workers").phase(), None);
    valid
        .spawn("task", |token| async move {
            token.cancelled().await;
            Ok::<_, io::Error>(())
        })
        .unwrap();
    coordinator.close();
    let report = coordinator.run().await;
    assert_eq!(report.tasks().len(), 1);
    assert_eq!(report.tasks()[0].group(), "workers/parsers");
}

#[tokio::test(start_paused = true)]
async fn tasks_with_invalid_names_are_refused() {
    let coordinator = coordinator();
    let called = Arc::new(Mutex::new(0));
    for (group, name) in [
        (coordinator.handle(), ""),
        (coordinator.handle(), "a/b"),
        (coordinator.group("workers"), ""),
        (coordinator.group("workers"), "x/y"),
    ] {
        let counter = Arc::clone(&called);
        let refused = group.spawn(name, move |_| async move {
            *counter.lock().unwrap() += 1;
            Ok::<_, io::Error>(())
        });
        let error = refused.expect_err("an invalid task name was accepted");
        assert_eq!(error.kind(), SpawnErrorKind::InvalidTaskName, "{name:?}");
        assert!(
            error
                .to_string()
                .contains("its name is empty or contains `/`")
        );
    }
    assert_eq!(*called.lock().unwrap(), 0, "refused tasks are never called");
}

#[tokio::test(start_paused = true)]
async fn a_root_task_cannot_pose_as_a_task_of_a_group() {
    let coordinator = coordinator();
    let polite = |token: tokio_util::sync::CancellationToken| async move {
        token.cancelled().await;
        Ok::<_, io::Error>(())
    };
    coordinator.group("a").spawn("b", polite).unwrap();
    let impostor = coordinator.spawn("a/b", polite).unwrap_err();
    assert_eq!(impostor.kind(), SpawnErrorKind::InvalidTaskName);
    assert_eq!(impostor.task(), "a/b");
    coordinator.close();
    let report = coordinator.run().await;
    let lines: Vec<_> = report.tasks().iter().map(|t| t.path()).collect();
    assert_eq!(lines, ["a/b"]);
    assert_eq!(report.task("a/b").unwrap().group(), "a");
}
