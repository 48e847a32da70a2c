//! One webhook request: method, enabled, body, signature, then forward and
//! answer (sync routes) or store and answer 202 (queued routes).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;

use poem::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use poem::{Body, Request, Response};
use serde_json::json;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::client;
use super::context::Context;
use super::dedupe_step::{self, Checked};
use super::error::{WebhookError, json_response, static_json};
use super::trace::Trace;
use super::unverified::Reading;
use crate::config::Environment;
use crate::dedupe;
use crate::forward::{self, Delivered, ForwardError, Forwarder, Outbound, Peer, REQUEST_ID};
use crate::live::{LiveRoute, Snapshot};
use crate::metrics::RouteMetrics;
use crate::queue::QueueError;
use crate::routes::{Delivery, Destination, Route, Targets};
use crate::signature::{Presented, UnverifiedBody, VerifiedBody, Verifier};
use crate::telemetry::RequestSpan;

/// How long a client may take to send its body.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The answers that never change, as bytes: no JSON is built per request.
const PROCESSED: &str = r#"{"success":true,"processed":true}"#;
const DUPLICATE: &str = r#"{"success":true,"processed":false,"duplicate":true}"#;
const FILTERED: &str = r#"{"success":true,"processed":false,"filtered":true}"#;

/// Longest `X-Request-Id` taken from a caller; a longer one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// What one worker thread owns for the webhook path.
pub struct Worker {
    /// What every worker shares.
    pub context: Arc<Context>,
    /// This worker's HTTP client; its pool lives as long as the worker.
    pub forwarder: Forwarder,
    /// This worker's dedupe store.
    pub dedupe: dedupe::Store,
}

/// Answers a request whose path matched `live` in `snapshot`.
pub async fn handle(
    worker: &Worker,
    snapshot: &Snapshot,
    live: &LiveRoute,
    request: Request,
) -> Response {
    let LiveRoute { route, metrics } = live;
    let request_id = request_id(request.headers());
    let span = info_span!(
        "webhook",
        route = %route.name,
        request_id = request_id.to_str().unwrap_or_default()
    );
    let started = Instant::now();
    let mut trace = Trace::start(route, request.headers());
    let traces = worker.context.traces.as_ref();
    let otel = traces.map(|traces| traces.request(route, request.headers()));
    let outcome = process(
        worker,
        snapshot,
        live,
        request,
        &request_id,
        &mut trace,
        otel.as_ref(),
    )
    .instrument(span.clone())
    .await;
    metrics
        .series
        .request_duration
        .observe(started.elapsed().as_secs_f64());
    let (mut response, outcome, error) = match outcome {
        Ok(Answered::Forwarded(response)) => {
            metrics.series.forwarded.inc();
            (response, "forwarded", None)
        }
        Ok(Answered::Queued(response)) => {
            metrics.series.queued.inc();
            (response, "queued", None)
        }
        Ok(Answered::Duplicate(response)) => {
            metrics.count("duplicate");
            (response, "duplicate", None)
        }
        Ok(Answered::Filtered(response)) => {
            metrics.count("filtered");
            (response, "filtered", None)
        }
        Err(error) => {
            metrics.count(error.outcome());
            span.in_scope(|| log_failure(&error));
            (error.to_response(), error.outcome(), Some(error))
        }
    };
    if let Some(otel) = otel {
        otel.finish(response.status(), outcome, trace.event_id());
    }
    if let Some(log) = worker.context.events.as_ref().filter(|_| route.log.enabled) {
        let status = response.status();
        log.record(trace.finish(route, &request_id, status, outcome, error.as_ref()));
    }
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), request_id);
    response
}

