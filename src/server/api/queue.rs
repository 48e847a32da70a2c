//! The admin API of a route's queue: inspect it, replay its dead letters.

use std::sync::Arc;
use std::time::SystemTime;

use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::{AdminError, AdminToken, Refusal, Tag, check_token, error};
use crate::queue::{EventState, EventSummary, Queue, QueueError};
use crate::server::context::Context;
use crate::server::error::queue_status;

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

/// The outcome of a replay.
#[derive(Object)]
pub struct Replayed {
    /// Always true.
    success: bool,
    /// Dead letters put back into the queue.
    replayed: u64,
}

#[derive(ApiResponse)]
enum QueueResponse {
    /// The route's queue.
    #[oai(status = 200)]
    Ok(Json<QueueView>),
    /// Missing or wrong token.
    #[oai(status = 401)]
    Unauthorized(Json<AdminError>),
    /// The admin API is off, or no route has this name.
    #[oai(status = 404)]
    NotFound(Json<AdminError>),
    /// The store could not be read.
    #[oai(status = 500)]
    Failed(Json<AdminError>),
}

#[derive(ApiResponse)]
enum ReplayResponse {
    /// The dead letters are pending again, with a fresh retry schedule.
    #[oai(status = 200)]
    Ok(Json<Replayed>),
    /// Missing or wrong token.
    #[oai(status = 401)]
    Unauthorized(Json<AdminError>),
    /// The admin API is off, no route has this name, or no dead letter this id.
    #[oai(status = 404)]
    NotFound(Json<AdminError>),
    /// The store could not be written.
    #[oai(status = 500)]
    Failed(Json<AdminError>),
}

/// The token-guarded queue endpoints.
pub struct QueueApi;

#[OpenApi]
impl QueueApi {
    /// A route's queue: depth, age of the oldest waiting event, dead letters.
    #[oai(path = "/admin/routes/:name/queue", method = "get", tag = "Tag::Admin")]
    async fn queue(
        &self,
        token: AdminToken,
        context: Data<&Arc<Context>>,
        /// The route's name.
        name: Path<String>,
    ) -> QueueResponse {
        // One snapshot: a reload removing the route cannot slip in between.
        let snapshot = context.live.load();
        let queue = match admit(&context, &token, &name) {
            Ok(queue) => queue,
            Err(failure) => return failure.into(),
        };
        let Some(route) = snapshot.config.routes.by_name(&name) else {
            return Failure {
                status: StatusCode::NOT_FOUND,
                body: error(format!("no route named `{}`", name.0)),
            }
            .into();
        };
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
        if let Some(queue) = queue {
            if let Err(e) = fill(&mut view, &queue).await {
                return Failure::from(e).into();
            }
        }
        QueueResponse::Ok(Json(view))
    }

    /// Put a route's dead letters back into the queue: the one with `id`, or all.
    #[oai(
        path = "/admin/routes/:name/replay",
        method = "post",
        tag = "Tag::Admin"
    )]
    async fn replay(
        &self,
        token: AdminToken,
        context: Data<&Arc<Context>>,
        /// The route's name.
        name: Path<String>,
        /// One dead letter's event id; all of the route's when absent.
        id: Query<Option<String>>,
    ) -> ReplayResponse {
        let queue = match admit(&context, &token, &name) {
            Ok(queue) => queue,
            Err(failure) => return failure.into(),
        };
        let replayed = match (queue, id.0.as_deref()) {
            (Some(queue), id) => queue.replay(&name, id).await,
            (None, Some(id)) => Err(QueueError::NotFound(id.to_string())),
            (None, None) => Ok(0),
        };
        match replayed {
            Ok(replayed) => ReplayResponse::Ok(Json(Replayed {
                success: true,
                replayed,
            })),
            Err(e) => Failure::from(e).into(),
        }
    }
}

/// The token and the route checked; the store, when one is open.
fn admit(context: &Context, token: &AdminToken, name: &str) -> Result<Option<Arc<Queue>>, Failure> {
    check_token(context, token)?;
    if context.live.load().config.routes.by_name(name).is_none() {
        return Err(Failure {
            status: StatusCode::NOT_FOUND,
            body: error(format!("no route named `{name}`")),
        });
    }
    Ok(context.queue.get().cloned())
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

/// A refused or failed call, before it becomes one endpoint's answer.
struct Failure {
    status: StatusCode,
    body: Json<AdminError>,
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        let status = match refusal {
            Refusal::Off => StatusCode::NOT_FOUND,
            Refusal::Wrong => StatusCode::UNAUTHORIZED,
        };
        Self {
            status,
            body: refusal.message(),
        }
    }
}

impl From<QueueError> for Failure {
    fn from(e: QueueError) -> Self {
        Self {
            status: queue_status(&e),
            body: error(e.to_string()),
        }
    }
}

impl From<Failure> for QueueResponse {
    fn from(failure: Failure) -> Self {
        match failure.status {
            StatusCode::UNAUTHORIZED => QueueResponse::Unauthorized(failure.body),
            StatusCode::NOT_FOUND => QueueResponse::NotFound(failure.body),
            _ => QueueResponse::Failed(failure.body),
        }
    }
}

impl From<Failure> for ReplayResponse {
    fn from(failure: Failure) -> Self {
        match failure.status {
            StatusCode::UNAUTHORIZED => ReplayResponse::Unauthorized(failure.body),
            StatusCode::NOT_FOUND => ReplayResponse::NotFound(failure.body),
            _ => ReplayResponse::Failed(failure.body),
        }
    }
}
