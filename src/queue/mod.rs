//! Queued delivery: verified events kept durably (in an embedded SQLite file,
//! or on Redis Streams shared by several instances) and delivered in the
//! background, with retries, by per-route workers.
//!
//! # Layout
//!
//! - `store`: the `Store` trait every backend implements,
//!   and what goes through it.
//! - `sqlite`: the embedded backend, with `sql` (the schema in
//!   `schema.sql` and every SQL statement), `writer` (the one writing
//!   thread; concurrent writes share one transaction) and `syncer` (the
//!   thread whose one fsync makes a batch durable before it is answered).
//! - `streams`: the backend on Redis Streams (a consumer group per route,
//!   reclaiming of events left by a dead instance, a dead-letter stream).
//! - `event`: a stored event read back for delivery, and its outcome.
//! - `state`: [`EventState`], as stored and shown.
//! - `inspect`: counts, listings, replays and purges (admin API, `hookgate queue`).
//! - [`backoff`]: the retry schedule and a downstream's `Retry-After`.
//! - `quiet`: a lasting store fault logged once per interval, not per try.
//! - [`delivery`]: the per-route workers, on a runtime of their own.
//! - this file: [`Queue`], what the request path, the admin API and the
//!   `hookgate queue` command call.

pub mod backoff;
pub mod delivery;
mod event;
mod inspect;
mod slot;
mod sqlite;
mod state;
mod store;
mod streams;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use poem::http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use event::Due;
pub use event::{Finish, StoredEvent};
pub use inspect::{EventSummary, Purge, QueueStats};
pub use slot::QueueSlot;
pub use state::{EventState, UnknownState};
use store::{NewEvent, Store, Ticket};

use crate::config::{StoreBackend, StoreSettings};
use crate::forward::{Outbound, Peer};
use crate::redis_link::Link;
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// How long storing an event on Redis may wait for its answer, on the
/// request path; work off it (delivery, housekeeping, the admin API) waits
/// longer (see `streams`).
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

pub use crate::forward::EVENT_ID;

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
    /// An event with this id is in the store already (pending, a dead
    /// letter, or delivered and kept for `retention`): a replay of it.
    #[error("event `{0}` is in the store of queued events already")]
    Exists(String),
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
    /// The store holds a state this hookgate does not know.
    #[error(transparent)]
    UnknownState(#[from] UnknownState),
    /// An event handed to a store other than the one it was read from: a bug.
    #[error("an event of another store")]
    ForeignTicket,
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

/// The store of one gateway, and a wake-up per route for its delivery worker.
#[derive(Debug)]
pub struct Queue {
    store: Box<dyn Store>,
    kicks: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Queue {
    /// Opens the store `settings` name: the SQLite file (created with its
    /// directory if needed), or Redis (connected on first use).
    pub fn open(settings: &StoreSettings) -> Result<Self, QueueError> {
        let store: Box<dyn Store> = match &settings.backend {
            StoreBackend::Embedded => Box::new(sqlite::Sqlite::open(&settings.path)?),
            StoreBackend::Redis { url, prefix } => {
                // Unreachable in practice: the URL was checked at config load.
                let link = Link::new(url.expose_secret(), REDIS_RESPONSE_TIMEOUT)?;
                let streams = streams::Streams::new(link, prefix, settings.visibility_timeout);
                Box::new(streams)
            }
        };
        Ok(Self {
            store,
            kicks: Mutex::default(),
        })
    }

    /// Where events are kept, for logs and listings.
    pub fn describe(&self) -> String {
        self.store.describe()
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
        let outbound = Outbound::new(route, headers, peer, request_id, body);
        self.store_outbound(&outbound, route.queue.max_queued).await
    }

    /// Stores `outbound` again under its own `id`, e.g. an event from the
    /// event log, for delivery (with retries) to its route's downstream.
    pub async fn resend(&self, outbound: &Outbound, id: &str) -> Result<(), QueueError> {
        let lanes = [outbound.lane()];
        self.store_for(outbound, &lanes, Some(id), u64::MAX).await?;
        Ok(())
    }

    /// Stores `outbound` as it is (delivery sends it without a second pass
    /// of the header rules) under a new id, which it returns.
    async fn store_outbound(
        &self,
        outbound: &Outbound,
        max_queued: u64,
    ) -> Result<String, QueueError> {
        self.store_for(outbound, &[outbound.lane()], None, max_queued)
            .await
    }

    /// Stores `outbound` once for each destination queue of `lanes`, under
    /// `id` or a fresh one (returned), once durable; refuses when one of
    /// them holds `max_queued` undelivered events.
    pub async fn store_for(
        &self,
        outbound: &Outbound,
        lanes: &[&str],
        id: Option<&str>,
        max_queued: u64,
    ) -> Result<String, QueueError> {
        let first = NewEvent::new(outbound, max_queued);
        let id = id.map_or_else(|| first.id.clone(), str::to_string);
        let events: Vec<NewEvent> = (lanes.iter())
            .map(|lane| NewEvent {
                id: id.clone(),
                route: lane.to_string(),
                max_queued: first.max_queued,
                received_at: first.received_at,
                headers: first.headers.clone(),
                request_id: first.request_id.clone(),
                body: first.body.clone(),
            })
            .collect();
        self.store.ingest_all(events).await?;
        for lane in lanes {
            self.kick(lane);
        }
        Ok(id)
    }

    /// Whether delivery may read events ahead of its free slots. Not on
    /// Redis: reading an event claims it for this instance, and a claim held
    /// while the event waits for a slot could outlast `visibility_timeout`.
    pub(crate) fn reads_ahead(&self) -> bool {
        self.store.reads_ahead()
    }

    /// Up to `limit` events of `route` due now and not in `claimed` (being
    /// attempted already), oldest stored first.
    pub(crate) async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<Ticket>,
    ) -> Result<Due, QueueError> {
        self.store.due(route, limit, claimed).await
    }

    /// Records the outcome of an attempt at `event` of `route`.
    pub(crate) async fn finish(
        &self,
        route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError> {
        self.store.finish(route, event, outcome).await
    }

    /// Deletes delivered events of `route` older than `keep_for` (all of them
    /// when the route keeps none); returns how many.
    pub(crate) async fn sweep(
        &self,
        route: &str,
        keep_for: Option<Duration>,
    ) -> Result<u64, QueueError> {
        let cutoff = SystemTime::now() - keep_for.unwrap_or_default();
        self.store.sweep(route, cutoff).await
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
