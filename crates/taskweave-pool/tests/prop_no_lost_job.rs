//! Whatever the job durations, keys and grace period, a shutdown accounts for every accepted
//! job: it completed, or its id is in the report and its handle says `Cancelled`.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use taskweave_pool::{JobError, Pool};

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn shutdown_accounts_for_every_job(
        limit in 1usize..5,
        jobs in proptest::collection::vec((0u64..200, proptest::option::of(0u8..3)), 1..40),
        grace_ms in 0u64..300,
    ) {
        paused_runtime().block_on(async {
            let pool = Pool::builder()
                .max_concurrency(limit)
                .queue_capacity(64)
                .build()
                .unwrap();
            let keyed = pool.keyed::<u8>();
            let mut handles = Vec::new();
            for (ms, key) in jobs.iter().copied() {
                let job = async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    ms
                };
                let handle = match key {
                    Some(key) => keyed.submit(key, job).await.unwrap(),
                    None => pool.submit(job).await.unwrap(),
                };
                handles.push(handle);
            }
            let report = pool.shutdown(Duration::from_millis(grace_ms)).await;
            let aborted: BTreeSet<_> = report.aborted.iter().copied().collect();
            let never: BTreeSet<_> = report.never_started.iter().copied().collect();
            assert_eq!(aborted.len(), report.aborted.len(), "no id reported twice");
            assert!(aborted.is_disjoint(&never));

            let mut completed = 0u64;
            for (handle, (ms, _)) in handles.into_iter().zip(jobs.iter()) {
                let id = handle.id();
                match handle.await {
                    Ok(out) => {
                        assert_eq!(out, *ms);
                        assert!(!aborted.contains(&id) && !never.contains(&id));
                        completed += 1;
                    }
                    Err(JobError::Cancelled) => {
                        assert!(aborted.contains(&id) || never.contains(&id), "{id} cancelled but not reported");
                    }
                    Err(other) => panic!("unexpected {other}"),
                }
            }
            let m = pool.metrics();
            assert_eq!(m.completed, completed);
            assert_eq!(m.cancelled as usize, aborted.len() + never.len());
            assert_eq!(completed as usize + aborted.len() + never.len(), jobs.len());
            assert_eq!((m.in_flight, m.queued), (0, 0));
            assert_eq!(keyed.active_keys(), 0);
        });
    }
}
