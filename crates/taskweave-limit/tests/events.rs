//! A limiter emits one `tracing` event when it starts rejecting and one when it recovers, not
//! one per request.
//!
//! Every test here installs a subscriber before touching a limiter: tracing caches per-callsite
//! interest process-wide, so a test hitting the same callsites on another thread without one
//! can leave them disabled for the others (a flake seen in CI). Tests without a subscriber
//! belong in another file.

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

/// The limiter's own "started rejecting" events, among everything recorded.
fn rejecting_events(messages: &Messages) -> usize {
    messages
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains("rejecting"))
        .count()
}

#[tokio::test(start_paused = true)]
async fn waiting_is_not_rejecting() {
    let messages = Messages::default();
    let _guard = tracing::subscriber::set_default(messages.clone());
    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    for _ in 0..5 {
        limiter.acquire().await.unwrap();
    }
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected, m.waited, m.waiting), (5, 0, 4, 0));
    assert_eq!(rejecting_events(&messages), 0, "{:?}", messages.0.lock());
    // One event for the episode of waits, and one once nobody has waited for a second.
    tokio::time::advance(Duration::from_secs(2)).await;
    limiter.acquire().await.unwrap();
    let messages = messages.0.lock().unwrap().clone();
    assert_eq!(
        messages,
        vec![
            "limiter started making callers wait".to_owned(),
            "limiter admitting at once again: nobody waited for 1s".to_owned(),
        ]
    );
}

#[cfg(feature = "tower")]
#[tokio::test(start_paused = true)]
async fn waiting_layers_report_waits_not_rejections() {
    use std::convert::Infallible;
    use taskweave_limit::KeyedRateLimiter;
    use taskweave_limit::{KeyedRateLimitLayer, RateLimitLayer};
    use tower::{Layer, ServiceExt, service_fn};

    let messages = Messages::default();
    let _guard = tracing::subscriber::set_default(messages.clone());
    let echo = service_fn(|x: u32| async move { Ok::<_, Infallible>(x) });

    let limiter = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let svc = RateLimitLayer::new(limiter.clone()).layer(echo);
    for i in 0..5 {
        svc.clone().oneshot(i).await.unwrap();
    }
    let m = limiter.metrics();
    assert_eq!(
        (m.admitted, m.rejected, m.waited),
        (5, 0, 4),
        "rate layer: {m:?}"
    );

    let keyed = KeyedRateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let svc = KeyedRateLimitLayer::new(keyed.clone(), |_: &u32| "one key").layer(echo);
    for i in 0..5 {
        svc.clone().oneshot(i).await.unwrap();
    }
    let m = keyed.metrics();
    assert_eq!(
        (m.admitted, m.rejected, m.waited, m.waiting),
        (5, 0, 4, 0),
        "keyed layer: {m:?}"
    );
    assert_eq!(rejecting_events(&messages), 0, "{:?}", messages.0.lock());
}
