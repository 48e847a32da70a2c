//! The embedded backend: one SQLite file in WAL mode with one writing thread
//! doing group commit, one thread syncing each commit before it is answered,
//! and one reading connection.

pub(super) mod sql;
mod syncer;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use rusqlite::Connection;

use super::event::{Due, Finish, Stored, StoredEvent};
use super::inspect::{EventSummary, Purge, QueueStats};
use super::state::EventState;
use super::store::{NewEvent, Store, Ticket};
use super::{QueueError, from_unix_ms, unix_ms};

/// The SQLite store: its writing thread and its reading connection.
#[derive(Debug)]
pub(super) struct Sqlite {
    path: PathBuf,
    writer: writer::Writer,
    reader: Arc<Mutex<Connection>>,
}

impl Sqlite {
    /// Opens the store at `path`, creating the file and its directory if needed.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let failed = |reason: String| QueueError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        let writing = sql::connect_writer(path).map_err(|e| failed(e.to_string()))?;
        let reading = sql::connect(path).map_err(|e| failed(e.to_string()))?;
        let wal = sql::open_wal(&writing).map_err(|e| failed(e.to_string()))?;
        let syncer = syncer::Syncer::spawn(wal).map_err(|e| failed(e.to_string()))?;
        let writer = writer::Writer::spawn(writing, syncer).map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            reader: Arc::new(Mutex::new(reading)),
        })
    }

    /// Runs `work` on the reading connection, off the async threads.
    async fn read<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let reader = self.reader.clone();
        let read = tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
            work(&conn)
        });
        Ok(read.await.map_err(|_| QueueError::Unavailable)??)
    }
}

#[async_trait]
impl Store for Sqlite {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// Reads ahead: an event read is claimed by nobody else, so it may wait
    /// in memory for a slot.
    fn reads_ahead(&self) -> bool {
        true
    }

    /// Stores `event` once it is on disk, unless its route is full.
    async fn ingest(&self, event: NewEvent) -> Result<(), QueueError> {
        self.ingest_all(vec![event]).await
    }

    /// Stores every one of `events` with one sync, or none if one's route
    /// is full.
    async fn ingest_all(&self, events: Vec<NewEvent>) -> Result<(), QueueError> {
        self.writer
            .run_counting(move |conn, held| {
                let mut counts = Vec::with_capacity(events.len());
                for event in &events {
                    let (route, max) = (&event.route, event.max_queued);
                    let undelivered = match held.get(route) {
                        Some(n) => *n,
                        None => sql::undelivered(conn, route)?,
                    };
                    if undelivered >= max {
                        let route = route.clone();
                        return Err(QueueError::Full { route, max });
                    }
                    counts.push(undelivered);
                }
                for (event, undelivered) in events.iter().zip(counts) {
                    let row = sql::Row {
                        id: &event.id,
                        route: &event.route,
                        received_at: event.received_at,
                        request_id: &event.request_id,
                        headers: &event.headers,
                        body: &event.body,
                    };
                    sql::insert(conn, &row).map_err(|error| match error {
                        // UNIQUE (route, id): the event is in the store already.
                        rusqlite::Error::SqliteFailure(cause, _)
                            if cause.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                        {
                            QueueError::Exists(event.id.clone())
                        }
                        other => other.into(),
                    })?;
                    held.insert(event.route.clone(), undelivered + 1);
                }
                Ok(())
            })
            .await
    }

