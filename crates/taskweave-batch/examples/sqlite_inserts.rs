//! Batching inserts into SQLite: one transaction per batch instead of one per row.
//!
//! Inserts `ROWS` rows twice into a fresh on-disk database (WAL journal, `synchronous=NORMAL`,
//! a common production setting): first one row per transaction, then through a [`Batcher`]
//! whose handler writes each batch in a single transaction on the blocking pool and hands each
//! row's id back to its ticket. Prints both rates and the speed-up.
//!
//! ```text
//! cargo run --release -p taskweave-batch --example sqlite_inserts
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use taskweave_batch::Batcher;

const ROWS: usize = 20_000;

type BoxError = Box<dyn Error + Send + Sync>;

struct Event {
    user: u32,
    payload: String,
}

fn event(i: usize) -> Event {
    Event {
        user: (i % 97) as u32,
        payload: format!("event number {i}"),
    }
}

fn open(path: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "DROP TABLE IF EXISTS events;
         CREATE TABLE events (id INTEGER PRIMARY KEY, user INTEGER NOT NULL, payload TEXT NOT NULL);",
    )?;
    Ok(conn)
}

/// Writes a whole batch in one transaction and returns each row's id, in batch order.
fn insert_batch(conn: &Mutex<Connection>, events: &[Event]) -> rusqlite::Result<Vec<i64>> {
    let mut conn = conn
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(events.len());
    {
        let mut insert = tx.prepare_cached("INSERT INTO events (user, payload) VALUES (?1, ?2)")?;
        for e in events {
            insert.execute(params![e.user, e.payload])?;
            ids.push(tx.last_insert_rowid());
        }
    }
    tx.commit()?;
    Ok(ids)
}

fn count(conn: &Connection) -> rusqlite::Result<usize> {
    conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
}

/// One row per transaction: the write path without batching.
fn one_per_transaction(path: &PathBuf) -> Result<Duration, BoxError> {
    let conn = open(path)?;
    let start = Instant::now();
    for i in 0..ROWS {
        conn.execute(
            "INSERT INTO events (user, payload) VALUES (?1, ?2)",
            params![event(i).user, event(i).payload],
        )?;
    }
    let elapsed = start.elapsed();
    assert_eq!(count(&conn)?, ROWS);
    Ok(elapsed)
}

/// The same rows through a batcher: up to 500 rows or 5 ms per transaction.
async fn batched(path: &PathBuf) -> Result<(Duration, usize), BoxError> {
    let conn = Arc::new(Mutex::new(open(path)?));
    let handler_conn = Arc::clone(&conn);
    let batcher = Batcher::builder()
        .max_items(500)
        .max_delay(Duration::from_millis(5))
        .max_buffered_items(4_000)
        .build(move |events: Vec<Event>| {
            let conn = Arc::clone(&handler_conn);
            async move {
                // SQLite blocks: keep it off the async workers.
                tokio::task::spawn_blocking(move || insert_batch(&conn, &events))
                    .await
                    .map_err(BoxError::from)?
                    .map_err(BoxError::from)
            }
        })?;

    let start = Instant::now();
    let producer = tokio::spawn({
        let batcher = batcher.clone();
        async move {
            let mut tickets = Vec::with_capacity(ROWS);
            for i in 0..ROWS {
                tickets.push(batcher.submit(event(i)).await.expect("batcher open"));
            }
            tickets
        }
    });
    let tickets = producer.await?;
    let mut ids = Vec::with_capacity(ROWS);
    for ticket in tickets {
        ids.push(ticket.await.map_err(|e| BoxError::from(e.to_string()))?);
    }
    let elapsed = start.elapsed();
    batcher.drain().await;

    // Every ticket got its own row's id.
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ROWS);
    let rows = count(
        &conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )?;
    assert_eq!(rows, ROWS);
    let batches = batcher.metrics().triggers.total() as usize;
    Ok((elapsed, batches))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("taskweave-batch-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let single_path = dir.join("single.sqlite");
    let batched_path = dir.join("batched.sqlite");

    let single = tokio::task::spawn_blocking(move || one_per_transaction(&single_path)).await??;
    let (batch, batches) = batched(&batched_path).await?;
    std::fs::remove_dir_all(&dir)?;

    let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
    println!("{ROWS} rows into SQLite (WAL, synchronous=NORMAL)");
    println!(
        "  one insert per transaction: {:>8.1} ms  {:>10.0} rows/s",
        single.as_secs_f64() * 1e3,
        rate(single)
    );
    println!(
        "  batched ({batches} transactions): {:>8.1} ms  {:>10.0} rows/s",
        batch.as_secs_f64() * 1e3,
        rate(batch)
    );
    println!(
        "  speed-up: {:.1}x",
        single.as_secs_f64() / batch.as_secs_f64()
    );
    Ok(())
}
