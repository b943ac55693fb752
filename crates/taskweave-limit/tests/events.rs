//! A limiter emits one `tracing` event when it starts rejecting and one when it recovers, not
//! one per request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_limit::{Quota, RateLimiter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects the message of every event.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<String>>>);

struct MessageVisitor<'a>(&'a mut String);

impl Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Messages {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        event.record(&mut MessageVisitor(&mut message));
        self.0.lock().unwrap().push(message);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test(start_paused = true)]
async fn reject_and_recover_are_each_logged_once() {
    let messages = Messages::default();
    let _guard = tracing::subscriber::set_default(messages.clone());
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(10).with_burst(1))
        .name("api")
        .build()
        .unwrap();
    limiter.check().unwrap();
    // At the edge of the quota: refused, admitted, refused, admitted... one episode.
    for _ in 0..5 {
        assert!(limiter.check().is_err());
        tokio::time::advance(Duration::from_millis(100)).await;
        limiter.check().unwrap();
    }
    assert_eq!(messages.0.lock().unwrap().len(), 1);
    // A second without refusals: the next admission reports the recovery.
    tokio::time::advance(Duration::from_secs(1)).await;
    limiter.check().unwrap();
    limiter.check().unwrap_err();
    let messages = messages.0.lock().unwrap().clone();
    assert_eq!(
        messages,
        vec![
            "limiter started rejecting".to_owned(),
            "limiter recovered: no rejection for 1s".to_owned(),
            "limiter started rejecting".to_owned(),
        ]
    );
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected, m.limit), (7, 6, 1));
}
