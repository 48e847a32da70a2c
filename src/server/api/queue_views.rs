//! What the queue endpoints answer: a route's queue, its dead letters, and
//! the tallies of a purge or a replay.

use std::time::SystemTime;

use poem_openapi::Object;

use super::queue::Lane;
use crate::queue::{EventState, EventSummary, Queue, QueueError, QueueStats};

/// The most dead letters listed by `GET /admin/routes/{name}/queue`.
pub(super) const LISTED_DEAD_LETTERS: usize = 100;

/// A route's queue.
#[derive(Object)]
pub struct QueueView {
    /// The route.
    pub(super) route: String,
    /// `sync` or `queued`.
    pub(super) delivery: String,
    /// Whether delivery is paused (`enabled = false`); events are still stored.
    pub(super) paused: bool,
    /// Events waiting for delivery.
    pub(super) depth: u64,
    /// Seconds since the oldest waiting event was received; 0 when none waits.
    pub(super) oldest_age_secs: f64,
    /// Events that failed every attempt.
    pub(super) dead_letters: u64,
    /// Delivered events kept for `retention`.
    pub(super) delivered_kept: u64,
    /// The oldest dead letters, at most 100.
    pub(super) dead: Vec<DeadLetter>,
    /// The same counts per destination (each has its own queue).
    pub(super) destinations: Vec<DestinationQueue>,
}

/// One destination's queue.
#[derive(Object)]
pub struct DestinationQueue {
    /// The destination (`default` for a route's `downstream`).
    pub(super) name: String,
    /// Events waiting for delivery to it.
    pub(super) depth: u64,
    /// Seconds since its oldest waiting event was received; 0 when none waits.
    pub(super) oldest_age_secs: f64,
    /// Its events that failed every attempt.
    pub(super) dead_letters: u64,
    /// Its delivered events kept for `retention`.
    pub(super) delivered_kept: u64,
}

/// An event that failed every attempt.
#[derive(Object)]
pub struct DeadLetter {
    /// The event id (`X-Hookgate-Event-Id`).
    pub(super) id: String,
    /// The destination it failed to reach.
    pub(super) destination: String,
    /// When it was received (RFC 3339).
    pub(super) received_at: String,
    /// Attempts made.
    pub(super) attempts: u32,
    /// Why the last attempt failed.
    pub(super) last_error: Option<String>,
}

/// The outcome of a purge.
#[derive(Object)]
pub struct Purged {
    /// Always true.
    pub(super) success: bool,
    /// Dead letters deleted.
    pub(super) purged: u64,
}

/// The outcome of a replay.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Replayed {
    /// Always true.
    pub(super) success: bool,
    /// Dead letters put back into the queue; with filters, event log
    /// records put into the queue.
    pub(super) replayed: u64,
    /// With filters: the records selected but not replayed, by reason.
    pub(super) skipped: Option<Skipped>,
    /// With filters, when the replay stopped at `limit` with records still
    /// to look at: the id of the last record it looked at. The same call
    /// with `after` set to it goes on from there.
    pub(super) next: Option<String>,
}

/// Records a replay by filter selected but did not replay.
#[derive(Object)]
pub struct Skipped {
    /// No kept, verified body (refused, or the route keeps no bodies).
    pub(super) no_body: u64,
    /// Their event is in the queue already (replayed, not yet delivered).
    pub(super) already_queued: u64,
    /// No destination (or not the one asked for) wants them now.
    pub(super) filtered: u64,
    /// Delivered since to each destination that wants them (by an earlier
    /// replay, or a retry of their own).
    pub(super) delivered: u64,
}

/// The queues' counts and oldest dead letters into `view`, in all and per
/// destination.
pub(super) async fn fill(
    view: &mut QueueView,
    queue: &Queue,
    lanes: &[Lane],
) -> Result<(), QueueError> {
    let mut total = QueueStats::default();
    for (name, lane) in lanes {
        let stats = queue.stats(lane).await?;
        total.add(&stats);
        view.destinations.push(DestinationQueue {
            name: name.clone(),
            depth: stats.pending,
            oldest_age_secs: age(stats.oldest_pending),
            dead_letters: stats.dead,
            delivered_kept: stats.delivered,
        });
        let room = LISTED_DEAD_LETTERS.saturating_sub(view.dead.len());
        if room > 0 && stats.dead > 0 {
            let dead = queue.list(lane, Some(EventState::Dead), room).await?;
            view.dead
                .extend(dead.into_iter().map(|e| DeadLetter::of(e, name)));
        }
    }
    view.depth = total.pending;
    view.dead_letters = total.dead;
    view.delivered_kept = total.delivered;
    view.oldest_age_secs = age(total.oldest_pending);
    Ok(())
}

/// Seconds since `at`; 0 without one.
fn age(at: Option<SystemTime>) -> f64 {
    at.and_then(|at| SystemTime::now().duration_since(at).ok())
        .map_or(0.0, |age| age.as_secs_f64())
}

impl DeadLetter {
    pub(super) fn of(event: EventSummary, destination: &str) -> Self {
        Self {
            destination: destination.to_string(),
            id: event.id,
            received_at: humantime::format_rfc3339_seconds(event.received_at).to_string(),
            attempts: event.attempts,
            last_error: event.last_error,
        }
    }
}
