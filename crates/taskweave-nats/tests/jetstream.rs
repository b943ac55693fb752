//! JetStream is at least once and durable: a server restart loses and duplicates nothing,
//! and a durable consumer resumes where it stopped.

mod common;

use common::{LIMIT, connect, eventually, server, within};
use taskweave_bus::{Bus, LagPolicy, Subscription};
use taskweave_nats::{Bridge, Json, Replay};

async fn take(sub: &mut Subscription<u64>, n: usize) -> Vec<u64> {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let next = tokio::time::timeout(LIMIT, sub.recv()).await;
        got.push(next.expect("message within the limit").expect("message"));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_stream_loses_and_duplicates_nothing() {
    let mut server = server(true);
    let (conn_a, conn_b) = (connect(&server).await, connect(&server).await);
    let (bus_a, bus_b): (Bus<u64>, Bus<u64>) = (Bus::new(1024), Bus::new(1024));
    let mut received = bus_b
        .subscription("events.>")
        .lag_policy(LagPolicy::Block)
        .capacity(4096)
        .build()
        .unwrap();
    let exporter = Bridge::builder(&conn_a, &bus_a, Json)
        .name("a")
        .stream("EVENTS")
        .export_durable("events.>")
        .build()
        .await
        .unwrap();
    let importer = Bridge::builder(&conn_b, &bus_b, Json)
        .name("b")
        .stream("EVENTS")
        .import_durable("events.>", "b", Replay::All)
        .build()
        .await
        .unwrap();

    const N: u64 = 300;
    let publisher = {
        let bus = bus_a.clone();
        tokio::spawn(async move {
            for i in 1..=N {
                bus.publish("events.tick", i).await.unwrap();
            }
        })
    };
    eventually(LIMIT, "a third stored", || {
        exporter.metrics().published >= N / 3
    })
    .await;
    server.kill();
    eventually(LIMIT, "disconnect noticed", || !conn_a.is_connected()).await;
    server.restart().unwrap();
    publisher.await.unwrap();

    let got = take(&mut received, N as usize).await;
    assert_eq!(
        got,
        (1..=N).collect::<Vec<_>>(),
        "every message once, in order"
    );
    within(exporter.drain()).await;
    within(importer.drain()).await;
    assert!(
        received.try_recv().is_err(),
        "no duplicate after the last one"
    );
    let (e, i) = (exporter.metrics(), importer.metrics());
    assert_eq!(e.published, N);
    assert_eq!(i.imported, N);
    assert_eq!(i.gaps, 0);
    // A killed server may restart with consumer state older than the last acks, and
    // redeliver: the importer recognises those by their sequence, skips and counts them.
    assert_eq!(i.imported + i.refused, N, "{i:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_consumer_resumes_where_it_stopped() {
    let server = server(true);
    let conn = connect(&server).await;
    let bus_a: Bus<u64> = Bus::new(1024);
    let exporter = Bridge::builder(&conn, &bus_a, Json)
        .stream("JOBS")
        .export_durable("jobs.>")
        .build()
        .await
        .unwrap();
    for i in 1..=10 {
        bus_a.publish("jobs.created", i).await.unwrap();
    }
    eventually(LIMIT, "stored", || exporter.metrics().published == 10).await;

    // The importer replica runs, takes the first ten, and is stopped.
    {
        let bus_b: Bus<u64> = Bus::new(1024);
        let mut sub = bus_b
            .subscription("jobs.>")
            .lag_policy(LagPolicy::Block)
            .build()
            .unwrap();
        let importer = Bridge::builder(&connect(&server).await, &bus_b, Json)
            .stream("JOBS")
            .import_durable("jobs.>", "resumer", Replay::All)
            .build()
            .await
            .unwrap();
        assert_eq!(take(&mut sub, 10).await, (1..=10).collect::<Vec<_>>());
        within(importer.drain()).await;
    }
    for i in 11..=15 {
        bus_a.publish("jobs.created", i).await.unwrap();
    }
    eventually(LIMIT, "stored", || exporter.metrics().published == 15).await;
    // A new process with the same consumer name continues at 11.
    let bus_c: Bus<u64> = Bus::new(1024);
    let mut sub = bus_c
        .subscription("jobs.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let importer = Bridge::builder(&connect(&server).await, &bus_c, Json)
        .stream("JOBS")
        .import_durable("jobs.>", "resumer", Replay::All)
        .build()
        .await
        .unwrap();
    assert_eq!(take(&mut sub, 5).await, (11..=15).collect::<Vec<_>>());

    // Replay of the last N maps to a start sequence.
    let bus_d: Bus<u64> = Bus::new(1024);
    let mut last = bus_d
        .subscription("jobs.>")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let replayer = Bridge::builder(&connect(&server).await, &bus_d, Json)
        .stream("JOBS")
        .import_durable("jobs.>", "last-three", Replay::LastN(3))
        .build()
        .await
        .unwrap();
    assert_eq!(take(&mut last, 3).await, vec![13, 14, 15]);
    // Replay since a time: nothing was stored after now.
    let bus_e: Bus<u64> = Bus::new(1024);
    let mut since = bus_e.subscribe("jobs.>").unwrap();
    let later = Bridge::builder(&connect(&server).await, &bus_e, Json)
        .stream("JOBS")
        .import_durable(
            "jobs.>",
            "since-now",
            Replay::Since(std::time::SystemTime::now()),
        )
        .build()
        .await
        .unwrap();
    bus_a.publish("jobs.created", 16).await.unwrap();
    assert_eq!(
        tokio::time::timeout(LIMIT, since.recv())
            .await
            .unwrap()
            .unwrap(),
        16
    );
    for bridge in [exporter, importer, replayer, later] {
        assert!(bridge.shutdown(LIMIT).await.is_clean());
    }
}
