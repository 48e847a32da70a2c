//! What the admin API and `hookgate queue` see and change: counts, listings,
//! replays and purges.

use std::time::SystemTime;

use super::{EventState, Queue, QueueError};

/// How many events of a route are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting for a (first or further) attempt.
    pub pending: u64,
    /// Failed every attempt; waiting for a replay or a purge.
    pub dead: u64,
    /// Delivered, kept for `retention`.
    pub delivered: u64,
    /// When the oldest pending event was received.
    pub oldest_pending: Option<SystemTime>,
}

impl QueueStats {
    /// Adds `other`'s counts (another queue of the same route); the oldest
    /// pending event is the older of the two.
    pub fn add(&mut self, other: &QueueStats) {
        self.pending += other.pending;
        self.dead += other.dead;
        self.delivered += other.delivered;
        self.oldest_pending = match (self.oldest_pending, other.oldest_pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// One stored event, without its headers and body.
#[derive(Debug, Clone)]
pub struct EventSummary {
    /// The event id (`X-Hookgate-Event-Id`).
    pub id: String,
    /// Pending, delivered or dead.
    pub state: EventState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it was received.
    pub received_at: SystemTime,
    /// When it is due (meaningful while pending).
    pub next_attempt_at: SystemTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// What [`Queue::purge`] deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Dead letters only.
    DeadLetters,
    /// Every stored event of the route, pending ones included.
    Everything,
}

impl Queue {
    /// The counts and the oldest pending event of `route`.
    pub async fn stats(&self, route: &str) -> Result<QueueStats, QueueError> {
        self.store.stats(route).await
    }

    /// Up to `limit` events of `route`, oldest first; only `state` when given.
    pub async fn list(
        &self,
        route: &str,
        state: Option<EventState>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, QueueError> {
        self.store.list(route, state, limit).await
    }

    /// Puts dead letters of `route` back in the queue with a fresh schedule:
    /// the one with `id`, or all; returns how many.
    pub async fn replay(&self, route: &str, id: Option<&str>) -> Result<u64, QueueError> {
        let replayed = self.store.replay(route, id).await?;
        self.kick(route);
        found(replayed, id)
    }

    /// Deletes events of `route`: `what`, only `id` when given; returns how many.
    pub async fn purge(
        &self,
        route: &str,
        what: Purge,
        id: Option<&str>,
    ) -> Result<u64, QueueError> {
        found(self.store.purge(route, what, id).await?, id)
    }
}

/// `n`, or `NotFound` when the one event asked for was not there.
fn found(n: u64, id: Option<&str>) -> Result<u64, QueueError> {
    match id {
        Some(id) if n == 0 => Err(QueueError::NotFound(id.to_string())),
        _ => Ok(n),
    }
}
