//! `tracing` events mark lag and unsubscription. In a test binary of its own: tracing caches
//! per-callsite interest process-wide, so other tests hitting the same callsites on other
//! threads without a subscriber would make this one flaky.

use taskweave_bus::{Bus, TryRecvError};

#[test]
fn lagging_is_traced() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let bus: Bus<u64> = Bus::new(2);
        let mut sub = bus.subscribe("t").unwrap();
        for i in 0..5 {
            bus.try_publish("t", i).unwrap();
        }
        assert_eq!(sub.try_recv(), Err(TryRecvError::Lagged(3)));
        drop(sub);
    });
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("bus subscriber lagging"), "{logs}");
    assert!(logs.contains("missed=3"), "{logs}");
    assert!(logs.contains("bus subscription dropped"), "{logs}");
}