async fn process(
    worker: &Worker,
    snapshot: &Snapshot,
    live: &LiveRoute,
    mut request: Request,
    request_id: &HeaderValue,
    trace: &mut Trace,
    otel: Option<&RequestSpan<'_>>,
) -> Result<Answered, WebhookError> {
    let LiveRoute { route, metrics } = live;
    // Debug, not info: every request already ends in one info (or warn/error)
    // line with its outcome, status and duration; a second line per request
    // cost ~15% of throughput on the benchmark.
    debug!(method = %request.method(), "webhook received");
    if request.method() != Method::POST {
        return Err(WebhookError::MethodNotAllowed);
    }
    // A disabled queued route still stores: only its delivery pauses.
    if !route.enabled && route.delivery == Delivery::Sync {
        return Err(WebhookError::Disabled);
    }
    let server = &snapshot.config.server;
    let client = client::of(&request, &server.trusted_proxies);
    if !allowed(route, client.ip) {
        return Err(WebhookError::Forbidden);
    }
    let peer = Peer {
        ip: client.peer,
        tls: client.https,
    };
    let mut reading = worker.context.unverified.start(client.ip)?;
    let body = request.take_body();
    let reading_body = read_body(body, request.headers(), route.max_body_bytes, &mut reading);
    // A client trickling its body must not hold its share of the budget forever.
    let body = tokio::time::timeout(BODY_READ_TIMEOUT, reading_body)
        .await
        .map_err(|_| WebhookError::BodyTimeout)??;
    let environment = snapshot.config.server.environment;
    trace.read(body.len());
    let body = UnverifiedBody::new(body);
    let verified = verify(route, environment, &request, body)?;
    // A token is the secret itself: no further than its check (a query is never forwarded).
    route.verifier.remove_secret_headers(request.headers_mut());
    drop(reading);
    trace.verified(route, &verified);
    // Only verified requests take a place: unauthenticated uploads cannot shed signed ones.
    let _admitted = InFlight::admit(metrics, route.max_in_flight)?;
    let headers = request.headers();
    let key = dedupe_step::key(live, headers, &verified);
    trace.dedupe_key(route, key.as_deref());
    let claimed = match dedupe_step::check(&worker.dedupe, live, key).await? {
        Checked::Deliver(claimed) => claimed,
        Checked::Duplicate => {
            return Ok(Answered::Duplicate(static_json(StatusCode::OK, DUPLICATE)));
        }
    };
    let targets = route.targets(headers, verified.bytes());
    let ready = Ready {
        worker,
        live,
        headers,
        peer,
        request_id,
        verified: &verified,
    };
    let answer = ready.deliver(targets, trace, otel).await;
    if let Some(claimed) = claimed {
        claimed.settle(answer.is_ok()).await;
    }
    answer
}

/// A successful answer, told apart for the metrics.
enum Answered {
    /// Forwarded to the primary destination (sync).
    Forwarded(Response),
    /// Stored for background delivery.
    Queued(Response),
    /// A duplicate, answered without delivering.
    Duplicate(Response),
    /// No destination wants the event: answered without delivering.
    Filtered(Response),
}

/// A verified, admitted request, ready to go to its destinations.
struct Ready<'a> {
    worker: &'a Worker,
    live: &'a LiveRoute,
    headers: &'a HeaderMap,
    peer: Peer,
    request_id: &'a HeaderValue,
    verified: &'a VerifiedBody,
}

impl Ready<'_> {
    /// Stores the event for `targets.stored` and calls `targets.primary`;
    /// the answer is the primary's, or 202 once stored without one.
    async fn deliver(
        &self,
        targets: Targets<'_>,
        trace: &mut Trace,
        otel: Option<&RequestSpan<'_>>,
    ) -> Result<Answered, WebhookError> {
        if targets.is_empty() {
            debug!("no destination wants the event");
            return Ok(Answered::Filtered(static_json(StatusCode::OK, FILTERED)));
        }
        let Some(primary) = targets.primary else {
            let (response, id) = self.enqueue(&targets.stored, None, otel).await?;
            trace.stored_as(&id);
            return Ok(Answered::Queued(response));
        };
        let event_id = trace.new_event_id();
        // The mirrors first: once the source has its answer, their copies
        // must already be durable.
        if !targets.stored.is_empty() {
            let id = trace.event_id().map(str::to_string);
            self.enqueue(&targets.stored, id.as_deref(), otel).await?;
        }
        self.forward(primary, &event_id, trace, otel).await
    }

    /// Calls `destination` while the source waits.
    async fn forward(
        &self,
        destination: &Destination,
        event_id: &HeaderValue,
        trace: &mut Trace,
        otel: Option<&RequestSpan<'_>>,
    ) -> Result<Answered, WebhookError> {
        let LiveRoute { route, metrics } = self.live;
        let at = SystemTime::now();
        let id = trace.event_id().unwrap_or_default();
        let client_span = otel.map(|otel| otel.forward(route, destination, id));
        let forwarded = (self.worker.forwarder)
            .forward(
                route,
                destination,
                self.headers,
                self.peer,
                self.request_id,
                event_id,
                self.verified,
                client_span.as_ref(),
            )
            .await;
        forward::finish_span(client_span, None, &forwarded);
        forward::record(metrics, route, &forwarded);
        trace.forwarded(at, &destination.name, &forwarded);
        let delivered = forwarded.map_err(WebhookError::from)?;
        Ok(Answered::Forwarded(processed(delivered)))
    }

    /// Stores the event in the queues `lanes`, under `id` or a fresh one;
    /// answers 202 with its id once it is durable. Traced, it is stored with
    /// the request span as `traceparent`, so that each delivery attempt is
    /// its child.
    async fn enqueue(
        &self,
        lanes: &[&str],
        id: Option<&str>,
        otel: Option<&RequestSpan<'_>>,
    ) -> Result<(Response, String), WebhookError> {
        let route = &self.live.route;
        let queue = (self.worker.context.queue.get()).ok_or(QueueError::Unavailable)?;
        let traced = otel.map(|otel| otel.stored_headers(self.headers));
        let headers = traced.as_ref().unwrap_or(self.headers);
        let outbound = Outbound::new(route, headers, self.peer, self.request_id, self.verified);
        let max = route.queue.max_queued;
        let id = queue.store_for(&outbound, lanes, id, max).await?;
        info!(event_id = %id, "event queued");
        let body = json!({ "success": true, "queued": true, "id": id });
        Ok((json_response(StatusCode::ACCEPTED, &body), id))
    }
}

