//! The log's one writer thread: batches inserts, prunes each route.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::metrics::counter::Counter;
use rusqlite::{Connection, params};

use super::record::{redacted_headers, unix_ms};
use super::{AttemptRecord, Entry, RequestRecord};
use crate::quiet::Quiet;

/// The most records in one transaction.
const MAX_BATCH: usize = 1024;
/// How often every route is pruned to its retention and `max_events`.
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// How long a write waits for a lock held by another connection (a
/// `sqlite3` shell, a backup) before its batch is given up. Long enough to
/// ride out a brief lock without losing a record; a longer stall loses one
/// batch per wait, counted as dropped, while the channel in front keeps
/// requests from waiting at all.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the log at `path`, creating its directory and tables.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers (the admin API, the CLI) never block the writer. NORMAL:
    // a power cut may lose the last records, never corrupt the file; the
    // log is a record, not the queue's promise.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.execute_batch(include_str!("schema.sql"))?;
    Ok(connection)
}

/// Starts the writer; it ends when every [`super::EventLog`] is dropped.
/// Records of a batch it cannot write are counted in `dropped`, like those
/// the channel could not take: one number for every record not logged.
pub fn spawn(connection: Connection, entries: Receiver<Entry>, dropped: Counter) {
    let spawned = std::thread::Builder::new()
        .name("hookgate-event-log".into())
        .spawn(move || Writer::new(connection, dropped).run(entries));
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the event log's writer: nothing is logged");
    }
}

/// A route's bounds, as its latest record gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bounds {
    retention_ms: u64,
    max_events: u64,
}

struct Writer {
    connection: Connection,
    bounds: HashMap<String, Bounds>,
    pruned_at: Instant,
    failing: Quiet,
    dropped: Counter,
}

impl Writer {
    fn new(connection: Connection, dropped: Counter) -> Self {
        Self {
            connection,
            dropped,
            bounds: HashMap::new(),
            pruned_at: Instant::now(),
            failing: Quiet::default(),
        }
    }

    fn run(mut self, entries: Receiver<Entry>) {
        loop {
            match entries.recv_timeout(PRUNE_EVERY) {
                Ok(first) => {
                    let mut batch = vec![first];
                    batch.extend(entries.try_iter().take(MAX_BATCH - 1));
                    let written = self.write(&batch);
                    if written.is_err() {
                        self.dropped.inc_by(batch.len() as u64);
                    }
                    self.report(written);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.pruned_at.elapsed() >= PRUNE_EVERY {
                let pruned = self.prune();
                self.report(pruned);
                self.pruned_at = Instant::now();
            }
        }
    }

    fn write(&mut self, batch: &[Entry]) -> rusqlite::Result<()> {
        let transaction = self.connection.transaction()?;
        for entry in batch {
            match entry {
                Entry::Request(record) => {
                    insert_request(&transaction, record)?;
                    let log = &record.route.log;
                    let bounds = Bounds {
                        retention_ms: log.retention.as_millis() as u64,
                        max_events: log.max_events,
                    };
                    if self
                        .bounds
                        .get(&record.route.name)
                        .is_none_or(|b| *b != bounds)
                    {
                        self.bounds.insert(record.route.name.clone(), bounds);
                    }
                }
                Entry::Attempt {
                    event_id,
                    route,
                    attempt,
                } => insert_attempt(&transaction, event_id, route, attempt)?,
            }
        }
        transaction.commit()
    }

    fn prune(&mut self) -> rusqlite::Result<()> {
        let now = unix_ms(SystemTime::now());
        for (route, bounds) in &self.bounds {
            let cutoff = now - bounds.retention_ms as i64;
            prune_route(&self.connection, route, cutoff, bounds.max_events)?;
        }
        Ok(())
    }

    /// Logs a failing write or prune once per interval (a full disk would
    /// otherwise log per batch).
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

fn insert_request(connection: &Connection, record: &RequestRecord) -> rusqlite::Result<()> {
    let route = &record.route;
    let headers = record.headers.as_ref().map(|headers| {
        let pairs = redacted_headers(route, headers);
        serde_json::to_string(&pairs).expect("pairs of strings serialize")
    });
    // Cached: parsing the statement again for every record cost more than the insert.
    let mut insert = connection.prepare_cached(
        "INSERT OR REPLACE INTO events (id, received_at, route, request_id, delivery_id, status, \
         outcome, reason, body_size, duration_ms, headers, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
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
    ])?;
    if let Some(attempt) = &record.attempt {
        insert_attempt(connection, &record.id, &route.name, attempt)?;
    }
    Ok(())
}

fn insert_attempt(
    connection: &Connection,
    event_id: &str,
    route: &str,
    attempt: &AttemptRecord,
) -> rusqlite::Result<()> {
    let mut insert = connection.prepare_cached(
        "INSERT INTO attempts (event_id, route, at, status, duration_ms, answer) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    insert.execute(params![
        event_id,
        route,
        unix_ms(attempt.at),
        attempt.status,
        attempt.duration_ms as i64,
        attempt.answer,
    ])?;
    Ok(())
}

/// Deletes `route`'s records older than `cutoff` (Unix ms) and all but its
/// newest `max_events`, with their attempts.
///
/// Ids are UUIDv7, ordered by time, so both bounds become one id bound and
/// each delete is a range on an index, never a scan of the table (whose
/// rows hold the bodies).
fn prune_route(
    connection: &Connection,
    route: &str,
    cutoff: i64,
    max_events: u64,
) -> rusqlite::Result<()> {
    let oldest_kept: Option<String> = connection
        .prepare_cached(
            "SELECT id FROM events WHERE route = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2",
        )?
        .query_row(params![route, max_events as i64 - 1], |row| row.get(0))
        .ok();
    let by_age = first_id_at(cutoff);
    let bound = match oldest_kept {
        Some(by_count) if by_count > by_age => by_count,
        _ => by_age,
    };
    connection
        .prepare_cached("DELETE FROM events WHERE route = ?1 AND id < ?2")?
        .execute(params![route, bound])?;
    connection
        .prepare_cached("DELETE FROM attempts WHERE route = ?1 AND event_id < ?2")?
        .execute(params![route, bound])?;
    Ok(())
}

/// The smallest UUIDv7 (as text) of the millisecond `ms`: every id made at
/// or after `ms` sorts at or after it.
fn first_id_at(ms: i64) -> String {
    let ms = ms.max(0) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
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
        spawn(connection, received, dropped.clone());

        let attempt = AttemptRecord {
            at: SystemTime::now(),
            status: Some(200),
            duration_ms: 1,
            answer: String::new(),
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

    #[test]
    fn the_first_id_of_a_millisecond_sorts_between_the_ids_around_it() {
        let before = uuid::Uuid::now_v7().to_string();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let bound = first_id_at(unix_ms(SystemTime::now()) - 1);
        let after = uuid::Uuid::now_v7().to_string();
        assert!(before < bound && bound < after, "{before} {bound} {after}");
    }
}
