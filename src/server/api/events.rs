//! The admin API of the event log: find records, read one, replay one.

use std::sync::Arc;

use base64::Engine;
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};

use super::auth::{AdminAuth, check};
use super::{AdminError, AdminResult, Tag};
use crate::events::{LoggedHeader, query};
use crate::replay;
use crate::server::context::Context;

/// Records listed per page by default, and at most.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

/// A class of answer statuses.
#[derive(Debug, Clone, Copy, Enum)]
pub enum StatusClass {
    /// 200 to 299.
    #[oai(rename = "2xx")]
    Success,
    /// 400 to 499.
    #[oai(rename = "4xx")]
    ClientError,
    /// 500 to 599.
    #[oai(rename = "5xx")]
    ServerError,
}

impl StatusClass {
    pub(super) fn first_digit(self) -> u16 {
        match self {
            Self::Success => 2,
            Self::ClientError => 4,
            Self::ServerError => 5,
        }
    }
}

/// One record, without headers and body.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventSummary {
    /// The event id (`X-Hookgate-Event-Id`), a time-ordered UUIDv7.
    id: String,
    /// When it was received (RFC 3339).
    received_at: String,
    /// The route.
    route: String,
    /// The request's `X-Request-Id`.
    request_id: String,
    /// The source's own delivery id (`X-Chatwoot-Delivery`, `X-GitHub-Delivery`, ...).
    delivery_id: Option<String>,
    /// The status the gateway answered.
    status: u16,
    /// As in `hookgate_requests_total`: `forwarded`, `queued`, `downstream_error`, `unauthorized`, ...
    outcome: String,
    /// Why it was refused or failed.
    reason: Option<String>,
    /// The body's size in bytes.
    body_size: u64,
    /// How long the answer took.
    duration_ms: u64,
    /// Whether the verified body is kept, so the event can be replayed.
    replayable: bool,
    /// When every destination called had taken the event, its newest attempt
    /// answering 2xx (RFC 3339): at once, on a retry or on a replay. An event
    /// that failed and was replayed since has it, while `status` and `outcome`
    /// stay what the source was answered; a mirror's copy alone does not.
    delivered_at: Option<String>,
}

/// A page of records, newest first.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    /// The records.
    events: Vec<EventSummary>,
    /// Pass as `before` for the next page; absent on the last. On Redis a
    /// page may hold fewer than `limit` records, even none, and still have
    /// a next one: a page looks at a bounded number of records.
    next: Option<String>,
}

/// One downstream call.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptView {
    /// When it started (RFC 3339).
    at: String,
    /// The downstream's status; absent when it did not answer.
    status: Option<u16>,
    /// How long it took.
    duration_ms: u64,
    /// The first KiB of the downstream's answer, or the error.
    answer: String,
    /// The destination called (`default` for a route's `downstream`);
    /// absent for attempts logged before destinations existed.
    destination: Option<String>,
}

/// One record in full.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventDetail {
    /// What a list shows.
    #[oai(flatten)]
    summary: EventSummary,
    /// The headers as received (`name`, `value`), secrets as `<redacted>`;
    /// a value that is not UTF-8 as (`name`, text with U+FFFD for each such
    /// byte, its bytes in base64); absent when the route keeps no bodies,
    /// or when the record was kept without them (its writer behind).
    headers: Option<Vec<Vec<String>>>,
    /// The kept body: UTF-8 text, or base64 (see `body_encoding`).
    body: Option<String>,
    /// `utf-8` or `base64`.
    body_encoding: Option<String>,
    /// Every downstream call, oldest first.
    attempts: Vec<AttemptView>,
}

/// The outcome of a replay.
#[derive(Object)]
pub struct EventReplayed {
    /// Always true.
    success: bool,
    /// The event id, the same as the original's.
    id: String,
}

/// The token-guarded event log endpoints.
pub struct EventsApi;

