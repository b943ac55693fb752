//! Failures under `OnFailure::Continue` while the service runs keep a bounded number of lines.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Semaphore;

use taskweave_shutdown::{Builder, Cause, Coordinator, OnFailure};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tolerated_failures_keep_a_bounded_number_of_lines() {
    let coordinator = Coordinator::builder()
        .signals(false)
        .phase("requests", Duration::from_secs(5))
        .build()
        .unwrap();
    let requests = coordinator.group("requests");
    for i in 0..5_000 {
        requests
            .task(format!("req-{i}"))
            .on_failure(OnFailure::Continue)
            .spawn(|_token| async move { Err::<(), _>(io::Error::other("bad request")) })
            .unwrap();
    }
    let report = coordinator.run().await;
    assert_eq!(*report.cause(), Cause::AllTasksFinished);
    assert_eq!(
        report.tasks().len(),
        Builder::DEFAULT_MAX_FAILURE_RECORDS,
        "failure lines kept"
    );
    assert_eq!(report.failures_not_kept(), 4_000);
    assert!(report.tasks().iter().all(|t| t.outcome().is_failure()));
    assert!(report.is_clean(), "tolerated failures keep the exit clean");
    assert!(
        report
            .to_string()
            .contains("5000 failed (4000 tolerated, counted, not listed), 0 aborted"),
        "{report}"
    );
}

/// A task future that adds a permit to `done` when the coordinator drops it, which is after
/// the task's end has been filed.
struct Tracked<F> {
    future: Pin<Box<F>>,
    done: Arc<Semaphore>,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.done.add_permits(1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_is_configurable_and_lines_of_live_tasks_and_causes_are_always_kept() {
    let coordinator = Coordinator::builder()
        .signals(false)
        .max_failure_records(10)
        .build()
        .unwrap();
    let done = Arc::new(Semaphore::new(0));
    for i in 0..200 {
        let done = Arc::clone(&done);
        coordinator
            .task(format!("req-{i}"))
            .on_failure(OnFailure::Continue)
            .spawn(move |_token| Tracked {
                future: Box::pin(async move {
                    if i % 2 == 0 {
                        panic!("request {i} panicked");
                    }
                    Err::<(), _>(io::Error::other("bad request"))
                }),
                done,
            })
            .unwrap();
    }
    let _ = done.acquire_many(200).await.unwrap();
    assert!(!coordinator.is_closed());
    // Now a failure under the default policy ends the service; 50 tasks still running then
    // each keep their line too, failures or not.
    for i in 0..50 {
        coordinator
            .spawn(format!("conn-{i}"), |token| async move {
                token.cancelled().await;
                Err::<(), _>(io::Error::other("closed mid-request"))
            })
            .unwrap();
    }
    coordinator
        .spawn("db", |_token| async move {
            Err::<(), _>(io::Error::other("lost the database"))
        })
        .unwrap();

    let report = coordinator.run().await;

    assert_eq!(*report.cause(), Cause::TaskFailed { task: "db".into() });
    assert_eq!(report.failures_not_kept(), 190);
    let requests = report
        .tasks()
        .iter()
        .filter(|t| t.name().starts_with("req-"))
        .count();
    assert_eq!(requests, 10);
    assert!(report.task("db").unwrap().outcome().is_failure());
    for i in 0..50 {
        assert!(report.task(&format!("conn-{i}")).is_some(), "conn-{i}");
    }
    assert_eq!(report.tasks().len(), 10 + 50 + 1);
}
