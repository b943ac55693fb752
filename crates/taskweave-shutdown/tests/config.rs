//! The builder rejects bad settings with errors that say what to do.

use std::time::Duration;

use taskweave_shutdown::{Builder, ConfigError, Coordinator};

#[test]
fn defaults_build() {
    let coordinator = Coordinator::builder().build().unwrap();
    assert_eq!(coordinator.handle().phase(), None);
    assert_eq!(coordinator.group("anything").phase(), None);
    assert!(!coordinator.is_shutting_down());
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
