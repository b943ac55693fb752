//! `tracing` events mark lag and unsubscription. In a test binary of its own: tracing caches
//! per-callsite interest process-wide, so other tests hitting the same callsites on other
//! threads without a subscriber would make this one flaky.

use taskweave_bus::{Bus, TryRecvError};
use taskweave_testkit::LogCapture;

#[test]
fn lagging_is_traced() {
    let logs = LogCapture::default();
    let subscriber = logs.subscriber(tracing::Level::DEBUG);
    tracing::subscriber::with_default(subscriber, || {
        let bus: Bus<u64> = Bus::new(2);
        let mut sub = bus.subscribe("t").unwrap();
        for i in 0..5 {
            bus.try_publish("t", i).unwrap();
        }
        assert_eq!(sub.try_recv(), Err(TryRecvError::Lagged(3)));
        drop(sub);
    });
    let logs = logs.text();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("bus subscriber lagging"), "{logs}");
    assert!(logs.contains("missed=3"), "{logs}");
    assert!(logs.contains("bus subscription dropped"), "{logs}");
}
