//! What one webhook request leaves in the event log, gathered as it runs.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderValue, StatusCode};

use super::error::WebhookError;
use crate::events::{self, AttemptRecord, HeaderCopy, RequestRecord};
use crate::forward::{Delivered, ForwardError};
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// Facts about a request, filled in by the handler as they become known.
#[derive(Debug)]
pub struct Trace {
    received_at: SystemTime,
    started: Instant,
    headers: Option<HeaderCopy>,
    delivery_id: Option<String>,
    event_id: Option<String>,
    body_size: usize,
    body: Option<Bytes>,
    attempt: Option<AttemptRecord>,
}

impl Trace {
    /// A request to `route` arriving now with `headers`.
    pub fn start(route: &Route, headers: &HeaderMap) -> Self {
        Self {
            received_at: SystemTime::now(),
            started: Instant::now(),
            // Copied as they are: the writer redacts, off the request path.
            headers: route.log.bodies.then(|| HeaderCopy::of(headers)),
            // Only for the log: a route that logs nothing copies nothing.
            delivery_id: (route.log.enabled)
                .then(|| events::delivery_id(route, headers))
                .flatten(),
            event_id: None,
            body_size: 0,
            body: None,
            attempt: None,
        }
    }

    /// The body arrived: `size` bytes.
    pub fn read(&mut self, size: usize) {
        self.body_size = size;
    }

    /// The body passed its signature check: kept if the route keeps bodies.
    pub fn verified(&mut self, route: &Route, body: &VerifiedBody) {
        if route.log.bodies {
            // A copy: the body is a slice of the buffer the request was
            // read into, which it would keep alive until written (see
            // `HeaderCopy`).
            self.body = Some(Bytes::copy_from_slice(body.bytes()));
        }
    }

    /// The delivery's dedupe `key`: its delivery id in the log, where the
    /// scheme has no header for one (Stripe, Slack, a token, ...).
    pub fn dedupe_key(&mut self, route: &Route, key: Option<&str>) {
        if route.log.enabled && self.delivery_id.is_none() {
            self.delivery_id = key.map(events::clipped_delivery_id);
        }
    }

    /// A new event id for a sync forward, as its header value.
    pub fn new_event_id(&mut self) -> HeaderValue {
        let id = uuid::Uuid::now_v7().to_string();
        let value = HeaderValue::try_from(id.as_str()).expect("a UUID is a header value");
        self.event_id = Some(id);
        value
    }

    /// The event's id, once it has one.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// The queue stored the event as `id`.
    pub fn stored_as(&mut self, id: &str) {
        self.event_id = Some(id.to_string());
    }

    /// The sync forward to `destination`, started at `at`, ended with `forwarded`.
    pub fn forwarded(
        &mut self,
        at: SystemTime,
        destination: &str,
        forwarded: &Result<Delivered, ForwardError>,
    ) {
        self.attempt = Some(AttemptRecord::of(at, destination, forwarded));
    }

    /// The record of the request, answered `status` with `outcome`.
    pub fn finish(
        self,
        route: &Arc<Route>,
        request_id: &HeaderValue,
        status: StatusCode,
        outcome: &'static str,
        error: Option<&WebhookError>,
    ) -> RequestRecord {
        RequestRecord {
            id: self
                .event_id
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            received_at: self.received_at,
            route: route.clone(),
            request_id: request_id.to_str().unwrap_or_default().to_string(),
            delivery_id: self.delivery_id,
            status: status.as_u16(),
            outcome,
            reason: error.map(ToString::to_string),
            body_size: self.body_size,
            duration_ms: self.started.elapsed().as_millis() as u64,
            headers: self.headers,
            // Only a verified body is ever kept: refused bytes are not replayable.
            body: self.body,
            attempt: self.attempt,
        }
    }
}
