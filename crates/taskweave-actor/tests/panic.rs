//! A panicking handler ends only its own actor.

mod support;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{Actor, ExitReason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_becomes_an_exit_reason_and_other_actors_carry_on() {
    let log = Log::default();
    let doomed = Probe::spawn(ProbeArgs::new(&log));
    let bystander_log = Log::default();
    let bystander = Probe::spawn(ProbeArgs::new(&bystander_log));

    doomed.tell(Msg::Record(1)).await.unwrap();
    doomed.tell(Msg::Panic("boom in handler")).await.unwrap();
    let reason = doomed.monitor().await;
    assert_eq!(reason.panic_message(), Some("boom in handler"));
    assert!(matches!(reason, ExitReason::Panicked(_)));
    assert!(!reason.is_normal());
    // The stop hook still ran, with the panic as its reason.
    assert_eq!(log.entries(), ["start", "handle 1", "stop panicked"]);
    assert!(doomed.tell(Msg::Record(2)).await.is_err());

    bystander.tell(Msg::Record(5)).await.unwrap();
    assert_eq!(bystander.ask(Msg::Seen).await.unwrap(), [5]);
    assert!(bystander.is_alive());
}

#[tokio::test(start_paused = true)]
async fn a_panic_with_a_formatted_message_is_captured() {
    let log = Log::default();
    let doomed = Probe::spawn(ProbeArgs::new(&log));
    doomed.tell(Msg::Panic("formatted")).await.unwrap();
    let reason = doomed.monitor().await;
    assert_eq!(reason.to_string(), "panicked: formatted");
}
