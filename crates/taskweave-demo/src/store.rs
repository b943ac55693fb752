//! The SQLite side: one connection, one transaction per batch, and a read-back that opens the
//! file afresh after the writer has closed it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, params};

/// An enriched event, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The event id.
    pub id: u64,
    /// The sensor.
    pub sensor: u32,
    /// When the reading was taken (ms since the epoch).
    pub timestamp_ms: u64,
    /// The reading corrected by the sensor's calibration offset, in °C.
    pub celsius: f64,
    /// Where the sensor is installed (from the remote).
    pub site: &'static str,
}

/// A valid event the remote could not enrich; kept so it can be replayed later.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The event id.
    pub id: u64,
    /// The sensor.
    pub sensor: u32,
    /// When the reading was taken (ms since the epoch).
    pub timestamp_ms: u64,
    /// The uncorrected reading, in °C.
    pub celsius: f64,
    /// Why it was not enriched.
    pub reason: &'static str,
    /// The last error of the retry loop.
    pub error: String,
}

/// One item of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// Goes to the `events` table.
    Event(EventRow),
    /// Goes to the `dead_letters` table.
    DeadLetter(DeadLetter),
}

/// The rows a run left in the database, read back with `SELECT COUNT(*)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows in `events` for the run.
    pub events: u64,
    /// Rows in `dead_letters` for the run.
    pub dead_letters: u64,
}

/// The writer's connection. Writes happen on Tokio's blocking threads (see
/// [`Store::write_batch`]); the mutex is only ever taken there, never across an `.await`.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Option<Connection>>,
    path: PathBuf,
    run_id: i64,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL DEFAULT (datetime('now')),
        events_requested INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS events (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        id INTEGER NOT NULL,
        sensor INTEGER NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        celsius REAL NOT NULL,
        site TEXT NOT NULL,
        PRIMARY KEY (run_id, id)
    );
    CREATE TABLE IF NOT EXISTS dead_letters (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        id INTEGER NOT NULL,
        sensor INTEGER NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        celsius REAL NOT NULL,
        reason TEXT NOT NULL,
        error TEXT NOT NULL,
        PRIMARY KEY (run_id, id)
    );
";

impl Store {
    /// Opens (or creates) the database at `path` and registers a new run in it, so that a kept
    /// database (`--db`) accumulates runs without mixing their rows.
    ///
    /// # Errors
    ///
    /// The SQLite error if the file cannot be opened or the schema created.
    pub fn open(path: &Path, events_requested: u64) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        // WAL with NORMAL sync: each batch is one durable-enough transaction without an fsync
        // per commit, which is what a write-heavy ingest service would choose.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT INTO runs (events_requested) VALUES (?1)",
            params![sql_int(events_requested)],
        )?;
        let run_id = conn.last_insert_rowid();
        Ok(Self {
            conn: Mutex::new(Some(conn)),
            path: path.to_owned(),
            run_id,
        })
    }

    /// The id of this run in the `runs` table.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `rows` in one transaction: all of them or none. Blocking; call it from
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// The SQLite error, after which nothing of the batch is stored; or
    /// [`rusqlite::Error::InvalidQuery`] if the store was already closed.
    pub fn write_batch(&self, rows: &[Row]) -> rusqlite::Result<()> {
        let mut guard = self.lock();
        let conn = guard.as_mut().ok_or(rusqlite::Error::InvalidQuery)?;
        let tx = conn.transaction()?;
        {
            let mut event = tx.prepare_cached(
                "INSERT INTO events (run_id, id, sensor, timestamp_ms, celsius, site)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut dead = tx.prepare_cached(
                "INSERT INTO dead_letters (run_id, id, sensor, timestamp_ms, celsius, reason, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for row in rows {
                match row {
                    Row::Event(e) => event.execute(params![
                        self.run_id,
                        sql_int(e.id),
                        e.sensor,
                        sql_int(e.timestamp_ms),
                        e.celsius,
                        e.site
                    ])?,
                    Row::DeadLetter(d) => dead.execute(params![
                        self.run_id,
                        sql_int(d.id),
                        d.sensor,
                        sql_int(d.timestamp_ms),
                        d.celsius,
                        d.reason,
                        d.error
                    ])?,
                };
            }
        }
        tx.commit()
    }

    /// Closes the connection (checkpointing the WAL). Later writes fail. Blocking.
    ///
    /// # Errors
    ///
    /// The SQLite error if closing fails; the connection is dropped anyway.
    pub fn close(&self) -> rusqlite::Result<()> {
        match self.lock().take() {
            Some(conn) => conn.close().map_err(|(_, e)| e),
            None => Ok(()),
        }
    }

    /// Counts the rows run `run_id` left in the database at `path`, through a new connection.
    ///
    /// # Errors
    ///
    /// The SQLite error if the file cannot be opened or read.
    pub fn count_rows(path: &Path, run_id: i64) -> rusqlite::Result<RowCounts> {
        let conn = Connection::open(path)?;
        let count = |table: &str| -> rusqlite::Result<u64> {
            let n: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE run_id = ?1"),
                params![run_id],
                |row| row.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok(RowCounts {
            events: count("events")?,
            dead_letters: count("dead_letters")?,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic inside a write leaves the connection usable (the transaction rolls back on
        // drop), so a poisoned lock is not a reason to stop writing.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// SQLite integers are signed 64-bit; ids and timestamps here stay far below `i64::MAX`.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Removes a temporary database and its WAL side files, ignoring files that are not there.
pub(crate) fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_one_transaction_and_runs_do_not_mix() {
        let path = std::env::temp_dir().join(format!(
            "taskweave-demo-store-test-{}.sqlite",
            std::process::id()
        ));
        remove_database(&path);
        let event = |id| {
            Row::Event(EventRow {
                id,
                sensor: 1,
                timestamp_ms: 2,
                celsius: 3.0,
                site: "lab",
            })
        };
        let first = Store::open(&path, 10).unwrap();
        first.write_batch(&[event(1), event(2)]).unwrap();
        // A duplicate id fails the whole batch: the new row 3 must not be stored either.
        assert!(first.write_batch(&[event(3), event(1)]).is_err());
        first
            .write_batch(&[Row::DeadLetter(DeadLetter {
                id: 4,
                sensor: 1,
                timestamp_ms: 2,
                celsius: 3.0,
                reason: "test",
                error: "down".into(),
            })])
            .unwrap();
        first.close().unwrap();
        assert!(first.write_batch(&[event(5)]).is_err());

        let second = Store::open(&path, 10).unwrap();
        second.write_batch(&[event(1)]).unwrap();
        second.close().unwrap();

        assert_eq!(
            Store::count_rows(&path, first.run_id()).unwrap(),
            RowCounts {
                events: 2,
                dead_letters: 1
            }
        );
        assert_eq!(Store::count_rows(&path, second.run_id()).unwrap().events, 1);
        remove_database(&path);
    }
}
