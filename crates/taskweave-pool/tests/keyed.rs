//! Keyed jobs: same key one at a time in submission order, different keys in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskweave_pool::Pool;

#[tokio::test(start_paused = true)]
async fn same_key_runs_in_order_one_at_a_time() {
    let pool = Pool::builder()
        .max_concurrency(8)
        .queue_capacity(256)
        .build()
        .unwrap();
    let keyed = pool.keyed::<u32>();
    let log: Arc<Mutex<HashMap<u32, Vec<u32>>>> = Arc::default();
    let busy: Arc<Mutex<HashMap<u32, bool>>> = Arc::default();
    let mut handles = Vec::new();
    for seq in 0..40u32 {
        let key = seq % 4;
        let (log, busy) = (Arc::clone(&log), Arc::clone(&busy));
        // Later jobs are faster, so without ordering they would overtake earlier ones.
        let ms = u64::from(40 - seq);
        handles.push(
            keyed
                .submit(key, async move {
                    assert!(
                        !busy.lock().unwrap().insert(key, true).unwrap_or(false),
                        "two jobs of key {key} ran at once"
                    );
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    log.lock().unwrap().entry(key).or_default().push(seq);
                    busy.lock().unwrap().insert(key, false);
                })
                .await
                .unwrap(),
        );
    }
    for h in handles {
        h.await.unwrap();
    }
    let log = log.lock().unwrap();
    for key in 0..4 {
        let expected: Vec<u32> = (0..40).filter(|s| s % 4 == key).collect();
        assert_eq!(log[&key], expected, "key {key} out of order");
    }
    assert_eq!(keyed.active_keys(), 0);
}

#[tokio::test(start_paused = true)]
async fn different_keys_run_in_parallel() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(16)
        .build()
        .unwrap();
    let keyed = pool.keyed::<String>();
    let start = tokio::time::Instant::now();
    let mut handles = Vec::new();
    for key in ["a", "b", "c", "d"] {
        handles.push(
            keyed
                .submit(key.to_owned(), tokio::time::sleep(Duration::from_secs(1)))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(pool.metrics().in_flight, 4);
    for h in handles {
        h.await.unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(1100));
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_does_not_block_its_key() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .job_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let keyed = pool.keyed::<u8>();
    let panics = keyed.submit(1, async { panic!("first") }).await.unwrap();
    let times_out = keyed
        .submit(1, tokio::time::sleep(Duration::from_secs(10)))
        .await
        .unwrap();
    let aborted = keyed
        .submit(1, tokio::time::sleep(Duration::from_secs(10)))
        .await
        .unwrap();
    aborted.abort();
    let last = keyed.submit(1, async { "ran" }).await.unwrap();
    // Waiting keyed jobs count as queued.
    assert_eq!(pool.metrics().queued, 3);
    assert!(panics.await.unwrap_err().is_panic());
    assert!(times_out.await.unwrap_err().is_timeout());
    assert!(aborted.await.unwrap_err().is_cancelled());
    assert_eq!(last.await.unwrap(), "ran");
    pool.drain().await;
    assert_eq!(pool.metrics().queued, 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_jobs_count_against_the_queue() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let keyed = pool.keyed::<u8>();
    let _a = keyed
        .try_submit(1, tokio::time::sleep(Duration::from_secs(1)))
        .unwrap();
    let _b = keyed.try_submit(1, async {}).unwrap();
    let _c = keyed.try_submit(2, async {}).unwrap();
    let full = keyed.try_submit(3, async {}).unwrap_err();
    assert!(full.is_full());
    pool.drain().await;
    assert_eq!(pool.metrics().completed, 3);
}
