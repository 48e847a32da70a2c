//! The log's one writer thread: gathers records into batches, inserts them,
//! and prunes each route as it goes.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use rusqlite::{Connection, Statement, params};

use super::checkpoint::{PAUSE_AT_MOST, Pause};
use super::prune::{Limits, Pruner};
use super::query::delivery_key;
use super::record::unix_ms;
use super::upgrade::upgrade;
use super::{AttemptRecord, Entry, RequestRecord};
use crate::quiet::Quiet;

/// The most records in one transaction.
const MAX_BATCH: usize = 1024;
/// The most records held back during a [`Pause`] (besides the channel's).
const MAX_HELD: usize = 2 * MAX_BATCH;
/// How long the writer waits for a record before it prunes a bigger step.
const IDLE: Duration = Duration::from_secs(1);
/// The most expired records of each route deleted per idle second.
const IDLE_PRUNE: usize = 10_000;
/// How long records gather after the first one before they are written.
///
/// A transaction per record cost more than the record itself: its file
/// locks, its WAL pages and checksums, and a wake-up of this thread per
/// request. Gathering for a moment makes one transaction of hundreds.
const GATHER: Duration = Duration::from_millis(50);
/// How often the channel is emptied while records gather: often enough that
/// it never fills at any rate the gateway serves, and while the writer
/// sleeps a request's `try_send` wakes nobody.
const GATHER_STEP: Duration = Duration::from_millis(5);
/// How long a write waits for a lock held by another connection (a
/// `sqlite3` shell, a backup) before its batch is given up. Long enough to
/// ride out a brief lock without losing a record; a longer stall loses one
/// batch per wait, counted as dropped, while the channel in front keeps
/// requests from waiting at all.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page size of a new log file.
const PAGE_SIZE: i64 = 16 * 1024;

/// What a WAL that grew is cut back to when it starts over.
///
/// At saturation the checkpointer cannot always copy the whole WAL within
/// its pause, and the WAL grows past [`checkpoint`](super::checkpoint)'s
/// 8 MiB. Cut back to 64 MiB, it was truncated and grown again over and
/// over, and the writer waited on both: at 35,000 req/s with bodies, 1,416
/// to 8,044 records dropped in each of three 10 s runs and a peak RSS of
/// 48 to 49 MiB (waiting records); at 256 MiB, none dropped in three runs
/// and 39 to 44 MiB (bench/README.md). Below saturation the WAL never
/// passes 8 MiB by much, and this is never reached.
const WAL_KEPT: i64 = 256 * 1024 * 1024;

/// Opens the log at `path`, creating its directory and tables.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // 16 KiB pages (a new file only; an existing one keeps its size): a
    // record with a body of a few KiB took a 4 KiB page to itself, and its
    // insert twice the CPU (micro-benchmark, 2.2 KB bodies: 18 against 8 µs).
    connection.pragma_update(None, "page_size", PAGE_SIZE)?;
    // WAL: readers (the admin API, the CLI) never block the writer. NORMAL:
    // a power cut may lose the last records, never corrupt the file; the
    // log is a record, not the queue's promise.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // The checkpointer thread copies the WAL into the file (see
    // `checkpoint`).
    connection.pragma_update(None, "wal_autocheckpoint", 0)?;
    connection.pragma_update(None, "journal_size_limit", WAL_KEPT)?;
    upgrade(&connection)?;
    connection.execute_batch(include_str!("schema.sql"))?;
    Ok(connection)
}

