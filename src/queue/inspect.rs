//! What the admin API and `hookgate queue` see and change: counts, listings,
//! replays and purges.

use std::time::SystemTime;

use super::{Queue, QueueError, from_unix_ms, store, unix_ms};

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

/// One stored event, without its headers and body.
#[derive(Debug, Clone)]
pub struct EventSummary {
    /// The event id (`X-Hookgate-Event-Id`).
    pub id: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
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
        let route = route.to_string();
        self.read(move |conn| {
            let mut stats = QueueStats::default();
            for (state, n) in store::counts(conn, &route)? {
                match state.as_str() {
                    "pending" => stats.pending = n,
                    "dead" => stats.dead = n,
                    _ => stats.delivered = n,
                }
            }
            stats.oldest_pending = store::oldest_pending(conn, &route)?.map(from_unix_ms);
            Ok(stats)
        })
        .await
    }

    /// Up to `limit` events of `route`, oldest first; only `state` when given.
    pub async fn list(
        &self,
        route: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, QueueError> {
        let (route, state) = (route.to_string(), state.map(str::to_string));
        let rows = self
            .read(move |conn| store::list(conn, &route, state.as_deref(), limit))
            .await?;
        Ok(rows.into_iter().map(EventSummary::from).collect())
    }

    /// Puts dead letters of `route` back in the queue with a fresh schedule:
    /// the one with `id`, or all; returns how many.
    pub async fn replay(&self, route: &str, id: Option<&str>) -> Result<u64, QueueError> {
        let (name, wanted) = (route.to_string(), id.map(str::to_string));
        let replayed = self
            .writer
            .run(move |conn| {
                let now = unix_ms(SystemTime::now());
                let n = store::replay(conn, &name, wanted.as_deref(), now)?;
                match wanted {
                    Some(id) if n == 0 => Err(QueueError::NotFound(id)),
                    _ => Ok(n),
                }
            })
            .await?;
        self.kick(route);
        Ok(replayed)
    }

    /// Deletes events of `route`: `what`, only `id` when given; returns how many.
    pub async fn purge(
        &self,
        route: &str,
        what: Purge,
        id: Option<&str>,
    ) -> Result<u64, QueueError> {
        let (name, wanted) = (route.to_string(), id.map(str::to_string));
        self.writer
            .run(move |conn| {
                let states: &[&str] = match what {
                    Purge::DeadLetters => &["dead"],
                    Purge::Everything => &["pending", "dead", "delivered"],
                };
                let n = store::purge(conn, &name, states, wanted.as_deref())?;
                match wanted {
                    Some(id) if n == 0 => Err(QueueError::NotFound(id)),
                    _ => Ok(n),
                }
            })
            .await
    }
}

impl From<store::SummaryRow> for EventSummary {
    fn from(row: store::SummaryRow) -> Self {
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
