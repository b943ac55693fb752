//! Dropping the runtime under a busy batcher — flushes in flight, batches waiting for a slot, a
//! batch filling, producers waiting on backpressure, tickets pending — neither hangs nor
//! panics, and everything created outside the runtime resolves with an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskweave_batch::{BatchError, Batcher, Closed, TrySubmitError};
use taskweave_testkit::{FreshWakers, HANG_LIMIT, finishes_within};

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn dropping_the_runtime_mid_flight_resolves_everything_with_an_error() {
    let started = Arc::new(AtomicUsize::new(0));
    let flushes = Arc::clone(&started);
    let (batcher, tickets, producers, mut outside) =
        finishes_within(HANG_LIMIT, "building up a busy batcher", move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let batcher = {
                let _entered = runtime.enter();
                Batcher::builder()
                    .max_items(64)
                    .max_buffered_items(256)
                    .max_concurrent_flushes(2)
                    .max_delay(HOUR)
                    .build(move |batch: Vec<u32>| {
                        flushes.fetch_add(1, Ordering::SeqCst);
                        async move {
                            // A flush that never finishes.
                            std::future::pending::<()>().await;
                            Ok::<_, String>(batch)
                        }
                    })
                    .unwrap()
            };
            let (tickets, producers) = runtime.block_on(async {
                let mut tickets = Vec::new();
                // Two batches flushing, one waiting for a slot, one filling: 256 buffered.
                for v in 0..256 {
                    tickets.push(batcher.submit(v).await.unwrap());
                    if v % 64 == 63 && v < 192 {
                        batcher.flush();
                    }
                }
                while batcher.metrics().flushing < 2 {
                    tokio::task::yield_now().await;
                }
                // Producers on the runtime, waiting for space.
                let producers: Vec<_> = (256..264)
                    .map(|v| {
                        let batcher = batcher.clone();
                        tokio::spawn(async move { batcher.submit(v).await.map(drop) })
                    })
                    .collect();
                while batcher.metrics().waits_for_space < 8 {
                    tokio::task::yield_now().await;
                }
                (tickets, producers)
            });
            // A producer outside the runtime, registered as waiting for space.
            let mut outside = FreshWakers::new({
                let batcher = batcher.clone();
                async move { batcher.submit(999).await.map(drop) }
            });
            let mut cx = Context::from_waker(Waker::noop());
            assert!(outside.poll_once(&mut cx).is_pending());
            drop(runtime);
            (batcher, tickets, producers, outside)
        });
    assert_eq!(started.load(Ordering::SeqCst), 2);

    // Everything below runs without the batcher's runtime.
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        outside.poll_once(&mut cx),
        Poll::Ready(Err(Closed { 0: 999, .. }))
    ));
    assert_eq!(batcher.try_push(1), Err(TrySubmitError::Closed(1)));
    let other = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    finishes_within(
        HANG_LIMIT,
        "awaiting what the dropped runtime left",
        move || {
            other.block_on(async {
                for producer in producers {
                    assert!(producer.await.unwrap_err().is_cancelled());
                }
                for (v, ticket) in (0u32..).zip(tickets) {
                    match (v, ticket.await) {
                        (0..128, Err(BatchError::Abandoned)) => {}
                        (128.., Err(BatchError::Unflushed)) => {}
                        (v, other) => panic!("ticket {v}: {other:?}"),
                    }
                }
                batcher.drain().await;
                batcher.close();
                assert!(batcher.is_closed());
                let report = batcher.shutdown(HOUR).await;
                assert_eq!(report.unflushed, (128..256).collect::<Vec<_>>());
                let metrics = batcher.metrics();
                assert_eq!(metrics.batches_abandoned, 2);
                assert_eq!(metrics.items_unflushed, 128);
                assert_eq!(metrics.buffered_items, 0);
            });
        },
    );
}
