//! Over any window of length W a rate limiter admits at most `burst + rate·W`, and over a long
//! run it admits at the quota's rate.

use std::time::Duration;

use taskweave_limit::{ManualClock, Quota, RateLimiter};

/// Checks every window starting at an admission: at most `burst + W/T` admissions in `[t, t+W]`.
fn assert_window_bound(admitted: &[u64], interval: u64, burst: u64) {
    for window in [
        0,
        interval / 2,
        interval,
        7 * interval,
        100 * interval,
        1000 * interval,
    ] {
        let limit = burst + window / interval;
        let mut end = 0;
        for start in 0..admitted.len() {
            while end < admitted.len() && admitted[end] <= admitted[start] + window {
                end += 1;
            }
            assert!(
                (end - start) as u64 <= limit,
                "{} admissions in a window of {window} ns starting at {} (limit {limit})",
                end - start,
                admitted[start]
            );
        }
    }
}

#[test]
fn any_window_admits_at_most_burst_plus_rate() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(1000).with_burst(20))
        .clock(clock.clone())
        .build()
        .unwrap();
    let interval = 1_000_000; // 1 ms
    // An irregular, deterministic arrival pattern: bursts, gaps and steady trickles.
    let mut admitted = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..50_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let step = match state % 10 {
            0 => 25_000_000,             // a long gap: the burst refills
            1..=4 => 0,                  // simultaneous arrivals
            _ => (state >> 8) % 700_000, // faster than the rate
        };
        clock.advance(Duration::from_nanos(step));
        if limiter.check().is_ok() {
            admitted.push(clock.elapsed().as_nanos() as u64);
        }
    }
    assert!(admitted.len() > 1000);
    assert_window_bound(&admitted, interval, 20);
}

#[test]
fn retry_after_is_exact() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(4).with_burst(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    limiter.check().unwrap();
    let wait = limiter.check().unwrap_err().duration();
    assert_eq!(wait, Duration::from_millis(250));
    clock.advance(wait - Duration::from_nanos(1));
    assert!(limiter.check().is_err());
    clock.advance(Duration::from_nanos(1));
    assert!(limiter.check().is_ok());
}

#[tokio::test(start_paused = true)]
async fn long_run_rate_equals_quota() {
    let limiter = RateLimiter::new(Quota::per_second(1000).with_burst(10)).unwrap();
    let start = tokio::time::Instant::now();
    let mut admitted = 0u64;
    while start.elapsed() < Duration::from_secs(20) {
        limiter.acquire().await.unwrap();
        admitted += 1;
    }
    let rate = admitted as f64 / start.elapsed().as_secs_f64();
    assert!((rate / 1000.0 - 1.0).abs() < 0.01, "achieved {rate}/s");
    assert_eq!(limiter.metrics().admitted, admitted);
}

#[tokio::test(start_paused = true)]
async fn concurrent_waiters_share_the_rate() {
    let limiter = RateLimiter::new(Quota::per_second(500).with_burst(5)).unwrap();
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let mut stamps = Vec::new();
                for _ in 0..250 {
                    limiter.acquire().await.unwrap();
                    stamps.push(start.elapsed().as_nanos() as u64);
                }
                stamps
            })
        })
        .collect();
    let mut stamps = Vec::new();
    for t in tasks {
        stamps.extend(t.await.unwrap());
    }
    stamps.sort_unstable();
    assert_eq!(stamps.len(), 2000);
    assert_window_bound(&stamps, 2_000_000, 5);
    // 2000 permits at 500/s after a burst of 5: (2000 - 5) × 2 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(3990));
}

#[test]
fn admissions_from_many_threads_are_all_counted() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::builder()
        .quota(Quota::per_second(1000).with_burst(30_000))
        .clock(clock)
        .build()
        .unwrap();
    let admitted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..10_000).filter(|_| limiter.check().is_ok()).count()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    // The clock stands still: exactly the burst is admitted, whoever wins each race.
    assert_eq!(admitted, 30_000);
    let m = limiter.metrics();
    assert_eq!((m.admitted, m.rejected), (30_000, 10_000));
}
