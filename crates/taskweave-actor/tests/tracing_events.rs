//! Every actor runs in an `actor{name, id}` span; lifecycle changes are logged as events.

mod support;

use std::time::Duration;

use support::{Log, Msg, Probe, ProbeArgs};
use taskweave_actor::{Actor, ActorConfig, ChildSpec, Supervisor};
use taskweave_testkit::LogCapture;

#[test]
fn lifecycle_events_are_logged_inside_the_actor_span() {
    let captured = LogCapture::default();
    let _default = captured.install(tracing::Level::DEBUG);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let (probe_id, restarted_id) = runtime.block_on(async {
        let log = Log::default();
        let probe = Probe::spawn_with(
            ProbeArgs::new(&log),
            &ActorConfig::builder().name("traced").build().unwrap(),
        );
        probe.tell(Msg::Panic("traced panic")).await.unwrap();
        let _ = probe.monitor().await;

        let child_log = log.clone();
        let supervisor = Supervisor::spawn(
            Supervisor::builder()
                .child(ChildSpec::new::<Probe, _>("kid", move || {
                    ProbeArgs::new(&child_log)
                }))
                .build()
                .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
        let kid = supervisor.child::<Probe>("kid").await.unwrap();
        kid.tell(Msg::Panic("kid panic")).await.unwrap();
        let _ = kid.monitor().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        let restarted = supervisor.child::<Probe>("kid").await.unwrap();
        (probe.id(), restarted.id())
    });

    let text = captured.text();
    let span = format!("actor{{name=traced id={probe_id}}}");
    for expected in [
        format!("{span}: actor started"),
        format!("{span}: actor panicked panic=traced panic"),
        "actor stopped abnormally".to_owned(),
        "child exited; restarting child=kid".to_owned(),
        "child restarted child=kid restarts=1".to_owned(),
        format!("actor{{name=kid id={restarted_id}}}: actor started"),
    ] {
        assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
    }
}
