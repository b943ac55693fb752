//! A JetStream work queue shared by two replicas: each job done once; failures retried with
//! a delay and dead-lettered after `max_deliver`; drain finishes what is in flight.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LIMIT, connect, eventually, server, within};
use futures_util::StreamExt;
use taskweave_nats::{Json, WorkQueue};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_jobs_each_done_once() {
    let server = server(true);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let queue_a = WorkQueue::<u64, _>::builder(&conn_a, Json, "WORK", "work.jobs")
        .max_in_flight(8)
        .build()
        .await
        .unwrap();
    let queue_b = WorkQueue::<u64, _>::builder(&conn_b, Json, "WORK", "work.jobs")
        .max_in_flight(8)
        .build()
        .await
        .unwrap();
    const N: u64 = 200;
    for i in 0..N {
        queue_a.submit(&i).await.unwrap();
    }
    let done: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let peak: Arc<Mutex<(usize, usize)>> = Arc::default();
    let worker = |queue: &WorkQueue<u64, Json>| {
        let done = Arc::clone(&done);
        let peak = Arc::clone(&peak);
        queue.run(move |job: u64| {
            let done = Arc::clone(&done);
            let peak = Arc::clone(&peak);
            async move {
                {
                    let mut p = peak.lock().unwrap();
                    p.0 += 1;
                    p.1 = p.1.max(p.0);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                *done.lock().unwrap().entry(job).or_default() += 1;
                peak.lock().unwrap().0 -= 1;
                Ok::<(), std::io::Error>(())
            }
        })
    };
    let (worker_a, worker_b) = (worker(&queue_a), worker(&queue_b));
    eventually(LIMIT, "all jobs done", || {
        done.lock().unwrap().len() == N as usize
    })
    .await;
    within(worker_a.drain()).await;
    within(worker_b.drain()).await;
    let done = done.lock().unwrap();
    assert!(done.values().all(|&n| n == 1), "each job once");
    let (a, b) = (worker_a.metrics(), worker_b.metrics());
    assert_eq!(a.succeeded + b.succeeded, N);
    assert!(
        a.succeeded > 0 && b.succeeded > 0,
        "both replicas worked: {a:?} {b:?}"
    );
    assert!(
        peak.lock().unwrap().1 <= 16,
        "in flight bounded per replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_delay_then_dead_lettered() {
    let server = server(true);
    let conn = connect(&server).await;
    let mut dead = conn.client().subscribe("dead.flaky.jobs").await.unwrap();
    conn.round_trip().await.unwrap();
    let queue = WorkQueue::<u64, _>::builder(&conn, Json, "FLAKY", "flaky.jobs")
        .max_deliver(3)
        .retry_backoff(
            taskweave_backoff::Backoff::constant(Duration::from_millis(20))
                .max_attempts(5)
                .build()
                .unwrap(),
        )
        .build()
        .await
        .unwrap();
    let attempts: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let seen = Arc::clone(&attempts);
    let worker = queue.run(move |job: u64| {
        let seen = Arc::clone(&seen);
        async move {
            let mut seen = seen.lock().unwrap();
            let n = seen.entry(job).or_default();
            *n += 1;
            // Job 1 always fails; job 2 fails once.
            match (job, *n) {
                (1, _) | (2, 1) => Err(format!("job {job} failed")),
                _ => Ok(()),
            }
        }
    });
    for job in [1u64, 2, 3] {
        queue.submit(&job).await.unwrap();
    }
    let letter = tokio::time::timeout(LIMIT, dead.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&letter.payload[..], b"1");
    let headers = letter.headers.unwrap();
    assert_eq!(headers.get("Taskweave-Deliveries").unwrap().as_str(), "3");
    assert!(
        headers
            .get("Taskweave-Error")
            .unwrap()
            .as_str()
            .contains("job 1 failed")
    );
    eventually(LIMIT, "jobs 2 and 3 done", || {
        worker.metrics().succeeded == 2
    })
    .await;
    let m = worker.metrics();
    assert_eq!(m.dead_lettered, 1);
    assert_eq!(
        m.failed, 3,
        "job 1 failed twice before the dead letter, job 2 once"
    );
    assert_eq!(m.redeliveries, 3);
    assert_eq!(attempts.lock().unwrap()[&1], 3);
    assert!(worker.shutdown(LIMIT).await.is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_finishes_jobs_in_flight_and_acks_them() {
    let server = server(true);
    let conn = connect(&server).await;
    let queue = WorkQueue::<u64, _>::builder(&conn, Json, "SLOW", "slow.jobs")
        .max_in_flight(4)
        .build()
        .await
        .unwrap();
    for job in 0..20u64 {
        queue.submit(&job).await.unwrap();
    }
    let (started_tx, mut started) = tokio::sync::mpsc::channel(32);
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = Arc::clone(&release);
    let worker = queue.run(move |job: u64| {
        let started_tx = started_tx.clone();
        let gate = Arc::clone(&gate);
        async move {
            started_tx.send(job).await.unwrap();
            gate.acquire().await.unwrap().forget();
            Ok::<(), std::io::Error>(())
        }
    });
    for _ in 0..4 {
        within(started.recv()).await.unwrap();
    }
    assert_eq!(worker.metrics().in_flight, 4);
    worker.close();
    release.add_permits(4);
    tokio::time::timeout(LIMIT, worker.drain())
        .await
        .expect("drain ends");
    let m = worker.metrics();
    assert_eq!((m.succeeded, m.in_flight), (4, 0), "{m:?}");
    // The acknowledged jobs are gone from the work-queue stream; the rest wait.
    let mut js = async_nats::jetstream::new(conn.client().clone());
    js.set_timeout(LIMIT);
    let info = js
        .get_stream("SLOW")
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap();
    assert_eq!(info.state.messages, 16);
}
