//! Absurd sizes get typed errors, never a panic, an abort or an allocation in proportion to
//! them; and a refused subscription leaves the bus as it was.

use taskweave_bus::{
    Bus, ConfigError, LagPolicy, MAX_CAPACITY, MAX_RETAIN, MAX_SUBJECT_LEN, MAX_TOKENS,
    PublishError, SubjectError, SubscribeError,
};

#[test]
fn zero_sizes_are_typed_errors() {
    assert_eq!(
        Bus::<u64>::builder().capacity(0).build().unwrap_err(),
        ConfigError::ZeroCapacity
    );
    assert_eq!(
        Bus::<u64>::builder().retain_last(0).build().unwrap_err(),
        ConfigError::ZeroRetention
    );
    // `Bus::new` cannot fail: a zero default capacity is refused at subscribe...
    let bus: Bus<u64> = Bus::new(0);
    assert_eq!(
        bus.subscribe("x").unwrap_err(),
        SubscribeError::ZeroCapacity
    );
    // ...unless the subscription chooses its own, which is checked the same way.
    assert_eq!(
        bus.subscription("x").capacity(0).build().unwrap_err(),
        SubscribeError::ZeroCapacity
    );
    assert!(bus.subscription("x").capacity(1).build().is_ok());
    assert_eq!(bus.metrics().subscriptions, 0);
}