    /// Up to `limit` due events of `route` not in `claimed`, oldest stored first.
    async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<Ticket>,
    ) -> Result<Due, QueueError> {
        let claimed = claimed
            .iter()
            .map(Ticket::row)
            .collect::<Result<HashSet<_>, _>>()?;
        let route = route.to_string();
        self.read(move |conn| {
            let now = unix_ms(SystemTime::now());
            let rows = sql::due(conn, &route, now, limit, &claimed)?;
            let returned: HashSet<i64> = rows.iter().map(|row| row.seq).collect();
            let events: Vec<StoredEvent> =
                rows.into_iter().map(|row| row.into_event(&route)).collect();
            // Fewer than asked for: every event due now is claimed or
            // returned, and the next one to come due is waiting for a retry.
            let next = match events.len() == limit {
                true => Some(SystemTime::now()),
                false => sql::next_retries(conn, &route, claimed.len() + events.len() + 1)?
                    .into_iter()
                    .find(|(seq, _)| !claimed.contains(seq) && !returned.contains(seq))
                    .map(|(_, at)| from_unix_ms(at)),
            };
            Ok(Due { events, next })
        })
        .await
    }

    /// Records the outcome of an attempt at `event`. Not waiting for the
    /// sync: a power cut that undoes it makes the event attempted again,
    /// which at-least-once delivery allows.
    async fn finish(
        &self,
        _route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError> {
        let seq = event.ticket.row()?;
        self.writer
            .run_unsynced(move |conn| {
                let now = SystemTime::now();
                match outcome {
                    Finish::Delivered { keep } => sql::delivered(conn, seq, unix_ms(now), keep),
                    Finish::Retry { error, wait } => {
                        sql::failed(conn, seq, &error, unix_ms(now + wait))
                    }
                    Finish::Deferred { error, wait } => {
                        sql::deferred(conn, seq, &error, unix_ms(now + wait))
                    }
                    Finish::Dead { error } => sql::dead(conn, seq, &error, unix_ms(now)),
                }?;
                Ok(())
            })
            .await
    }

    /// Deletes delivered events of `route` finished at or before `cutoff`.
    async fn sweep(&self, route: &str, cutoff: SystemTime) -> Result<u64, QueueError> {
        let route = route.to_string();
        self.writer
            .run_unsynced(move |conn| Ok(sql::sweep(conn, &route, unix_ms(cutoff))?))
            .await
    }

    /// The counts and the oldest pending event of `route`.
    async fn stats(&self, route: &str) -> Result<QueueStats, QueueError> {
        let route = route.to_string();
        self.read(move |conn| {
            let mut stats = QueueStats::default();
            for (state, n) in sql::counts(conn, &route)? {
                match state {
                    EventState::Pending => stats.pending = n,
                    EventState::Dead => stats.dead = n,
                    EventState::Delivered => stats.delivered = n,
                }
            }
            stats.oldest_pending = sql::oldest_pending(conn, &route)?.map(from_unix_ms);
            Ok(stats)
        })
        .await
    }

    /// Up to `limit` events of `route`, oldest first; only `state` when given.
    async fn list(
        &self,
        route: &str,
        state: Option<EventState>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, QueueError> {
        let route = route.to_string();
        let rows = self
            .read(move |conn| sql::list(conn, &route, state, limit))
            .await?;
        Ok(rows.into_iter().map(EventSummary::from).collect())
    }

    /// Dead letters of `route` (only `id` when given) back to pending; how many.
    async fn replay(&self, route: &str, id: Option<&str>) -> Result<u64, QueueError> {
        let (route, id) = (route.to_string(), id.map(str::to_string));
        self.writer
            .run(move |conn| {
                let now = unix_ms(SystemTime::now());
                Ok(sql::replay(conn, &route, id.as_deref(), now)?)
            })
            .await
    }

    /// Deletes events of `route`: `what`, only `id` when given; how many.
    async fn purge(&self, route: &str, what: Purge, id: Option<&str>) -> Result<u64, QueueError> {
        let (route, id) = (route.to_string(), id.map(str::to_string));
        self.writer
            .run(move |conn| {
                let states: &[EventState] = match what {
                    Purge::DeadLetters => &[EventState::Dead],
                    Purge::Everything => &EventState::ALL,
                };
                Ok(sql::purge(conn, &route, states, id.as_deref())?)
            })
            .await
    }
}

impl sql::DueRow {
    /// The event of `route` in this row.
    fn into_event(self, route: &str) -> StoredEvent {
        let stored = Stored {
            route,
            request_id: &self.request_id,
            headers: &self.headers,
            body: self.body.into(),
        };
        StoredEvent::new(Ticket::Row(self.seq), self.id, self.attempts, stored)
    }
}

impl From<sql::SummaryRow> for EventSummary {
    fn from(row: sql::SummaryRow) -> Self {
        Self {
            id: row.id,
            state: row.state,
            attempts: row.attempts,
            received_at: from_unix_ms(row.received_at),
            next_attempt_at: from_unix_ms(row.next_attempt_at),
            last_error: row.last_error,
        }
    }
}
