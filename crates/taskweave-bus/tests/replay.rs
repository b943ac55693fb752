//! New subscriptions can receive the last messages of each matching subject first, with no
//! gap and no duplicate between replayed and live messages.

use taskweave_bus::{Bus, RecvError, SubscribeError, TryRecvError};

#[tokio::test]
async fn replays_the_last_n_of_each_matching_subject_in_publish_order() {
    let bus: Bus<String> = Bus::builder().capacity(8).retain_last(3).build().unwrap();
    for (subject, msg) in [
        ("prices.eu", "eu1"),
        ("prices.us", "us1"),
        ("prices.eu", "eu2"),
        ("stock.eu", "s1"),
        ("prices.eu", "eu3"),
        ("prices.us", "us2"),
        ("prices.eu", "eu4"),
    ] {
        bus.publish(subject, msg.to_owned()).await.unwrap();
    }
    let mut sub = bus.subscription("prices.*").replay(2).build().unwrap();
    bus.publish("prices.eu", "eu5".to_owned()).await.unwrap();
    let mut got = Vec::new();
    while let Ok(msg) = sub.try_recv() {
        got.push(msg);
    }
    assert_eq!(got, ["us1", "eu3", "us2", "eu4", "eu5"]);
}

#[tokio::test]
async fn replay_of_the_last_value_per_subject() {
    let bus: Bus<u32> = Bus::builder().retain_last(1).build().unwrap();
    for i in 0..5 {
        bus.publish("temp.kitchen", i).await.unwrap();
        bus.publish("temp.garage", 100 + i).await.unwrap();
    }
    let mut sub = bus.subscription("temp.>").replay(1).build().unwrap();
    assert_eq!(sub.recv().await, Ok(4));
    assert_eq!(sub.recv().await, Ok(104));
    assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
    // Without replay, a subscription starts with the next message.
    let mut live = bus.subscribe("temp.>").unwrap();
    assert_eq!(live.try_recv(), Err(TryRecvError::Empty));
}

#[tokio::test]
async fn replay_respects_the_filter_and_the_retention_depth() {
    let bus: Bus<u32> = Bus::builder().retain_last(4).build().unwrap();
    for i in 0..10 {
        bus.publish("n", i).await.unwrap();
    }
    let mut odd = bus
        .subscription("n")
        .filter(|n| n % 2 == 1)
        .replay(4)
        .build()
        .unwrap();
    assert_eq!(odd.recv().await, Ok(7));
    assert_eq!(odd.recv().await, Ok(9));
    assert_eq!(
        bus.subscription("n").replay(5).build().unwrap_err(),
        SubscribeError::ReplayExceedsRetention {
            requested: 5,
            retained: 4
        }
    );
    let plain: Bus<u32> = Bus::builder().build().unwrap();
    assert!(matches!(
        plain.subscription("n").replay(1).build(),
        Err(SubscribeError::ReplayExceedsRetention { retained: 0, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_gap_and_no_duplicate_while_publishing_concurrently() {
    const N: u64 = 20_000;
    let bus: Bus<u64> = Bus::builder()
        .capacity(N as usize)
        .retain_last(N as usize)
        .build()
        .unwrap();
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            for i in 0..N {
                bus.publish("seq", i).await.unwrap();
            }
        })
    };
    tokio::task::yield_now().await;
    let mut sub = bus.subscription("seq").replay(N as usize).build().unwrap();
    publisher.await.unwrap();
    bus.close();
    let mut expected = 0;
    loop {
        match sub.recv().await {
            Ok(v) => {
                assert_eq!(v, expected);
                expected += 1;
            }
            Err(RecvError::Closed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(expected, N);
}

#[tokio::test]
async fn forgetting_retained_subjects_bounds_memory() {
    let bus: Bus<u32> = Bus::builder().retain_last(2).build().unwrap();
    for order in 0..10 {
        bus.publish(&format!("order.{order}"), order).await.unwrap();
    }
    assert_eq!(bus.forget_retained("order.*").unwrap(), 10);
    let mut sub = bus.subscription("order.>").replay(2).build().unwrap();
    assert_eq!(sub.try_recv(), Err(TryRecvError::Empty));
}
