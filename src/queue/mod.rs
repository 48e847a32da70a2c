//! Queued delivery: verified events kept durably in an embedded SQLite store
//! and delivered in the background, with retries, by per-route workers.
//!
//! # Layout
//!
//! - `store`: the schema (`schema.sql`) and every SQL statement.
//! - `writer`: the one writing thread; concurrent writes share one
//!   transaction and one fsync (group commit).
//! - `event`: a stored event read back for delivery, and its outcome.
//! - `inspect`: counts, listings, replays and purges (admin API, `hookgate queue`).
//! - [`backoff`]: the retry schedule and a downstream's `Retry-After`.
//! - [`delivery`]: the per-route workers, on the control-plane runtime.
//! - this file: [`Queue`], what the request path, the admin API and the
//!   `hookgate queue` command call.

pub mod backoff;
pub mod delivery;
mod event;
mod inspect;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::{HeaderMap, HeaderName, HeaderValue};
use rusqlite::Connection;
use tokio::sync::Notify;

pub use event::{Finish, StoredEvent};
pub use inspect::{EventSummary, Purge, QueueStats};

use crate::forward::{Peer, outgoing_headers};
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// The event's id on every delivery attempt, for the downstream to dedupe on.
pub static EVENT_ID: HeaderName = HeaderName::from_static("x-hookgate-event-id");

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The route holds `max_queued` undelivered events already.
    #[error("route `{route}` holds {max} undelivered events, its max_queued")]
    Full {
        /// The route.
        route: String,
        /// Its `max_queued`.
        max: u64,
    },
    /// No event with this id in the asked state.
    #[error("no such event: {0}")]
    NotFound(String),
    /// The store's writer is gone (a bug, or the process is ending).
    #[error("the store is unavailable")]
    Unavailable,
    /// The store file could not be opened or created.
    #[error("cannot open the store {}: {reason}", path.display())]
    Open {
        /// The configured path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// SQLite refused a statement or a commit.
    #[error("store error: {0}")]
    Store(#[source] Arc<rusqlite::Error>),
}

impl From<rusqlite::Error> for QueueError {
    fn from(error: rusqlite::Error) -> Self {
        QueueError::Store(Arc::new(error))
    }
}

/// The store of one gateway: a writing thread, a reading connection, and a
/// wake-up per route for its delivery worker.
#[derive(Debug)]
pub struct Queue {
    path: PathBuf,
    writer: writer::Writer,
    reader: Arc<Mutex<Connection>>,
    kicks: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Queue {
    /// Opens the store at `path`, creating the file and its directory if needed.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let failed = |reason: String| QueueError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        let writing = store::connect(path).map_err(|e| failed(e.to_string()))?;
        let reading = store::connect(path).map_err(|e| failed(e.to_string()))?;
        let writer = writer::Writer::spawn(writing).map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer,
            reader: Arc::new(Mutex::new(reading)),
            kicks: Mutex::default(),
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a verified event of `route` (the headers it will be forwarded
    /// with, the exact body) and returns its id once it is on disk; refuses
    /// when the route already holds `max_queued` undelivered events.
    pub async fn ingest(
        &self,
        route: &Route,
        headers: &HeaderMap,
        peer: Peer,
        request_id: &HeaderValue,
        body: &VerifiedBody,
    ) -> Result<String, QueueError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (name, max) = (route.name.clone(), route.queue.max_queued);
        // Stored as they will be forwarded; delivery passes them through
        // the same rules again, which leaves them as they are.
        let forwarded = outgoing_headers(headers, peer, request_id, &route.route_header);
        let (headers, body) = (event::encode_headers(&forwarded), body.bytes().clone());
        let request_id = String::from_utf8_lossy(request_id.as_bytes()).into_owned();
        let event_id = id.clone();
        let received_at = unix_ms(SystemTime::now());
        self.writer
            .run(move |conn| {
                if store::undelivered(conn, &name)? >= max {
                    return Err(QueueError::Full { route: name, max });
                }
                let row = store::Row {
                    id: &event_id,
                    route: &name,
                    received_at,
                    request_id: &request_id,
                    headers: &headers,
                    body: &body,
                };
                Ok(store::insert(conn, &row)?)
            })
            .await?;
        self.kick(&route.name);
        Ok(id)
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

    /// The wake-up of `route`'s delivery worker.
    fn kicker(&self, route: &str) -> Arc<Notify> {
        let mut kicks = self.kicks.lock().unwrap_or_else(|e| e.into_inner());
        kicks.entry(route.to_string()).or_default().clone()
    }

    /// Wakes `route`'s delivery worker: something is due.
    fn kick(&self, route: &str) {
        self.kicker(route).notify_one();
    }
}

fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}
