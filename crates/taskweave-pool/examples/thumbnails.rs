//! A thumbnail service in miniature: uploads are resized on a bounded pool, edits to the same
//! album are applied in order, a slow job is cut off by the timeout, and shutdown reports what
//! it had to abandon.
//!
//! Run with `cargo run -p taskweave-pool --example thumbnails`.

use std::time::Duration;

use futures_util::StreamExt as _;
use taskweave_pool::{JobError, Pool};

/// Pretend to resize an image: bigger images take longer, and a corrupt one panics.
async fn resize(id: u32, kilobytes: u32) -> String {
    if kilobytes == 0 {
        panic!("image {id} is corrupt");
    }
    tokio::time::sleep(Duration::from_millis(u64::from(kilobytes) / 10)).await;
    format!("thumb-{id}.jpg")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .max_concurrency(4)
        .queue_capacity(8)
        .job_timeout(Duration::from_millis(500))
        .build()?;

    // 1. A batch of uploads, results in upload order, at most 4 + 8 in memory at a time.
    let uploads = vec![(1, 800), (2, 120), (3, 0), (4, 9_000), (5, 300), (6, 50)];
    let mut results = Box::pin(
        pool.process(futures_util::stream::iter(uploads), |(id, kb)| {
            resize(id, kb)
        }),
    );
    while let Some(result) = results.next().await {
        match result {
            Ok(file) => println!("made {file}"),
            Err(JobError::Panicked { message }) => println!("skipped: {message}"),
            Err(JobError::TimedOut { after }) => println!("gave up after {after:?}"),
            Err(other) => println!("failed: {other}"),
        }
    }

    // 2. Edits to one album apply in order; albums proceed in parallel.
    let albums = pool.keyed::<&'static str>();
    let mut edits = Vec::new();
    for (album, edit) in [
        ("holiday", "crop"),
        ("work", "rotate"),
        ("holiday", "caption"),
    ] {
        edits.push(
            albums
                .submit(album, async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    format!("{album}: {edit}")
                })
                .await?,
        );
    }
    for edit in edits {
        println!("applied {}", edit.await?);
    }

    // 3. Back-pressure: try_submit hands the job back when the queue is full.
    let mut refused = 0;
    let mut accepted = Vec::new();
    for id in 100..120 {
        match pool.try_submit(resize(id, 200)) {
            Ok(handle) => accepted.push(handle),
            Err(err) if err.is_full() => refused += 1,
            Err(err) => return Err(err.into()),
        }
    }
    println!(
        "accepted {}, refused {refused} (queue full)",
        accepted.len()
    );

    // 4. Shut down with a short grace period: whatever is left is reported, not lost.
    let report = pool.shutdown(Duration::from_millis(50)).await;
    println!(
        "shutdown: {} aborted, {} never started",
        report.aborted.len(),
        report.never_started.len()
    );
    println!("{:?}", pool.metrics());
    Ok(())
}