#[test]
fn the_builder_refuses_sizes_above_their_limits() {
    assert_eq!(
        Bus::<u64>::builder()
            .capacity(usize::MAX)
            .build()
            .unwrap_err(),
        ConfigError::CapacityTooLarge {
            requested: usize::MAX,
            max: MAX_CAPACITY
        }
    );
    assert_eq!(
        Bus::<u64>::builder()
            .retain_last(usize::MAX)
            .build()
            .unwrap_err(),
        ConfigError::RetentionTooLarge {
            requested: usize::MAX,
            max: MAX_RETAIN
        }
    );
    assert!(
        Bus::<u64>::builder()
            .capacity(MAX_CAPACITY)
            .retain_last(MAX_RETAIN)
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn the_largest_retention_costs_only_what_is_retained() {
    let bus: Bus<u64> = Bus::builder().retain_last(MAX_RETAIN).build().unwrap();
    for i in 0..100 {
        bus.publish(&format!("s.{i}"), i).await.unwrap();
    }
    let mut sub = bus.subscription("s.*").replay(MAX_RETAIN).build().unwrap();
    for i in 0..100 {
        assert_eq!(sub.recv().await, Ok(i));
    }
}

#[test]
fn a_refused_capacity_leaves_the_registry_intact() {
    // `Bus::new` cannot fail: its capacity is checked when a subscription needs a buffer.
    let huge: Bus<u64> = Bus::new(usize::MAX);
    let too_large = SubscribeError::CapacityTooLarge {
        requested: usize::MAX,
        max: MAX_CAPACITY,
    };
    for _ in 0..2 {
        assert_eq!(huge.subscribe("x").unwrap_err(), too_large);
    }
    assert_eq!(huge.subscription_count(), 0);

    let bus: Bus<u64> = Bus::new(64);
    for policy in [
        LagPolicy::Block,
        LagPolicy::DropNewest,
        LagPolicy::DropOldest,
    ] {
        for _ in 0..2 {
            let refused = bus
                .subscription("x")
                .capacity(usize::MAX)
                .lag_policy(policy)
                .build();
            assert_eq!(refused.unwrap_err(), too_large);
        }
    }
    assert_eq!(bus.subscription_count(), 0);
    assert_eq!(bus.subscriber_count("x").unwrap(), 0);
    // The same pattern subscribes, routes and unsubscribes normally afterwards.
    let mut sub = bus
        .subscription("x")
        .lag_policy(LagPolicy::Block)
        .build()
        .unwrap();
    let largest = bus.subscription("x").capacity(MAX_CAPACITY).build();
    assert!(largest.is_ok());
    drop(largest);
    assert_eq!(bus.try_publish("x", 1).unwrap().delivered(), 1);
    assert_eq!(sub.try_recv(), Ok(1));
    drop(sub);
    assert_eq!(bus.subscription_count(), 0);
}

#[test]
fn subjects_and_patterns_with_too_many_tokens_are_refused_without_recursion() {
    let bus: Bus<u64> = Bus::new(64);
    // The reviewer's sizes: longer than the byte limit too, which is checked first.
    let pattern = vec!["a"; 10_000].join(".");
    let subject = vec!["a"; 20_000].join(".");
    assert!(matches!(
        bus.subscribe(&pattern),
        Err(SubscribeError::InvalidPattern(SubjectError::TooLong { .. }))
    ));
    assert!(matches!(
        bus.try_publish(&subject, 7),
        Err(PublishError::InvalidSubject(
            7,
            SubjectError::TooLong { .. }
        ))
    ));
    // Within the byte limit, over the token limit.
    let pattern = vec!["a"; MAX_TOKENS + 1].join(".");
    let wide = vec!["*"; 2 * MAX_TOKENS].join(".");
    let subject = vec!["b"; 2_000].join(".");
    let too_many = SubjectError::TooManyTokens { max: MAX_TOKENS };
    for pattern in [&pattern, &wide] {
        assert_eq!(
            bus.subscribe(pattern).unwrap_err(),
            SubscribeError::InvalidPattern(too_many.clone())
        );
    }
    match bus.try_publish(&subject, 7) {
        Err(PublishError::InvalidSubject(7, e)) => assert_eq!(e, too_many),
        other => panic!("{other:?}"),
    }
    assert_eq!(bus.subscriber_count(&subject), Err(too_many.clone()));
    assert_eq!(bus.forget_retained(&pattern), Err(too_many));
}

#[test]
fn the_deepest_patterns_allowed_route_and_unsubscribe() {
    let bus: Bus<u64> = Bus::new(64);
    let deepest = vec!["a"; MAX_TOKENS].join(".");
    let stars = vec!["*"; MAX_TOKENS].join(".");
    let prefix_rest = format!("{}.>", vec!["a"; MAX_TOKENS - 1].join("."));
    let mut subs: Vec<_> = [&deepest, &stars, &prefix_rest]
        .into_iter()
        .map(|p| bus.subscribe(p).unwrap())
        .collect();
    assert_eq!(bus.try_publish(&deepest, 1).unwrap().delivered(), 3);
    for sub in &mut subs {
        assert_eq!(sub.try_recv(), Ok(1));
    }
    drop(subs);
    assert_eq!(bus.subscriber_count(&deepest).unwrap(), 0);
}

#[test]
fn subjects_longer_than_the_limit_are_refused() {
    let bus: Bus<u64> = Bus::new(64);
    let long = "a".repeat(MAX_SUBJECT_LEN + 1);
    let too_long = SubjectError::TooLong {
        len: MAX_SUBJECT_LEN + 1,
        max: MAX_SUBJECT_LEN,
    };
    assert_eq!(
        bus.subscribe(&long).unwrap_err(),
        SubscribeError::InvalidPattern(too_long.clone())
    );
    match bus.try_publish(&long, 7) {
        Err(PublishError::InvalidSubject(7, e)) => assert_eq!(e, too_long),
        other => panic!("{other:?}"),
    }
    let mut longest = bus.subscribe(&long[1..]).unwrap();
    assert_eq!(bus.try_publish(&long[1..], 8).unwrap().delivered(), 1);
    assert_eq!(longest.try_recv(), Ok(8));
}

#[test]
fn a_panicking_filter_or_clone_leaves_the_bus_usable() {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    #[derive(Debug, PartialEq)]
    struct Touchy(u64);
    impl Clone for Touchy {
        fn clone(&self) -> Self {
            assert!(self.0 != 13, "cloning 13");
            Touchy(self.0)
        }
    }

    let bus: Bus<Touchy> = Bus::builder().retain_last(4).build().unwrap();
    let mut plain = bus.subscribe("t").unwrap();
    let mut picky = bus
        .subscription("t")
        .filter(|m: &Touchy| {
            assert!(m.0 != 7, "filtering 7");
            true
        })
        .build()
        .unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| bus.try_publish("t", Touchy(7)))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| bus.try_publish("t", Touchy(13)))).is_err());
    assert_eq!(bus.try_publish("t", Touchy(2)).unwrap().delivered(), 2);
    assert_eq!(plain.try_recv(), Ok(Touchy(2)));
    assert_eq!(picky.try_recv(), Ok(Touchy(2)));
    // A replay that panics in the filter subscribes nobody.
    let replaying = catch_unwind(AssertUnwindSafe(|| {
        bus.subscription("t")
            .filter(|_: &Touchy| panic!("filter"))
            .replay(1)
            .build()
    }));
    assert!(replaying.is_err());
    assert_eq!(bus.subscription_count(), 2);
    assert_eq!(bus.try_publish("t", Touchy(1)).unwrap().delivered(), 2);
    assert_eq!(plain.try_recv(), Ok(Touchy(1)));
    assert_eq!(picky.try_recv(), Ok(Touchy(1)));
    let mut late = bus.subscription("t").replay(1).build().unwrap();
    assert_eq!(late.try_recv(), Ok(Touchy(1)));
}
