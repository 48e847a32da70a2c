//! The admin API of a route's queue: inspect it, replay or purge its dead
//! letters, or replay the event log records a filter selects.

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::auth::{AdminAuth, check};
use super::events::{StatusClass, given};
use super::queue_views::{Purged, QueueView, Replayed, Skipped, fill};
use super::{AdminError, AdminResult, Tag};
use crate::events::query;
use crate::queue::{Purge, Queue, QueueError, QueueSlot};
use crate::replay;
use crate::routes::{Destination, Route};
use crate::server::context::Context;

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
        /// Only this destination's queue; all of the route's when absent.
        destination: Query<Option<String>>,
    ) -> AdminResult<QueueView> {
        check(&context, &auth, request)?;
        // One snapshot: a reload removing the route cannot slip in between.
        let snapshot = context.live.load();
        let route = (snapshot.config.routes.by_name(&name))
            .ok_or_else(|| AdminError::NoRoute(name.0.clone()))?;
        let lanes = lanes(route, destination.0.as_deref())?;
        let mut view = QueueView {
            route: name.0.clone(),
            delivery: route.delivery.as_str().into(),
            paused: !route.enabled,
            depth: 0,
            oldest_age_secs: 0.0,
            dead_letters: 0,
            delivered_kept: 0,
            dead: Vec::new(),
            destinations: Vec::new(),
        };
        if let Some(queue) = context.queue.get() {
            fill(&mut view, queue, &lanes).await?;
        }
        Ok(Json(view))
    }

    /// Put a route's dead letters back into the queue: the one with `id`, or
    /// all. With event log filters instead: deliver again the records of
    /// the route they select, oldest first, at most `limit` (each kept,
    /// verified body, through the queue, with the same event id), skipping
    /// those without a body, already queued or delivered since.
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
        /// Only to this destination; to each destination otherwise.
        destination: Query<Option<String>>,
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
        /// With event log filters: the most records put into the queue
        /// (default 1,000; 1 to 10,000, a value outside taken as the bound).
        limit: Query<Option<i64>>,
        /// With event log filters: only records after this id (the `next`
        /// of the call before).
        after: Query<Option<String>>,
    ) -> AdminResult<Replayed> {
        let (queue, lanes) = admit(&context, &auth, request, &name, destination.0.as_deref())?;
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
            let selection = replay::Selection {
                filter,
                after: given(after.0),
                // Any integer: a value past either bound is taken as the bound.
                at_most: (limit.0.unwrap_or(replay::DEFAULT_AT_MOST as i64))
                    .clamp(1, replay::MAX_AT_MOST as i64) as u64,
            };
            let only = destination.0.as_deref();
            return from_log(&context, &name, only, selection).await;
        }
        let id = id.as_deref();
        let replayed = each_lane(queue, &lanes, id, |queue, lane| async move {
            queue.replay(&lane, id).await
        })
        .await?;
        Ok(Json(Replayed {
            success: true,
            replayed,
            skipped: None,
            next: None,
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
        /// Only this destination's dead letters; every destination's when absent.
        destination: Query<Option<String>>,
    ) -> AdminResult<Purged> {
        let (queue, lanes) = admit(&context, &auth, request, &name, destination.0.as_deref())?;
        // Only dead letters: an `id` that is pending or delivered is not found.
        let id = id.0.as_deref();
        let purged = each_lane(queue, &lanes, id, |queue, lane| async move {
            queue.purge(&lane, Purge::DeadLetters, id).await
        })
        .await?;
        tracing::info!(route = %name.0, purged, "dead letters purged");
        Ok(Json(Purged {
            success: true,
            purged,
        }))
    }
}

/// Replays the records of route `name` that `selection` takes, to each
/// destination that wants them (only `only`, when given).
async fn from_log(
    context: &Context,
    name: &str,
    only: Option<&str>,
    selection: replay::Selection,
) -> AdminResult<Replayed> {
    let snapshot = context.live.load();
    let route = (snapshot.config.routes.by_name(name))
        .ok_or_else(|| AdminError::NoRoute(name.to_string()))?;
    let queue = context.queue.open(&snapshot.config.server.store)?;
    let log = &context.events_reader;
    let tally = replay::matching(log, queue, route, only, selection).await?;
    Ok(Json(Replayed {
        success: true,
        replayed: tally.replayed,
        skipped: Some(Skipped {
            no_body: tally.no_body,
            already_queued: tally.already_queued,
            filtered: tally.filtered,
            delivered: tally.delivered,
        }),
        next: tally.next,
    }))
}

/// A destination's name and its queue.
pub(super) type Lane = (String, String);

/// The queues of `route`'s destinations: only `destination`'s when given.
fn lanes(route: &Route, destination: Option<&str>) -> Result<Vec<Lane>, AdminError> {
    let lane = |d: &Arc<Destination>| (d.name.clone(), d.lane.clone());
    match destination {
        None => Ok(route.destinations.iter().map(lane).collect()),
        Some(name) => match route.destination_named(name) {
            Some(d) => Ok(vec![lane(d)]),
            None => Err(AdminError::NoDestination(route.name.clone(), name.into())),
        },
    }
}

/// The token, the route and the destination checked; the store, when one
/// is open, and the queues concerned.
fn admit<'a>(
    context: &'a Context,
    auth: &AdminAuth,
    request: &Request,
    name: &str,
    destination: Option<&str>,
) -> Result<(Option<&'a Arc<Queue>>, Vec<Lane>), AdminError> {
    check(context, auth, request)?;
    let snapshot = context.live.peek();
    let route = (snapshot.config.routes.by_name(name))
        .ok_or_else(|| AdminError::NoRoute(name.to_string()))?;
    Ok((QueueSlot::get(&context.queue), lanes(route, destination)?))
}

/// `act` on each of `lanes`, the counts added up. Asked for one event
/// (`id`), a queue without it is skipped, and none holding it is `NotFound`.
/// Without a store open, there is nothing to act on.
async fn each_lane<'q, F, Fut>(
    queue: Option<&'q Arc<Queue>>,
    lanes: &[Lane],
    id: Option<&str>,
    act: F,
) -> Result<u64, QueueError>
where
    F: Fn(&'q Queue, String) -> Fut,
    Fut: std::future::Future<Output = Result<u64, QueueError>>,
{
    let mut total = 0;
    if let Some(queue) = queue {
        for (_, lane) in lanes {
            match act(queue, lane.clone()).await {
                Ok(n) => total += n,
                Err(QueueError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
    }
    match id {
        Some(id) if total == 0 => Err(QueueError::NotFound(id.to_string())),
        _ => Ok(total),
    }
}
