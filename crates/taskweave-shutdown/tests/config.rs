//! The builder rejects bad settings with errors that say what to do.

use std::time::Duration;

use taskweave_shutdown::{Builder, ConfigError, Coordinator};

#[test]
fn defaults_build() {
    let coordinator = Coordinator::builder().build().unwrap();
    assert_eq!(coordinator.handle().phase(), None);
    assert_eq!(coordinator.group("anything").phase(), None);
    assert!(!coordinator.is_closed());
    let _ = Coordinator::default();
    let _ = Builder::default();
}

#[test]
fn groups_join_the_phase_of_their_name() {
    let coordinator = Coordinator::builder()
        .phase("ingress", Duration::from_secs(1))
        .phase("storage", Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(coordinator.group("storage").phase(), Some("storage"));
    assert_eq!(
        coordinator.group("storage").group("ingress").phase(),
        Some("storage")
    );
    assert_eq!(coordinator.group("other").phase(), None);
}

#[test]
fn zero_grace_is_rejected() {
    let err = Coordinator::builder()
        .grace(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroGrace { phase: None });
    assert!(err.to_string().contains("give tasks time to stop"), "{err}");

    let err = Coordinator::builder()
        .phase("storage", Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::ZeroGrace {
            phase: Some("storage".into())
        }
    );
    assert!(err.to_string().contains("`storage`"), "{err}");
}

#[test]
fn duplicate_phases_are_rejected() {
    let err = Coordinator::builder()
        .phase("workers", Duration::from_secs(1))
        .phase("workers", Duration::from_secs(2))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::DuplicatePhase {
            name: "workers".into()
        }
    );
    assert!(err.to_string().contains("declare each phase once"), "{err}");
}

#[test]
fn bad_phase_names_are_rejected() {
    for name in ["", "a/b"] {
        let err = Coordinator::builder()
            .phase(name, Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::InvalidPhaseName { name: name.into() });
    }
}

#[test]
fn a_zero_abort_wait_is_rejected() {
    let err = Coordinator::builder()
        .abort_wait(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroAbortWait);
    assert!(err.to_string().contains("give them time"), "{err}");
    // Huge waits are fine: they saturate, they do not overflow the clock.
    Coordinator::builder()
        .abort_wait(Duration::MAX)
        .grace(Duration::MAX)
        .build()
        .unwrap();
}

#[test]
fn failure_records_are_bounded() {
    for ok in [
        0,
        1,
        Builder::DEFAULT_MAX_FAILURE_RECORDS,
        Builder::MAX_FAILURE_RECORDS,
    ] {
        Coordinator::builder()
            .max_failure_records(ok)
            .build()
            .unwrap();
    }
    for absurd in [Builder::MAX_FAILURE_RECORDS + 1, usize::MAX] {
        let err = Coordinator::builder()
            .max_failure_records(absurd)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::TooManyFailureRecords {
                requested: absurd,
                max: Builder::MAX_FAILURE_RECORDS
            }
        );
        assert!(err.to_string().contains("above the limit"), "{err}");
    }
}

#[test]
fn the_number_of_phases_is_bounded() {
    let declare = |n: usize| {
        (0..n).fold(Coordinator::builder(), |b, i| {
            b.phase(format!("p{i}"), Duration::from_secs(1))
        })
    };
    declare(Builder::MAX_PHASES).build().unwrap();
    let err = declare(Builder::MAX_PHASES + 1).build().unwrap_err();
    assert_eq!(
        err,
        ConfigError::TooManyPhases {
            declared: Builder::MAX_PHASES + 1,
            max: Builder::MAX_PHASES
        }
    );
    assert!(err.to_string().contains("more than the limit"), "{err}");
}
