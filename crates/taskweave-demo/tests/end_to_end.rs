//! The whole service, end to end, with small numbers: nothing generated may go missing,
//! whether the run completes, is stopped at a given event, or is stopped by the clock.
//!
//! The pipeline runs on real time (SQLite and the bus are real too), but no assertion depends
//! on timing: only on counts, which every path must keep exact.

use std::path::PathBuf;
use std::time::Duration;

use taskweave::shutdown::Cause;
use taskweave_demo::{Summary, run};

mod common;
use common::config;

fn database(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "taskweave-demo-e2e-{name}-{}.sqlite",
        std::process::id()
    ));
    remove(&path);
    path
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// Counts the rows of `table` with a connection of our own, independent of the demo's code.
fn count(path: &std::path::Path, table: &str) -> u64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    let n: i64 = conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap();
    u64::try_from(n).unwrap()
}

/// The invariants every run must keep, however it ended.
fn assert_nothing_lost(summary: &Summary) {
    assert!(summary.is_consistent(), "{summary}");
    assert_eq!(summary.rows.events, summary.accepted(), "{summary}");
    assert_eq!(
        summary.rows.dead_letters,
        summary.dead_lettered(),
        "{summary}"
    );
    assert_eq!(
        summary.generated(),
        summary.accepted() + summary.rejected() + summary.dead_lettered(),
        "{summary}"
    );
    assert_eq!(
        summary.generated() + summary.not_generated(),
        summary.requested
    );
    assert_eq!(summary.stats.processed.pool_errors, 0);
    assert_eq!(summary.stats.processed.store_refused, 0);
    assert_eq!(summary.stats.batches_failed, 0);
    assert_eq!(summary.stats.missed_messages, 0);
    assert!(summary.report.is_clean(), "{}", summary.report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_stores_every_accepted_event_and_rides_out_the_outage() {
    let db = database("full");
    let mut config = config(2_000);
    config.db = Some(db.clone());
    config.outage = Duration::from_millis(300);
    let summary = run(config).await.unwrap();

    assert_nothing_lost(&summary);
    assert_eq!(summary.generated(), 2_000);
    assert_eq!(summary.not_generated(), 0);
    assert_eq!(*summary.report.cause(), Cause::AllTasksFinished);
    // Some events are malformed (about 2% by construction), and they are counted, not stored.
    assert!(summary.rejected() > 0, "{summary}");
    // The outage trips the breaker, and the run ends with it closed again.
    assert!(summary.stats.breaker_trips >= 1, "{summary}");
    let (_, _, last) = *summary.stats.breaker_transitions.last().unwrap();
    assert_eq!(last, taskweave::breaker::State::Closed, "{summary}");
    assert!(summary.stats.processed.retries > 0, "{summary}");
    // One transaction per batch, and the batches add up to the rows.
    let (batches, _) = summary.batches();
    assert_eq!(batches, summary.stats.batches_committed);
    assert_eq!(
        summary.stats.events_committed + summary.stats.dead_letters_committed,
        summary.accepted() + summary.dead_lettered()
    );

    // The kept database says the same, read with our own connection.
    assert_eq!(summary.database.as_deref(), Some(db.as_path()));
    assert_eq!(count(&db, "events"), summary.accepted());
    assert_eq!(count(&db, "dead_letters"), summary.dead_lettered());
    remove(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_the_middle_drains_what_was_generated() {
    let mut config = config(2_000);
    config.stop_after_events = Some(700);
    let summary = run(config).await.unwrap();

    assert_nothing_lost(&summary);
    assert_eq!(summary.generated(), 700, "{summary}");
    assert_eq!(summary.not_generated(), 1_300);
    assert_eq!(*summary.report.cause(), Cause::Requested);
    // The temporary database is gone, after its rows were counted.
    assert!(summary.database.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_by_the_clock_accounts_for_every_event() {
    let mut config = config(1_000_000);
    config.stop_after = Some(Duration::from_millis(200));
    let summary = run(config).await.unwrap();

    assert_nothing_lost(&summary);
    assert!(summary.not_generated() > 0, "{summary}");
    assert_eq!(*summary.report.cause(), Cause::Requested);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_quota_holds_events_back_without_losing_any() {
    // 1,000 events at 2,000 a second, burst 40: the pool's 128 jobs outrun the quota.
    let mut config = config(1_000);
    config.remote_rate = Some(2_000);
    config.outage = Duration::ZERO;
    let summary = run(config).await.unwrap();

    assert_nothing_lost(&summary);
    assert_eq!(summary.generated(), 1_000);
    assert!(summary.rate_limited > 0, "{summary}");
    assert!(summary.to_string().contains("rate limited"), "{summary}");
    // Every valid event took one permit before its first attempt: no more can have started
    // than the burst plus the quota over the whole run (a bound, not a timing).
    let started = summary.accepted() + summary.dead_lettered();
    let allowed = 40 + (summary.elapsed.as_secs_f64() * 2_000.0).ceil() as u64;
    assert!(
        started <= allowed,
        "{started} started, {allowed} allowed: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_events_wait_for_the_quota_loses_none() {
    let mut config = config(2_000);
    config.remote_rate = Some(1_000);
    config.stop_after_events = Some(700);
    let summary = run(config).await.unwrap();

    // Events still waiting for a permit when the workers' token closed the limiter are
    // dead-lettered ("cut short by shutdown"), not dropped.
    assert_nothing_lost(&summary);
    assert_eq!(summary.generated(), 700, "{summary}");
    assert_eq!(*summary.report.cause(), Cause::Requested);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_opened_is_an_error_not_a_panic() {
    let mut config = config(10);
    config.db = Some(PathBuf::from("/nonexistent-dir/taskweave/demo.sqlite"));
    let error = run(config).await.unwrap_err();
    assert!(error.to_string().contains("demo.sqlite"), "{error}");
}
