//! The futures that wait (a bridge's drain, a worker's drain, a job's submit, an imported
//! message's recv) finish under a waker that changes on every poll, and a runtime dropped
//! while they wait neither hangs nor panics.

mod common;

use common::{connect, importer, server, within};
use taskweave_bus::{Bus, LagPolicy};
use taskweave_nats::{Bridge, Json, WorkQueue};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_futures_finish_under_waker_churn() {
    let server = server(true);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(256), Bus::new(256));
    let mut received = bus_b
        .subscription("ticks")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .name("churn")
        .export("ticks")
        .build()
        .await
        .unwrap();
    let importer = importer(&conn_b, &bus_b, "ticks").await;
    for n in 1..=100u64 {
        bus_a.publish("ticks", n).await.unwrap();
        let (got, _) = within(FreshWakers::new(received.recv())).await;
        assert_eq!(got.unwrap(), n);
    }
    let ((), _) = within(FreshWakers::new(exporter.drain())).await;
    let ((), _) = within(FreshWakers::new(importer.drain())).await;
    assert_eq!(exporter.metrics().published, 100);

    let queue = WorkQueue::<u64, _>::builder(&conn_a, Json, "CHURN", "churn.jobs")
        .build()
        .await
        .unwrap();
    for job in 0..20u64 {
        let (submitted, _) = within(FreshWakers::new(queue.submit(&job))).await;
        submitted.unwrap();
    }
    let (done_tx, mut done) = tokio::sync::mpsc::channel(32);
    let worker = queue.run(move |job: u64| {
        let done_tx = done_tx.clone();
        async move {
            done_tx.send(job).await.expect("the test is listening");
            Ok::<(), std::io::Error>(())
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 20 {
        let (job, _) = within(FreshWakers::new(done.recv())).await;
        seen.push(job.expect("the worker runs"));
    }
    let ((), _) = within(FreshWakers::new(worker.drain())).await;
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_runtime_dropped_while_bridges_and_workers_wait_neither_hangs_nor_panics() {
    finishes_within(HANG_LIMIT, "nats runtime dropped mid-wait", || {
        let server = server(true);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (bridge, worker) = rt.block_on(async {
            let conn = connect(&server).await;
            let bus: Bus<u64> = Bus::new(64);
            let mut sub = bus.subscribe("ticks").unwrap();
            let bridge = importer(&conn, &bus, "ticks").await;
            // A reader that waits for a message that never comes.
            tokio::spawn(async move {
                let _ = sub.recv().await;
            });
            let queue = WorkQueue::<u64, _>::builder(&conn, Json, "IDLE", "idle.jobs")
                .build()
                .await
                .unwrap();
            // A worker with nothing to do: it waits on its pull.
            let worker = queue.run(|_job: u64| async { Ok::<(), std::io::Error>(()) });
            (bridge, worker)
        });
        drop(rt);
        // Dropping the handles without a runtime is a close, not a panic.
        drop(bridge);
        drop(worker);
    });
}
