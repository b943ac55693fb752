//! Each transition emits a `tracing` event with structured fields.

use taskweave_breaker::{Breaker, Outcome};
use taskweave_testkit::LogCapture;

#[test]
fn transitions_are_logged_with_their_fields() {
    let captured = LogCapture::default();
    let subscriber = captured.subscriber(tracing::Level::DEBUG);
    tracing::subscriber::with_default(subscriber, || {
        let breaker = Breaker::builder()
            .name("payments")
            .count_window(2)
            .minimum_calls(2)
            .build()
            .unwrap();
        for _ in 0..2 {
            breaker.try_acquire().unwrap().record(Outcome::Failure);
        }
        breaker.half_open();
        breaker.disable();
    });
    let log = captured.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].contains("WARN"), "{log}");
    assert!(lines[0].contains("circuit breaker opened"), "{log}");
    for field in [
        "breaker=\"payments\"",
        "from=closed",
        "to=open",
        "calls=2",
        "failed=2",
        "wait_ms=60000",
    ] {
        assert!(lines[0].contains(field), "missing {field}: {log}");
    }
    assert!(
        lines[1].contains("DEBUG") && lines[1].contains("to=half-open"),
        "{log}"
    );
    assert!(
        lines[2].contains("from=half-open") && lines[2].contains("to=disabled"),
        "{log}"
    );
}

#[test]
fn giving_up_on_hung_trials_and_dropping_a_stale_outcome_are_logged() {
    let captured = LogCapture::default();
    let subscriber = captured.subscriber(tracing::Level::DEBUG);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let breaker = Breaker::builder()
                .name("payments")
                .half_open_calls(1)
                .max_wait_in_half_open(std::time::Duration::from_secs(5))
                .build()
                .unwrap();
            breaker.half_open();
            let hung = breaker.try_acquire().unwrap();
            tokio::time::advance(std::time::Duration::from_secs(5)).await;
            assert!(breaker.try_acquire().is_err());
            hung.record(Outcome::Success);
        });
    });
    let log = captured.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "{log}");
    assert!(lines[0].contains("to=half-open"), "{log}");
    for field in [
        "WARN",
        "did not finish within max_wait_in_half_open",
        "breaker=\"payments\"",
        "admitted=1",
        "recorded=0",
        "max_wait_ms=5000",
    ] {
        assert!(lines[1].contains(field), "missing {field}: {log}");
    }
    assert!(
        lines[2].contains("circuit breaker opened") && lines[2].contains("from=half-open"),
        "{log}"
    );
    assert!(
        lines[3].contains("DEBUG") && lines[3].contains("stale outcome"),
        "{log}"
    );
}
