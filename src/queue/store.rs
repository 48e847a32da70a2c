//! What a backend does: the [`Store`] trait, which the SQLite file and Redis
//! Streams implement, and what passes through it (a [`NewEvent`] in, a
//! [`Ticket`] to record an attempt's outcome).

use std::collections::HashSet;
use std::time::SystemTime;

use async_trait::async_trait;

use super::event::{Due, Finish, StoredEvent, encode_headers};
use super::inspect::{EventSummary, Purge, QueueStats};
use super::state::EventState;
use super::{QueueError, unix_ms};
use crate::forward::Outbound;

/// Where events are kept.
///
/// Used as `Box<dyn Store>`: the backend is picked from the config at run
/// time, and a generic `Queue<S>` would spread that parameter to every
/// holder of the queue (the slot, the admin API, delivery, the CLI) for the
/// saving of one boxed future per call, next to a disk sync or a network
/// round trip. `async_trait` because an `async fn` of a trait cannot be
/// called through `dyn` otherwise.
#[async_trait]
pub(crate) trait Store: std::fmt::Debug + Send + Sync {
    /// Where events are kept, for logs and listings.
    fn describe(&self) -> String;

    /// Whether delivery may read events ahead of its free slots.
    fn reads_ahead(&self) -> bool;

    /// Stores `event` once it is durable, unless its route is full.
    async fn ingest(&self, event: NewEvent) -> Result<(), QueueError>;

    /// Stores each of `events` (one event for several destinations' queues).
    /// Here one by one: an error may leave the first ones stored, which the
    /// source's retry then repeats (at least once).
    async fn ingest_all(&self, events: Vec<NewEvent>) -> Result<(), QueueError> {
        for event in events {
            self.ingest(event).await?;
        }
        Ok(())
    }

    /// Up to `limit` events of `route` due now and not in `claimed`, oldest
    /// stored first.
    async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<Ticket>,
    ) -> Result<Due, QueueError>;

    /// Records the outcome of an attempt at `event` of `route`.
    async fn finish(
        &self,
        route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError>;

    /// Deletes delivered events of `route` finished at or before `cutoff`.
    async fn sweep(&self, route: &str, cutoff: SystemTime) -> Result<u64, QueueError>;

    /// The counts and the oldest pending event of `route`.
    async fn stats(&self, route: &str) -> Result<QueueStats, QueueError>;

    /// Up to `limit` events of `route`, oldest first; only `state` when given.
    async fn list(
        &self,
        route: &str,
        state: Option<EventState>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, QueueError>;

    /// Dead letters of `route` (only `id` when given) back to pending; how many.
    async fn replay(&self, route: &str, id: Option<&str>) -> Result<u64, QueueError>;

    /// Deletes events of `route`: `what`, only `id` when given; how many.
    async fn purge(&self, route: &str, what: Purge, id: Option<&str>) -> Result<u64, QueueError>;
}

/// What a store needs to record an attempt's outcome: each store makes its
/// own kind, and only takes back its own (see [`Ticket::row`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Ticket {
    /// The event's row (`seq`) in the SQLite file.
    Row(i64),
    /// The stream entry a Redis consumer read the event from.
    Entry(String),
}

impl Ticket {
    /// The SQLite row. A queue has one store, which hands out tickets of its
    /// own kind only: another kind is a bug, refused here for both stores.
    pub(super) fn row(&self) -> Result<i64, QueueError> {
        match self {
            Ticket::Row(seq) => Ok(*seq),
            Ticket::Entry(_) => Err(QueueError::ForeignTicket),
        }
    }

    /// The Redis stream entry; see [`Ticket::row`].
    pub(super) fn entry(&self) -> Result<&str, QueueError> {
        match self {
            Ticket::Entry(entry) => Ok(entry),
            Ticket::Row(_) => Err(QueueError::ForeignTicket),
        }
    }
}

/// An event as a backend stores it: an [`Outbound`] with its id, its route's
/// bound and when it was received.
#[derive(Debug)]
pub(crate) struct NewEvent {
    pub id: String,
    pub route: String,
    pub max_queued: u64,
    pub received_at: i64,
    pub request_id: String,
    pub headers: Vec<u8>,
    pub body: bytes::Bytes,
}

impl NewEvent {
    /// `outbound` under a fresh id (time-ordered), received now.
    pub fn new(outbound: &Outbound, max_queued: u64) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            route: outbound.lane().to_string(),
            max_queued,
            received_at: unix_ms(SystemTime::now()),
            request_id: String::from_utf8_lossy(outbound.request_id().as_bytes()).into_owned(),
            headers: encode_headers(outbound.headers()),
            body: outbound.body().bytes().clone(),
        }
    }
}