/// Starts the writer; it ends when every [`super::EventLog`] is dropped,
/// and drops `alive` then (which ends the checkpointer). Records of a batch
/// it cannot write are counted in `dropped`, like those the channel could
/// not take: one number for every record not logged. It prunes the log
/// within `limits`.
pub fn spawn(
    connection: Connection,
    entries: Receiver<Entry>,
    dropped: Counter,
    alive: SyncSender<()>,
    pause: Pause,
    limits: Limits,
) {
    let spawned = std::thread::Builder::new()
        .name("hookgate-event-log".into())
        .spawn(move || {
            if !super::priority::raise_this_thread() {
                tracing::info!(
                    "the event log's writer runs at the priority it was started with: \
                     at saturation its records may be dropped sooner (docs/event-log.md)"
                );
            }
            Writer::new(connection, dropped, pause, limits).run(entries);
            drop(alive);
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the event log's writer: nothing is logged");
    }
}

struct Writer {
    connection: Connection,
    pruner: Pruner,
    pause: Pause,
    failing: Quiet,
    dropped: Counter,
}

impl Writer {
    fn new(connection: Connection, dropped: Counter, pause: Pause, limits: Limits) -> Self {
        Self {
            connection,
            dropped,
            pruner: Pruner::new(limits),
            pause,
            failing: Quiet::default(),
        }
    }

    fn run(mut self, entries: Receiver<Entry>) {
        loop {
            match entries.recv_timeout(IDLE) {
                Ok(first) => {
                    for chunk in gather(first, &entries, &self.pause).chunks(MAX_BATCH) {
                        let written = self.write(chunk);
                        if written.is_err() {
                            self.dropped.inc_by(chunk.len() as u64);
                        }
                        self.report(written);
                        // As many deletes as inserts keep up; twice as many catch up.
                        let pruned = self
                            .pruner
                            .prune_some(&mut self.connection, 2 * chunk.len());
                        self.report_failure(pruned);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let pruned = self.pruner.prune_some(&mut self.connection, IDLE_PRUNE);
                    self.report_failure(pruned);
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let refreshed = self.pruner.refresh(&self.connection);
            self.report_failure(refreshed);
        }
    }

    fn write(&mut self, batch: &[Entry]) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        // Looked up once a batch: finding a cached statement hashes its
        // text, which cost a twentieth of a record.
        let mut requests = transaction.prepare_cached(INSERT_REQUEST)?;
        let mut attempts = transaction.prepare_cached(INSERT_ATTEMPT)?;
        for entry in batch {
            match entry {
                Entry::Request { record, .. } => insert_request(&mut requests, record)?,
                Entry::Attempt {
                    event_id,
                    route,
                    attempt,
                } => insert_attempt(&mut attempts, event_id, route, attempt)?,
            }
        }
        drop((requests, attempts));
        transaction.commit()
    }

    /// Logs a failing write or prune once per interval (a full disk would
    /// otherwise log per batch).
    /// A failing prune is reported like a failing write; its success is
    /// not taken for the end of a failure (on a full disk a delete that
    /// found nothing succeeds between two failing writes).
    fn report_failure(&mut self, result: rusqlite::Result<()>) {
        if result.is_err() {
            self.report(result);
        }
    }

    fn report(&mut self, result: rusqlite::Result<()>) {
        match result {
            Ok(()) => {
                if let Some(failures) = self.failing.ended() {
                    tracing::info!(failures, "the event log is written again");
                }
            }
            Err(error) => {
                if let Some(held_back) = self.failing.occurred() {
                    tracing::error!(%error, held_back, "cannot write the event log; records are lost");
                }
            }
        }
    }
}

/// `first` and what follows it within [`GATHER`], or until a full batch;
/// longer, while the checkpointer asks for a [`Pause`].
fn gather(first: Entry, entries: &Receiver<Entry>, pause: &Pause) -> Vec<Entry> {
    let started = Instant::now();
    let mut batch = vec![first];
    loop {
        let waited = started.elapsed();
        let paused = pause.is_on() && waited < PAUSE_AT_MOST && batch.len() < MAX_HELD;
        if !paused && (waited >= GATHER || batch.len() >= MAX_BATCH) {
            return batch;
        }
        std::thread::sleep(GATHER_STEP);
        batch.extend(entries.try_iter());
    }
}

const INSERT_REQUEST: &str = "INSERT INTO events (id, received_at, route, \
     request_id, delivery_id, status, outcome, reason, body_size, duration_ms, headers, body, \
     delivery_key, attempt_at, attempt_status, attempt_duration_ms, attempt_answer, \
     attempt_destination) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

const INSERT_ATTEMPT: &str = "INSERT INTO attempts (event_id, route, at, status, duration_ms, \
     answer, destination) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn insert_request(insert: &mut Statement<'_>, record: &RequestRecord) -> rusqlite::Result<()> {
    let route = &record.route;
    // JSON is UTF-8: stored as TEXT, as the schema says.
    let headers = record
        .headers
        .as_ref()
        .map(|headers| String::from_utf8(headers.redacted_json(route)).expect("JSON is UTF-8"));
    let attempt = record.attempt.as_ref();
    insert.execute(params![
        record.id,
        unix_ms(record.received_at),
        route.name,
        record.request_id,
        record.delivery_id,
        record.status,
        record.outcome,
        record.reason,
        record.body_size as i64,
        record.duration_ms as i64,
        headers,
        record.body.as_deref(),
        record.delivery_id.as_deref().map(delivery_key),
        attempt.map(|a| unix_ms(a.at)),
        attempt.and_then(|a| a.status),
        attempt.map(|a| a.duration_ms as i64),
        attempt.map(|a| a.answer.as_str()),
        attempt.map(|a| a.destination.as_str()),
    ])?;
    Ok(())
}

fn insert_attempt(
    insert: &mut Statement<'_>,
    event_id: &str,
    route: &str,
    attempt: &AttemptRecord,
) -> rusqlite::Result<()> {
    insert.execute(params![
        event_id,
        route,
        unix_ms(attempt.at),
        attempt.status,
        attempt.duration_ms as i64,
        attempt.answer,
        attempt.destination,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn a_batch_the_writer_cannot_write_is_counted_as_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hookgate-events.db");
        let connection = open(&path).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let dropped = Counter::default();
        let (entries, received) = std::sync::mpsc::sync_channel(1);
        let (alive, _writer_alive) = std::sync::mpsc::sync_channel(0);
        spawn(
            connection,
            received,
            dropped.clone(),
            alive,
            Pause::default(),
            Limits {
                routes: Box::new(HashMap::new),
                max_bytes: u64::MAX,
            },
        );

        let attempt = AttemptRecord {
            at: SystemTime::now(),
            status: Some(200),
            duration_ms: 1,
            answer: String::new(),
            destination: "default".into(),
        };
        let (event_id, route) = ("e1".to_string(), "r".to_string());
        entries
            .send(Entry::Attempt {
                event_id,
                route,
                attempt,
            })
            .unwrap();

        // The write waits BUSY_TIMEOUT for the lock, then gives up.
        let deadline = Instant::now() + BUSY_TIMEOUT * 6;
        while dropped.get() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(dropped.get(), 1);
    }
}
