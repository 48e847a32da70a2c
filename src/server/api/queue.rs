//! The admin API of a route's queue: inspect it, replay or purge its dead
//! letters, or replay the event log records a filter selects.

use std::sync::Arc;
use std::time::SystemTime;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::auth::{AdminAuth, check};
use super::events::{StatusClass, given};
use super::{AdminError, AdminResult, Tag};
use crate::events::query;
use crate::queue::{EventState, EventSummary, Purge, Queue, QueueError, QueueSlot};
use crate::replay;
use crate::server::context::Context;

/// The most dead letters listed by `GET /admin/routes/{name}/queue`.
const LISTED_DEAD_LETTERS: usize = 100;

/// A route's queue.
#[derive(Object)]
pub struct QueueView {
    /// The route.
    route: String,
    /// `sync` or `queued`.
    delivery: String,
    /// Whether delivery is paused (`enabled = false`); events are still stored.
    paused: bool,
    /// Events waiting for delivery.
    depth: u64,
    /// Seconds since the oldest waiting event was received; 0 when none waits.
    oldest_age_secs: f64,
    /// Events that failed every attempt.
    dead_letters: u64,
    /// Delivered events kept for `retention`.
    delivered_kept: u64,
    /// The oldest dead letters, at most 100.
    dead: Vec<DeadLetter>,
}

/// An event that failed every attempt.
#[derive(Object)]
pub struct DeadLetter {
    /// The event id (`X-Hookgate-Event-Id`).
    id: String,
    /// When it was received (RFC 3339).
    received_at: String,
    /// Attempts made.
    attempts: u32,
    /// Why the last attempt failed.
    last_error: Option<String>,
}

/// The outcome of a purge.
#[derive(Object)]
pub struct Purged {
    /// Always true.
    success: bool,
    /// Dead letters deleted.
    purged: u64,
}

/// The outcome of a replay.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Replayed {
    /// Always true.
    success: bool,
    /// Dead letters put back into the queue; with filters, event log
    /// records put into the queue.
    replayed: u64,
    /// With filters: the records selected but not replayed, by reason.
    skipped: Option<Skipped>,
}

/// Records a replay by filter selected but did not replay.
#[derive(Object)]
pub struct Skipped {
    /// No kept, verified body (refused, or the route keeps no bodies).
    no_body: u64,
    /// Their event is in the queue already (replayed, not yet delivered).
    already_queued: u64,
}

/// The token-guarded queue endpoints.
pub struct QueueApi;

#[OpenApi]
impl QueueApi {
    /// A route's queue: depth, age of the oldest waiting event, dead letters.
    #[oai(path = "/admin/routes/:name/queue", method = "get", tag = "Tag::Admin")]
    async fn queue(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        /// The route's name.
        name: Path<String>,
    ) -> AdminResult<QueueView> {
        check(&context, &auth, request)?;
        // One snapshot: a reload removing the route cannot slip in between.
        let snapshot = context.live.load();
        let route = (snapshot.config.routes.by_name(&name))
            .ok_or_else(|| AdminError::NoRoute(name.0.clone()))?;
        let mut view = QueueView {
            route: name.0.clone(),
            delivery: route.delivery.as_str().into(),
            paused: !route.enabled,
            depth: 0,
            oldest_age_secs: 0.0,
            dead_letters: 0,
            delivered_kept: 0,
            dead: Vec::new(),
        };
        if let Some(queue) = context.queue.get() {
            fill(&mut view, queue).await?;
        }
        Ok(Json(view))
    }