/// The answer to a sync delivery the downstream took.
fn processed(delivered: Delivered) -> Response {
    info!(
        status = delivered.status.as_u16(),
        duration_ms = delivered.duration.as_millis() as u64,
        "processed successfully"
    );
    static_json(StatusCode::OK, PROCESSED)
}

/// Reads the body up to `limit`, chunked or not, each chunk taken from the
/// unverified budget; refuses early on a large Content-Length.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    reading: &mut Reading<'_>,
) -> Result<Bytes, WebhookError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(WebhookError::TooLarge(limit));
    }
    let mut body: BoxBody<Bytes, std::io::Error> = body.into();
    let mut chunks = Chunks::default();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame.map_err(WebhookError::BodyRead)?.into_data() else {
            continue; // trailers
        };
        if chunks.len() + chunk.len() > limit {
            return Err(WebhookError::TooLarge(limit));
        }
        reading.take(chunk.len())?;
        chunks.push(chunk);
    }
    Ok(chunks.into_bytes())
}

/// A body's chunks: one is kept as it came, more are copied together.
#[derive(Default)]
struct Chunks {
    first: Bytes,
    joined: Option<BytesMut>,
}

impl Chunks {
    fn len(&self) -> usize {
        self.joined.as_ref().map_or(self.first.len(), BytesMut::len)
    }

    fn push(&mut self, chunk: Bytes) {
        match &mut self.joined {
            Some(joined) => joined.extend_from_slice(&chunk),
            None if self.first.is_empty() => self.first = chunk,
            None => {
                let mut joined = BytesMut::from(std::mem::take(&mut self.first));
                joined.extend_from_slice(&chunk);
                self.joined = Some(joined);
            }
        }
    }

    fn into_bytes(self) -> Bytes {
        self.joined.map_or(self.first, BytesMut::freeze)
    }
}

fn verify(
    route: &Route,
    environment: Environment,
    request: &Request,
    body: UnverifiedBody,
) -> Result<VerifiedBody, WebhookError> {
    if environment == Environment::Development {
        warn!("signature NOT verified: environment is development");
        return Ok(Verifier::bypass_in_development(body));
    }
    let presented = Presented::new(request.headers(), request.uri().query());
    Ok(route.verifier.verify(presented, body, SystemTime::now())?)
}

/// Whether `route`'s `allow_ips` lets `client` post; an unknown client is
/// allowed only where every address is.
fn allowed(route: &Route, client: Option<IpAddr>) -> bool {
    match (&route.allow_ips, client) {
        (None, _) => true,
        (Some(networks), Some(ip)) => networks.iter().any(|net| net.contains(&ip)),
        (Some(_), None) => false,
    }
}

/// The caller's `X-Request-Id` when it is sane, a fresh UUID otherwise.
pub(super) fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().to_string();
            HeaderValue::try_from(id).expect("a UUID is a valid header value")
        })
}

/// Holds one of the route's `max_in_flight` places until dropped.
struct InFlight<'a>(&'a RouteMetrics);

impl<'a> InFlight<'a> {
    fn admit(metrics: &'a RouteMetrics, max: u64) -> Result<Self, WebhookError> {
        let before = metrics.in_flight.inc();
        let admitted = InFlight(metrics);
        if before >= max as i64 {
            return Err(WebhookError::Shed);
        }
        Ok(admitted)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

fn log_failure(error: &WebhookError) {
    match error {
        WebhookError::Downstream(ForwardError::Status { status, body, .. }) => {
            // Debug, not Display: quoted and escaped, so a newline or a terminal
            // escape in what the downstream answered cannot forge a log line.
            error!(status = status.as_u16(), body = ?body, "downstream error");
        }
        WebhookError::Downstream(cause) => error!(error = %cause, "downstream error"),
        WebhookError::Unauthorized(reason) => warn!(reason = %reason, "signature rejected"),
        // The Redis link logs an outage once; a line per refused request would flood.
        WebhookError::Queue(cause @ QueueError::Redis(_)) => {
            debug!(error = %cause, "cannot store the event")
        }
        WebhookError::Queue(cause) if !matches!(cause, QueueError::Full { .. }) => {
            error!(error = %cause, "cannot store the event")
        }
        other => warn!(status = other.status().as_u16(), reason = %other, "request refused"),
    }
}
