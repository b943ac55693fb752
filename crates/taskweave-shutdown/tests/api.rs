//! The public types can cross threads and tasks as a service needs them to.

use taskweave_shutdown::{
    AbortReason, Builder, Cause, ConfigError, Coordinator, Group, Metrics, OnFailure, Outcome,
    Report, Signal, SpawnError, TaskReport,
};

fn send_sync<T: Send + Sync>() {}
fn send_sync_unpin<T: Send + Sync + Unpin + 'static>() {}

#[test]
fn public_types_are_send_sync_and_unpin() {
    send_sync_unpin::<Coordinator>();
    send_sync_unpin::<Group>();
    send_sync_unpin::<Builder>();
    send_sync_unpin::<Report>();
    send_sync_unpin::<TaskReport>();
    send_sync_unpin::<Outcome>();
    send_sync_unpin::<Cause>();
    send_sync_unpin::<AbortReason>();
    send_sync_unpin::<Signal>();
    send_sync_unpin::<OnFailure>();
    send_sync_unpin::<SpawnError>();
    send_sync_unpin::<ConfigError>();
    send_sync_unpin::<Metrics>();
    send_sync::<taskweave_shutdown::TaskBuilder<'static>>();
}

#[test]
fn run_is_a_send_future() {
    fn send<T: Send>(_: &T) {}
    let coordinator = Coordinator::builder().signals(false).build().unwrap();
    let run = coordinator.run();
    send(&run);
}

#[test]
fn errors_are_std_errors() {
    fn error<E: std::error::Error + Clone + PartialEq + Eq + Send + Sync + 'static>() {}
    error::<SpawnError>();
    error::<ConfigError>();
}