#[OpenApi]
impl EventsApi {
    /// Find records in the event log, newest first.
    #[oai(path = "/admin/events", method = "get", tag = "Tag::Admin")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        /// Only this route's.
        route: Query<Option<String>>,
        /// Only this outcome (`downstream_error`, `unauthorized`, `forwarded`, ...).
        outcome: Query<Option<String>>,
        /// Only this status class.
        status: Query<Option<StatusClass>>,
        /// Received at or after (Unix milliseconds).
        since_ms: Query<Option<i64>>,
        /// Received before (Unix milliseconds).
        until_ms: Query<Option<i64>>,
        /// The source's delivery id.
        delivery_id: Query<Option<String>>,
        /// Text the kept body contains.
        q: Query<Option<String>>,
        /// The `next` of the previous page.
        before: Query<Option<String>>,
        /// Records per page (default 50, at most 500).
        limit: Query<Option<i64>>,
    ) -> AdminResult<EventPage> {
        check(&context, &auth, request)?;
        let limit = limit
            .0
            .unwrap_or(DEFAULT_PAGE as i64)
            .clamp(1, MAX_PAGE as i64) as usize;
        let filter = query::Filter {
            route: given(route.0),
            outcome: given(outcome.0),
            status_class: status.0.map(StatusClass::first_digit),
            since_ms: since_ms.0,
            until_ms: until_ms.0,
            delivery_id: given(delivery_id.0),
            text: given(q.0),
            before: given(before.0),
            limit,
            ..query::Filter::default()
        };
        let page = (context.events_reader.list(&filter).await).map_err(AdminError::from)?;
        Ok(Json(EventPage {
            events: page.records.into_iter().map(summary).collect(),
            next: page.next,
        }))
    }

    /// One record: headers (secrets redacted), body, attempts.
    #[oai(path = "/admin/events/:id", method = "get", tag = "Tag::Admin")]
    async fn get(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        /// The event id.
        id: Path<String>,
    ) -> AdminResult<EventDetail> {
        check(&context, &auth, request)?;
        let record = find(&context, &id).await?;
        Ok(Json(detail(record)))
    }

    /// Deliver a kept, verified body again to its route's current
    /// downstream, through the durable queue (so it is retried), with the
    /// original bytes and the same `X-Hookgate-Event-Id`.
    #[oai(path = "/admin/events/:id/replay", method = "post", tag = "Tag::Admin")]
    async fn replay(
        &self,
        auth: AdminAuth,
        request: &Request,
        context: Data<&Arc<Context>>,
        /// The event id.
        id: Path<String>,
    ) -> AdminResult<EventReplayed> {
        check(&context, &auth, request)?;
        let record = find(&context, &id).await?;
        if record.body.is_none() {
            return Err(AdminError::NotReplayable(id.0).into());
        }
        let snapshot = context.live.load();
        let route = snapshot.config.routes.by_name(&record.summary.route);
        let route = route.ok_or_else(|| AdminError::NoRoute(record.summary.route.clone()))?;
        let queue = context.queue.open(&snapshot.config.server.store)?;
        replay::one(queue, route, None, record, replay::Skip::Nothing).await?;
        Ok(Json(EventReplayed {
            success: true,
            id: id.0,
        }))
    }
}

async fn find(context: &Context, id: &str) -> Result<query::Record, AdminError> {
    (context.events_reader.get(id).await)?.ok_or_else(|| AdminError::NoEvent(id.to_string()))
}

/// A filter given empty (`?route=`) is no filter.
pub(super) fn given(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

fn rfc3339(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

fn summary(found: query::Summary) -> EventSummary {
    EventSummary {
        received_at: rfc3339(found.received_at),
        id: found.id,
        route: found.route,
        request_id: found.request_id,
        delivery_id: found.delivery_id,
        status: found.status,
        outcome: found.outcome,
        reason: found.reason,
        body_size: found.body_size,
        duration_ms: found.duration_ms,
        replayable: found.body_kept,
        delivered_at: found.delivered_at.map(rfc3339),
    }
}

fn detail(record: query::Record) -> EventDetail {
    let (body, body_encoding) = match record.body {
        None => (None, None),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(text) => (Some(text), Some("utf-8".into())),
            Err(error) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(error.as_bytes());
                (Some(encoded), Some("base64".into()))
            }
        },
    };
    EventDetail {
        summary: summary(record.summary),
        headers: record
            .headers
            .map(|headers| headers.into_iter().map(header_view).collect()),
        body,
        body_encoding,
        attempts: record
            .attempts
            .into_iter()
            .map(|attempt| AttemptView {
                at: rfc3339(attempt.at),
                status: attempt.status,
                duration_ms: attempt.duration_ms,
                answer: attempt.answer,
                destination: attempt.destination,
            })
            .collect(),
    }
}

/// A logged header as the API shows it: `[name, value]`, and the value's
/// bytes in base64 when they are not UTF-8.
fn header_view(header: LoggedHeader) -> Vec<String> {
    let mut view = vec![header.name, header.value];
    if let Some(bytes) = header.bytes {
        view.push(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    view
}
