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
async fn keyed_jobs_at_the_head_of_their_key_count_against_the_queue() {
    let pool = Pool::builder()
        .max_concurrency(1)
        .queue_capacity(2)
        .build()
        .unwrap();
    let keyed = pool.keyed::<u8>();
    let _a = keyed
        .try_submit(1, tokio::time::sleep(Duration::from_secs(1)))
        .unwrap();
    // Waits behind key 1: takes no room in the shared queue.
    let _b = keyed.try_submit(1, async {}).unwrap();
    // Heads of their keys: queued like any job.
    let _c = keyed.try_submit(2, async {}).unwrap();
    let _d = keyed.try_submit(3, async {}).unwrap();
    assert!(keyed.try_submit(4, async {}).unwrap_err().is_full());
    assert!(pool.try_submit(async {}).unwrap_err().is_full());
    assert_eq!(pool.metrics().queued, 3);
    pool.drain().await;
    assert_eq!(pool.metrics().completed, 4);
}

#[tokio::test(start_paused = true)]
async fn one_busy_key_does_not_block_other_keys() {
    // Limit 8, queue 4: key A has one job running and four waiting behind it. Seven slots are
    // idle, so a job for key B (or any job) must start at once.
    let pool = Pool::builder()
        .max_concurrency(8)
        .queue_capacity(4)
        .build()
        .unwrap();
    let keyed = pool.keyed::<char>();
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut a = Vec::new();
    for _ in 0..5 {
        let mut gate = gate.clone();
        a.push(
            keyed
                .try_submit('A', async move {
                    gate.wait_for(|open| *open).await.ok();
                })
                .unwrap(),
        );
    }
    tokio::task::yield_now().await;
    let m = pool.metrics();
    assert_eq!((m.in_flight, m.queued), (1, 4));

    let b = keyed
        .try_submit('B', async { "b" })
        .expect("key B must not wait for key A");
    assert_eq!(b.await.unwrap(), "b");
    let plain = pool.try_submit(async { "plain" }).unwrap();
    assert_eq!(plain.await.unwrap(), "plain");
    // The shared queue is still fully available to other work.
    let (hold, held) = tokio::sync::oneshot::channel::<()>();
    let mut blockers = Vec::new();
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(Some(held)));
    for _ in 0..7 {
        let held = std::sync::Arc::clone(&held);
        blockers.push(
            pool.try_submit(async move {
                let rx = held.lock().await.take();
                if let Some(rx) = rx {
                    rx.await.ok();
                }
            })
            .unwrap(),
        );
    }
    drop(hold);
    release.send(true).unwrap();
    for h in a.into_iter().chain(blockers) {
        h.await.unwrap();
    }
    pool.drain().await;
    assert_eq!(pool.metrics().completed, 14);
}

#[tokio::test(start_paused = true)]
async fn the_jobs_waiting_behind_a_key_are_bounded_per_key() {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(64)
        .key_queue_capacity(3)
        .build()
        .unwrap();
    assert_eq!(pool.key_queue_capacity(), 3);
    let keyed = pool.keyed::<u8>();
    let (release, gate) = tokio::sync::watch::channel(false);
    let job = |mut gate: tokio::sync::watch::Receiver<bool>| async move {
        gate.wait_for(|open| *open).await.ok();
    };
    let mut handles = vec![keyed.try_submit(1, job(gate.clone())).unwrap()];
    for _ in 0..3 {
        handles.push(keyed.try_submit(1, job(gate.clone())).unwrap());
    }
    // Key 1 is at its bound; other keys are not affected.
    assert!(
        keyed
            .try_submit(1, job(gate.clone()))
            .unwrap_err()
            .is_full()
    );
    handles.push(keyed.try_submit(2, job(gate.clone())).unwrap());
    tokio::task::yield_now().await;
    assert_eq!(pool.metrics().queued, 3, "waiting keyed jobs are counted");

    // `submit` waits for room behind its key, then keeps the order.
    let k = keyed.clone();
    let late = tokio::spawn(async move { k.submit(1, async { "late" }).await.unwrap().await });
    tokio::task::yield_now().await;
    assert!(!late.is_finished());
    release.send(true).unwrap();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(late.await.unwrap().unwrap(), "late");
    pool.drain().await;
    assert_eq!(pool.metrics().completed, 6);
}

#[tokio::test(start_paused = true)]
async fn a_submitter_waiting_behind_its_key_gets_its_job_back_on_close() {
    let pool = Pool::builder()
        .max_concurrency(2)
        .key_queue_capacity(1)
        .build()
        .unwrap();
    let keyed = pool.keyed::<u8>();
    let _running = keyed
        .try_submit(1, tokio::time::sleep(Duration::from_secs(5)))
        .unwrap();
    let _waiting = keyed.try_submit(1, async {}).unwrap();
    let k = keyed.clone();
    let waiter = tokio::spawn(async move { k.submit(1, async { 7 }).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(!waiter.is_finished());
    pool.close();
    let err = waiter.await.unwrap().unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.into_inner().await, 7);
    pool.drain().await;
    assert_eq!(pool.metrics().completed, 2);
}
