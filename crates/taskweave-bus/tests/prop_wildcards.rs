//! Wildcard routing agrees with a reference matcher: `Pattern::matches`, the bus's index
//! (`subscriber_count`) and actual deliveries, for random patterns and subjects.

use proptest::prelude::*;
use taskweave_bus::{Bus, Pattern, SubjectError, TryRecvError};

/// The NATS rule, written out directly over tokens.
fn reference_match(pattern: &[String], subject: &[String]) -> bool {
    match (pattern.split_first(), subject.split_first()) {
        (None, None) => true,
        (Some((p, _)), _) if p == ">" => !subject.is_empty(),
        (Some((p, rest_p)), Some((s, rest_s))) => {
            (p == "*" || p == s) && reference_match(rest_p, rest_s)
        }
        _ => false,
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("c"), Just("ab")].prop_map(|t| t.to_owned())
}

fn subject() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(token(), 1..5)
}

fn pattern() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(prop_oneof![3 => token(), 1 => Just("*".to_owned())], 0..4),
        prop::bool::ANY,
    )
        .prop_filter_map("a pattern has at least one token", |(mut tokens, rest)| {
            if rest {
                tokens.push(">".to_owned());
            }
            (!tokens.is_empty()).then_some(tokens)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn routing_matches_the_reference(
        patterns in prop::collection::vec(pattern(), 1..24),
        subjects in prop::collection::vec(subject(), 1..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let bus: Bus<usize> = Bus::new(64);
            let mut subs: Vec<_> = patterns
                .iter()
                .map(|p| bus.subscribe(&p.join(".")).unwrap())
                .collect();
            for (n, subject) in subjects.iter().enumerate() {
                let text = subject.join(".");
                let expected: Vec<bool> =
                    patterns.iter().map(|p| reference_match(p, subject)).collect();
                for (p, &want) in patterns.iter().zip(&expected) {
                    let parsed = Pattern::parse(&p.join(".")).unwrap();
                    prop_assert_eq!(parsed.matches(&text), want, "{} vs {}", parsed, text);
                }
                let count = expected.iter().filter(|&&m| m).count();
                prop_assert_eq!(bus.subscriber_count(&text).unwrap(), count);
                let delivery = bus.publish(&text, n).await.unwrap();
                prop_assert_eq!(delivery.delivered(), count);
                for (sub, &want) in subs.iter_mut().zip(&expected) {
                    match sub.try_recv() {
                        Ok(got) => {
                            prop_assert!(want, "{} got {}", sub.pattern(), text);
                            prop_assert_eq!(got, n);
                        }
                        Err(TryRecvError::Empty) => {
                            prop_assert!(!want, "{} missed {}", sub.pattern(), text);
                        }
                        Err(e) => prop_assert!(false, "unexpected {:?}", e),
                    }
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn invalid_subjects_are_typed_errors_never_panics(text in "[a-c.*> ]{0,8}") {
        let tokens: Vec<&str> = text.split('.').collect();
        let valid_subject = !text.is_empty()
            && tokens.iter().all(|t| !t.is_empty() && !t.contains([' ', '*', '>']));
        let bus: Bus<u8> = Bus::new(1);
        match bus.try_publish(&text, 7) {
            Ok(_) => prop_assert!(valid_subject, "accepted {:?}", text),
            Err(e) => {
                prop_assert!(!valid_subject, "rejected {:?}: {}", text, e);
                prop_assert_eq!(e.into_inner(), 7, "the message is handed back");
            }
        }
        let valid_pattern = !text.is_empty()
            && tokens.iter().enumerate().all(|(i, t)| {
                !t.is_empty()
                    && !t.contains(' ')
                    && (*t == "*"
                        || (*t == ">" && i + 1 == tokens.len())
                        || !t.contains(['*', '>']))
            });
        prop_assert_eq!(Pattern::parse(&text).is_ok(), valid_pattern, "{:?}", text);
        prop_assert_eq!(bus.subscribe(&text).is_ok(), valid_pattern, "{:?}", text);
    }
}

#[test]
fn errors_name_the_offending_token() {
    assert_eq!(
        Pattern::parse("orders..created"),
        Err(SubjectError::EmptyToken { position: 1 })
    );
    assert_eq!(
        Pattern::parse("orders.>.created"),
        Err(SubjectError::FullWildcardNotLast { position: 1 })
    );
    let bus: Bus<u8> = Bus::new(1);
    let err = bus.try_publish("orders.*.created", 1).unwrap_err();
    assert!(matches!(
        err,
        taskweave_bus::PublishError::InvalidSubject(
            1,
            SubjectError::WildcardInSubject { position: 1 }
        )
    ));
    assert!(err.to_string().contains("subscription patterns"));
}
