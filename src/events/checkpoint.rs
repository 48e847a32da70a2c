//! Copies the log's WAL into its file on a thread of its own.
//!
//! SQLite's automatic checkpoint runs on the writing connection and ends
//! with fsyncs; while the writer waited on them, the channel filled and
//! records were dropped. Here the writer never checkpoints: this thread, on
//! a connection of its own, makes a passive checkpoint (one that never
//! blocks the writer) four times a second.
//!
//! Under a steady stream of records a passive checkpoint never catches up
//! with the end of the WAL, and a WAL starts over from its beginning only
//! once wholly copied: it would grow without end. So once the WAL is past
//! [`RESTART_PAST`] bytes, this thread asks the writer to [`Pause`]: it
//! keeps taking records from the channel but writes none until the copy is
//! whole (at most [`PAUSE_AT_MOST`]); its next batch starts the WAL over.
//! (A restarting checkpoint, or the writer copying the rest itself, made
//! the writer wait on locks and fsyncs long enough for records to drop.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How often the WAL is copied into the file.
const EVERY: Duration = Duration::from_millis(250);
/// The WAL's length, in bytes, past which it is made to start over.
const RESTART_PAST: i64 = 8 * 1024 * 1024;
/// The longest the writer holds its records back for a whole copy.
pub const PAUSE_AT_MOST: Duration = Duration::from_millis(500);

/// Raised while the writer should hold its records back.
#[derive(Debug, Clone, Default)]
pub struct Pause(Arc<AtomicBool>);

impl Pause {
    /// Whether the writer should hold its records back now.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// Starts the checkpointer of the log at `path`; it makes a last
/// checkpoint and ends when `writer_alive`'s sender is dropped.
pub fn spawn(path: &Path, writer_alive: Receiver<()>, pause: Pause) {
    let connection = match Connection::open(path) {
        Ok(connection) => connection,
        Err(error) => {
            tracing::error!(%error, "cannot open the event log to checkpoint it; its WAL grows");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("hookgate-log-ckpt".into())
        .spawn(move || {
            // A log keeps the page size it was made with (4 KiB before 16 KiB).
            let page_size: i64 = connection
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .unwrap_or(4096);
            run(&connection, RESTART_PAST / page_size, &writer_alive, &pause);
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the event log's checkpointer; its WAL grows");
    }
}

fn run(connection: &Connection, restart_past: i64, writer_alive: &Receiver<()>, pause: &Pause) {
    loop {
        let last = match writer_alive.recv_timeout(EVERY) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        // Best effort: a checkpoint that fails is retried soon, and the
        // writer reports the disk's troubles.
        if let Ok(wal) = passive(connection)
            && wal.pages > restart_past
        {
            copy_whole(connection, pause);
        }
        if last {
            return;
        }
    }
}

/// The WAL after a checkpoint.
struct Wal {
    pages: i64,
    copied: i64,
}

/// A checkpoint that never waits for the writer.
fn passive(connection: &Connection) -> rusqlite::Result<Wal> {
    // Its columns: busy, pages in the WAL, pages copied.
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Wal {
            pages: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// Holds the writer back until the WAL is wholly copied, or for at most
/// [`PAUSE_AT_MOST`].
fn copy_whole(connection: &Connection, pause: &Pause) {
    pause.set(true);
    let started = Instant::now();
    while started.elapsed() < PAUSE_AT_MOST {
        match passive(connection) {
            Ok(wal) if wal.copied >= wal.pages => break,
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break,
        }
    }
    pause.set(false);
}
