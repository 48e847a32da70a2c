//! Queued delivery: verified events kept durably (in an embedded SQLite file,
//! or on Redis Streams shared by several instances) and delivered in the
//! background, with retries, by per-route workers.
//!
//! # Layout
//!
//! - `sqlite`: the embedded backend, with `store` (the schema in
//!   `schema.sql` and every SQL statement), `writer` (the one writing
//!   thread; concurrent writes share one transaction) and `syncer` (the
//!   thread whose one fsync makes a batch durable before it is answered).
//! - `streams`: the backend on Redis Streams (a consumer group per route,
//!   reclaiming of events left by a dead instance, a dead-letter stream).
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
mod slot;
mod sqlite;
mod store;
mod streams;
mod syncer;
#[cfg(test)]
mod tests;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use event::Due;
pub use event::{Finish, StoredEvent};
pub use inspect::{EventSummary, Purge, QueueStats};
pub use slot::QueueSlot;

use crate::config::{StoreBackend, StoreSettings};
use crate::forward::{Peer, outgoing_headers};
use crate::redis_link::Link;
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// How long a Redis command of the queue may wait for its answer: a batch
/// of event bodies read for delivery can take longer than a dedupe check.
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The event's id on every delivery attempt, for the downstream to dedupe on.
pub static EVENT_ID: HeaderName = HeaderName::from_static("x-hookgate-event-id");

/// Why a queue operation failed.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The store's file could not be synced to disk: writes are refused
    /// until a restart.
    #[error("cannot sync the store to disk: {0}")]
    Sync(#[source] Arc<std::io::Error>),
    /// Redis did not answer, or refused a command.
    #[error("Redis is unavailable: {0}")]
    Redis(String),
}

impl From<redis::RedisError> for QueueError {
    fn from(error: redis::RedisError) -> Self {
        QueueError::Redis(error.to_string())
    }
}

impl From<crate::redis_link::Unavailable> for QueueError {
    fn from(error: crate::redis_link::Unavailable) -> Self {
        QueueError::Redis(error.to_string())
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(error: rusqlite::Error) -> Self {
        QueueError::Store(Arc::new(error))
    }
}

/// What a store needs to record an attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Ticket {
    /// The event's row (`seq`) in the SQLite file.
    Row(i64),
    /// The stream entry a Redis consumer read the event from.
    Entry(String),
}

impl Ticket {
    fn row(&self) -> Option<i64> {
        match self {
            Ticket::Row(seq) => Some(*seq),
            Ticket::Entry(_) => None,
        }
    }

    fn entry(&self) -> Option<&str> {
        match self {
            Ticket::Entry(entry) => Some(entry),
            Ticket::Row(_) => None,
        }
    }
}

/// An event as a backend stores it.
#[derive(Debug)]
pub(crate) struct NewEvent {
    id: String,
    route: String,
    max_queued: u64,
    received_at: i64,
    request_id: String,
    headers: Vec<u8>,
    body: bytes::Bytes,
}

/// Where events are kept.
#[derive(Debug)]
enum Backend {
    /// One SQLite file, this instance's own.
    Sqlite(sqlite::Sqlite),
    /// Redis Streams, shared by every instance on that Redis.
    Redis(Box<streams::Streams>),
}

/// The store of one gateway, and a wake-up per route for its delivery worker.
#[derive(Debug)]
pub struct Queue {
    backend: Backend,
    kicks: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Queue {
    /// Opens the store `settings` name: the SQLite file (created with its
    /// directory if needed), or Redis (connected on first use).
    pub fn open(settings: &StoreSettings) -> Result<Self, QueueError> {
        let backend = match &settings.backend {
            StoreBackend::Embedded => Backend::Sqlite(sqlite::Sqlite::open(&settings.path)?),
            StoreBackend::Redis { url, prefix } => {
                // Unreachable in practice: the URL was checked at config load.
                let link = Link::new(url.expose_secret(), REDIS_RESPONSE_TIMEOUT)?;
                let streams = streams::Streams::new(link, prefix, settings.visibility_timeout);
                Backend::Redis(Box::new(streams))
            }
        };
        Ok(Self {
            backend,
            kicks: Mutex::default(),
        })
    }

    /// Where events are kept, for logs and listings.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(store) => store.path().display().to_string(),
            Backend::Redis(streams) => streams.describe(),
        }
    }

    /// Stores a verified event of `route` (the headers it will be forwarded
    /// with, the exact body) and returns its id once it is durable; refuses
    /// when the route already holds `max_queued` undelivered events.
    pub async fn ingest(
        &self,
        route: &Route,
        headers: &HeaderMap,
        peer: Peer,
        request_id: &HeaderValue,
        body: &VerifiedBody,
    ) -> Result<String, QueueError> {
        // Stored as they will be forwarded; delivery passes them through
        // the same rules again, which leaves them as they are.
        let forwarded = outgoing_headers(headers, peer, request_id, &route.route_header);
        let event = NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            route: route.name.clone(),
            max_queued: route.queue.max_queued,
            received_at: unix_ms(SystemTime::now()),
            request_id: String::from_utf8_lossy(request_id.as_bytes()).into_owned(),
            headers: event::encode_headers(&forwarded),
            body: body.bytes().clone(),
        };
        let id = event.id.clone();
        match &self.backend {
            Backend::Sqlite(store) => store.ingest(event).await,
            Backend::Redis(streams) => streams.ingest(event).await,
        }?;
        self.kick(&route.name);
        Ok(id)
    }

    /// Whether delivery may read events ahead of its free slots. Not on
    /// Redis: reading an event claims it for this instance, and a claim held
    /// while the event waits for a slot could outlast `visibility_timeout`.
    pub(crate) fn reads_ahead(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// Up to `limit` events of `route` due now and not in `claimed` (being
    /// attempted already), oldest stored first.
    pub(crate) async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<Ticket>,
    ) -> Result<Due, QueueError> {
        match &self.backend {
            Backend::Sqlite(store) => {
                let rows = claimed.iter().filter_map(Ticket::row).collect();
                store.due(route, limit, rows).await
            }
            Backend::Redis(streams) => streams.due(route, limit, claimed).await,
        }
    }

    /// Records the outcome of an attempt at `event` of `route`.
    pub(crate) async fn finish(
        &self,
        route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError> {
        match (&self.backend, &event.ticket) {
            (Backend::Sqlite(store), Ticket::Row(seq)) => store.finish(*seq, outcome).await,
            (Backend::Redis(streams), Ticket::Entry(_)) => {
                streams.finish(route, event, outcome).await
            }
            _ => Err(QueueError::Unavailable),
        }
    }

    /// Deletes delivered events of `route` older than `keep_for` (all of them
    /// when the route keeps none); returns how many.
    pub(crate) async fn sweep(
        &self,
        route: &str,
        keep_for: Option<Duration>,
    ) -> Result<u64, QueueError> {
        let cutoff = SystemTime::now() - keep_for.unwrap_or_default();
        match &self.backend {
            Backend::Sqlite(store) => store.sweep(route, cutoff).await,
            Backend::Redis(streams) => streams.sweep(route, cutoff).await,
        }
    }

    /// Wakes up when `route` may have a new event due (an ingest, a replay).
    pub(crate) async fn kicked(&self, route: &str) {
        self.kicker(route).notified().await;
    }

    /// The wake-up of `route`'s delivery worker.
    fn kicker(&self, route: &str) -> Arc<Notify> {
        let mut kicks = self.kicks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kicker) = kicks.get(route) {
            return kicker.clone();
        }
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
