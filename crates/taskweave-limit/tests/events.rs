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

#[tokio::test(start_paused = true)]
async fn a_limiter_refused_by_its_rate_admits_nothing_on_its_concurrency_limit() {
    use taskweave_limit::{ConcurrencyLimit, Limited, Limiter};

    let rate = RateLimiter::new(Quota::per_second(10).with_burst(1)).unwrap();
    let slots = ConcurrencyLimit::new(64).unwrap();
    let limiter = Limiter::builder()
        .rate(rate.clone())
        .concurrency(slots.clone())
        .build()
        .unwrap();
    let admitted = limiter.try_acquire().unwrap();
    // The rate refuses the second: the slot it borrowed was not an admission.
    assert!(matches!(limiter.try_acquire(), Err(Limited::Rate { .. })));
    let m = slots.metrics();
    assert_eq!((m.admitted, m.rejected, m.in_flight), (1, 0, 1), "{m:?}");
    assert_eq!(rate.metrics().rejected, 1);
    // An acquire given up while waiting for the rate admitted nothing either.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), limiter.acquire()).await;
    assert!(gave_up.is_err());
    let m = slots.metrics();
    assert_eq!((m.admitted, m.in_flight, m.waiting), (1, 1, 0), "{m:?}");
    assert_eq!(rate.metrics().waited, 1);
    drop(admitted);
}