    /// Put a route's dead letters back into the queue: the one with `id`, or
    /// all. With event log filters instead: deliver again every record of
    /// the route they select (its kept, verified body, through the queue,
    /// with the same event id), skipping those without a body or already queued.
    #[oai(
        path = "/admin/routes/:name/replay",
        method = "post",
        tag = "Tag::Admin"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn replay(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        /// The route's name.
        name: Path<String>,
        /// One dead letter's event id; all of the route's when absent.
        id: Query<Option<String>>,
        /// Event log filter: only this outcome (`downstream_error`, ...).
        outcome: Query<Option<String>>,
        /// Event log filter: only this status class.
        status: Query<Option<StatusClass>>,
        /// Event log filter: received at or after (Unix milliseconds).
        since_ms: Query<Option<i64>>,
        /// Event log filter: received before (Unix milliseconds).
        until_ms: Query<Option<i64>>,
        /// Event log filter: the source's delivery id.
        delivery_id: Query<Option<String>>,
    ) -> AdminResult<Replayed> {
        let queue = admit(&context, &auth, request, &name)?;
        let filter = query::Filter {
            outcome: given(outcome.0),
            status_class: status.0.map(StatusClass::first_digit),
            since_ms: since_ms.0,
            until_ms: until_ms.0,
            delivery_id: given(delivery_id.0),
            ..Default::default()
        };
        // Unlike a filter, an empty `id` is not taken for none: it names no dead letter.
        let id = id.0;
        if filter.narrows() {
            if id.is_some() {
                return Err(AdminError::IdAndFilters.into());
            }
            return from_log(&context, &name, filter).await;
        }
        let replayed = match (queue, id.as_deref()) {
            (Some(queue), id) => queue.replay(&name, id).await?,
            (None, Some(id)) => return Err(QueueError::NotFound(id.to_string()).into()),
            (None, None) => 0,
        };
        Ok(Json(Replayed {
            success: true,
            replayed,
            skipped: None,
        }))
    }

    /// Delete a route's dead letters: the one with `id`, or all. Pending
    /// and delivered events are kept.
    #[oai(
        path = "/admin/routes/:name/dead-letters",
        method = "delete",
        tag = "Tag::Admin"
    )]
    async fn purge(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        /// The route's name.
        name: Path<String>,
        /// One dead letter's event id; all of the route's when absent.
        id: Query<Option<String>>,
    ) -> AdminResult<Purged> {
        let queue = admit(&context, &auth, request, &name)?;
        // Only dead letters: an `id` that is pending or delivered is not found.
        let purged = match (queue, id.0.as_deref()) {
            (Some(queue), id) => queue.purge(&name, Purge::DeadLetters, id).await?,
            (None, Some(id)) => return Err(QueueError::NotFound(id.to_string()).into()),
            (None, None) => 0,
        };
        tracing::info!(route = %name.0, purged, "dead letters purged");
        Ok(Json(Purged {
            success: true,
            purged,
        }))
    }
}

/// Replays the records of route `name` that `filter` selects.
async fn from_log(context: &Context, name: &str, filter: query::Filter) -> AdminResult<Replayed> {
    let snapshot = context.live.load();
    let route = (snapshot.config.routes.by_name(name))
        .ok_or_else(|| AdminError::NoRoute(name.to_string()))?;
    let queue = context.queue.open(&snapshot.config.server.store)?;
    let tally = replay::matching(&context.events_reader, queue, route, filter).await?;
    Ok(Json(Replayed {
        success: true,
        replayed: tally.replayed,
        skipped: Some(Skipped {
            no_body: tally.no_body,
            already_queued: tally.already_queued,
        }),
    }))
}

/// The token and the route checked; the store, when one is open.
fn admit<'a>(
    context: &'a Context,
    auth: &AdminAuth,
    request: &Request,
    name: &str,
) -> Result<Option<&'a Arc<Queue>>, AdminError> {
    check(context, auth, request)?;
    if context.live.peek().config.routes.by_name(name).is_none() {
        return Err(AdminError::NoRoute(name.to_string()));
    }
    Ok(QueueSlot::get(&context.queue))
}

/// The queue's counts and oldest dead letters into `view`.
async fn fill(view: &mut QueueView, queue: &Queue) -> Result<(), QueueError> {
    let stats = queue.stats(&view.route).await?;
    view.depth = stats.pending;
    view.dead_letters = stats.dead;
    view.delivered_kept = stats.delivered;
    view.oldest_age_secs = stats
        .oldest_pending
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map_or(0.0, |age| age.as_secs_f64());
    let dead = queue
        .list(&view.route, Some(EventState::Dead), LISTED_DEAD_LETTERS)
        .await?;
    view.dead = dead.into_iter().map(DeadLetter::from).collect();
    Ok(())
}

impl From<EventSummary> for DeadLetter {
    fn from(event: EventSummary) -> Self {
        Self {
            id: event.id,
            received_at: humantime::format_rfc3339_seconds(event.received_at).to_string(),
            attempts: event.attempts,
            last_error: event.last_error,
        }
    }
}
