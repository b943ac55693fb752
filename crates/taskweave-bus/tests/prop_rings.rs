//! Rings agree with a reference model: for random subscriptions (policies, capacities, shared
//! or not) and random interleavings of `try_publish` and `try_recv`, every subscription sees
//! exactly the messages, lag reports and empties the model predicts. Rings wrap many times
//! over small capacities, so the slot index each reader steps along, the room check that lets
//! blocking rings go without locks, and the resume point after an overrun are all exercised.

use proptest::prelude::*;
use taskweave_bus::{Bus, LagPolicy, Subscription, TryRecvError};

/// What one subscription asks for. Two with the same pattern, policy and capacity share a ring
/// (drop-newest ones never do).
#[derive(Debug, Clone)]
struct Spec {
    wildcard: bool,
    policy: LagPolicy,
    capacity: usize,
}

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Recv(usize),
}

/// A ring as the model sees it: how many messages were written, and the values.
#[derive(Debug, Default)]
struct ModelRing {
    written: Vec<u64>,
}

#[derive(Debug)]
struct ModelSub {
    ring: usize,
    policy: LagPolicy,
    capacity: u64,
    cursor: u64,
    /// Refusals not yet reported: (the sequence number they precede, how many).
    gaps: Vec<(u64, u64)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::bool::ANY,
        prop_oneof![
            Just(LagPolicy::Block),
            Just(LagPolicy::DropNewest),
            Just(LagPolicy::DropOldest)
        ],
        1..5usize,
    )
        .prop_map(|(wildcard, policy, capacity)| Spec {
            wildcard,
            policy,
            capacity,
        })
}

fn ops(subs: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            2 => Just(Op::Publish),
            3 => (0..subs).prop_map(Op::Recv),
        ],
        1..200,
    )
}

fn scenario() -> impl Strategy<Value = (Vec<Spec>, Vec<Op>)> {
    prop::collection::vec(spec(), 1..5).prop_flat_map(|specs| {
        let n = specs.len();
        (Just(specs), ops(n))
    })
}

/// Builds the model's rings: subscriptions share one when the bus would let them.
fn model(specs: &[Spec]) -> (Vec<ModelRing>, Vec<ModelSub>) {
    let mut rings = Vec::new();
    let mut keys: Vec<(bool, LagPolicy, usize)> = Vec::new();
    let mut subs = Vec::new();
    for spec in specs {
        let key = (spec.wildcard, spec.policy, spec.capacity);
        let shared = spec.policy != LagPolicy::DropNewest;
        let ring = match keys.iter().position(|k| shared && *k == key) {
            Some(ring) => ring,
            None => {
                rings.push(ModelRing::default());
                // Drop-newest rings get a key no one else matches.
                keys.push(if shared {
                    key
                } else {
                    (key.0, key.1, usize::MAX)
                });
                rings.len() - 1
            }
        };
        subs.push(ModelSub {
            ring,
            policy: spec.policy,
            capacity: spec.capacity as u64,
            cursor: 0,
            gaps: Vec::new(),
        });
    }
    (rings, subs)
}

fn model_publish(rings: &mut [ModelRing], subs: &mut [ModelSub], value: u64) {
    for (index, ring) in rings.iter_mut().enumerate() {
        let members: Vec<usize> = (0..subs.len()).filter(|&s| subs[s].ring == index).collect();
        let tail = ring.written.len() as u64;
        let first = &subs[members[0]];
        let full = first.policy != LagPolicy::DropOldest
            && members
                .iter()
                .any(|&s| tail - subs[s].cursor >= subs[s].capacity);
        if full {
            for &s in &members {
                match subs[s].gaps.last_mut() {
                    Some((at, count)) if *at == tail => *count += 1,
                    _ => subs[s].gaps.push((tail, 1)),
                }
            }
        } else {
            ring.written.push(value);
        }
    }
}

fn model_recv(rings: &[ModelRing], sub: &mut ModelSub) -> Result<u64, TryRecvError> {
    if let Some(&(at, count)) = sub.gaps.first() {
        if at <= sub.cursor {
            sub.gaps.remove(0);
            return Err(TryRecvError::Lagged(count));
        }
    }
    let written = &rings[sub.ring].written;
    let tail = written.len() as u64;
    if sub.cursor >= tail {
        return Err(TryRecvError::Empty);
    }
    if sub.policy == LagPolicy::DropOldest && tail - sub.cursor > sub.capacity {
        let resume = tail - sub.capacity;
        let missed = resume - sub.cursor;
        sub.cursor = resume;
        return Err(TryRecvError::Lagged(missed));
    }
    let value = written[sub.cursor as usize];
    sub.cursor += 1;
    Ok(value)
}

fn subscribe(bus: &Bus<u64>, spec: &Spec) -> Subscription<u64> {
    bus.subscription(if spec.wildcard { "*" } else { "t" })
        .lag_policy(spec.policy)
        .capacity(spec.capacity)
        .build()
        .expect("a valid subscription")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_subscription_sees_what_the_model_predicts((specs, ops) in scenario()) {
        let bus: Bus<u64> = Bus::new(4);
        let mut subs: Vec<_> = specs.iter().map(|spec| subscribe(&bus, spec)).collect();
        let (mut rings, mut model_subs) = model(&specs);
        let mut next_value = 0;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Publish => {
                    bus.try_publish("t", next_value).expect("the bus is open");
                    model_publish(&mut rings, &mut model_subs, next_value);
                    next_value += 1;
                }
                Op::Recv(i) => {
                    let expected = model_recv(&rings, &mut model_subs[i]);
                    prop_assert_eq!(
                        subs[i].try_recv(),
                        expected,
                        "step {}: subscription {} ({:?})",
                        step,
                        i,
                        specs[i]
                    );
                }
            }
        }
        // Drained to the end, every subscription agrees too.
        for (i, sub) in subs.iter_mut().enumerate() {
            loop {
                let expected = model_recv(&rings, &mut model_subs[i]);
                prop_assert_eq!(sub.try_recv(), expected, "draining subscription {}", i);
                if expected == Err(TryRecvError::Empty) {
                    break;
                }
            }
        }
    }
}
