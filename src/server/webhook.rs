//! One webhook request: method, enabled, body, signature, forward, answer.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use poem::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use poem::{Body, IntoResponse, Request, Response};
use serde_json::json;
use tracing::{Instrument, error, info, info_span, warn};

use super::error::{WebhookError, json_response};
use super::state::{RouteStats, Snapshot, State};
use crate::config::Environment;
use crate::forward::{Delivered, ForwardError, Forwarder, Peer, REQUEST_ID};
use crate::routes::Route;
use crate::signature::{UnverifiedBody, VerifiedBody, Verifier};

/// Longest `X-Request-Id` taken from a caller; a longer one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Answers a request whose path matched `route` in `snapshot`.
pub async fn handle(
    state: &State,
    forwarder: &Forwarder,
    snapshot: &Snapshot,
    route: &Arc<Route>,
    request: Request,
) -> Response {
    let request_id = request_id(request.headers());
    let span = info_span!(
        "webhook",
        route = %route.name,
        request_id = request_id.to_str().unwrap_or_default()
    );
    let started = Instant::now();
    let stats = &snapshot.stats[&route.name];
    let outcome = process(forwarder, snapshot, route, stats, request, &request_id)
        .instrument(span.clone())
        .await;
    stats
        .series
        .request_duration
        .observe(started.elapsed().as_secs_f64());
    let mut response = match outcome {
        Ok(response) => {
            stats.series.forwarded.inc();
            response
        }
        Err(error) => {
            state.metrics.count(&route.name, error.outcome());
            span.in_scope(|| log_failure(&error));
            error.into_response()
        }
    };
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), request_id);
    response
}

async fn process(
    forwarder: &Forwarder,
    snapshot: &Snapshot,
    route: &Route,
    stats: &RouteStats,
    mut request: Request,
    request_id: &HeaderValue,
) -> Result<Response, WebhookError> {
    info!(method = %request.method(), "webhook received");
    if request.method() != Method::POST {
        return Err(WebhookError::MethodNotAllowed);
    }
    if !route.enabled {
        return Err(WebhookError::Disabled);
    }
    let _admitted = InFlight::admit(stats, route.max_in_flight)?;
    let body = read_body(request.take_body(), request.headers(), route.max_body_bytes).await?;
    let environment = snapshot.config.server.environment;
    let verified = verify(route, environment, request.headers(), body)?;
    let peer = peer(&request);
    let forwarded = forwarder
        .forward(route, request.headers(), peer, request_id, &verified)
        .await;
    record_delivery(route, stats, &forwarded);
    let delivered = forwarded?;
    info!(
        status = delivered.status.as_u16(),
        duration_ms = delivered.duration.as_millis() as u64,
        "processed successfully"
    );
    let body = json!({ "success": true, "processed": true });
    Ok(json_response(StatusCode::OK, &body))
}

/// Reads the body up to `limit`, chunked or not; refuses early on a large Content-Length.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<UnverifiedBody, WebhookError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(WebhookError::TooLarge(limit));
    }
    match body.into_bytes_limit(limit).await {
        Ok(bytes) => Ok(UnverifiedBody::new(bytes)),
        Err(poem::error::ReadBodyError::PayloadTooLarge) => Err(WebhookError::TooLarge(limit)),
        Err(other) => Err(WebhookError::BodyRead(std::io::Error::other(other))),
    }
}

fn verify(
    route: &Route,
    environment: Environment,
    headers: &HeaderMap,
    body: UnverifiedBody,
) -> Result<VerifiedBody, WebhookError> {
    if environment == Environment::Development {
        warn!("signature NOT verified: environment is development");
        return Ok(Verifier::bypass_in_development(body));
    }
    Ok(route.verifier.verify(headers, body, SystemTime::now())?)
}

fn peer(request: &Request) -> Peer {
    Peer {
        ip: request.remote_addr().as_socket_addr().map(|a| a.ip()),
        tls: request.scheme() == &poem::http::uri::Scheme::HTTPS,
    }
}

/// The caller's `X-Request-Id` when it is sane, a fresh UUID otherwise.
fn request_id(headers: &HeaderMap) -> HeaderValue {
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
struct InFlight<'a>(&'a RouteStats);

impl<'a> InFlight<'a> {
    fn admit(stats: &'a RouteStats, max: u64) -> Result<Self, WebhookError> {
        let before = stats.in_flight.inc();
        let admitted = InFlight(stats);
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

/// Feeds the downstream's answer into the metrics and the failure streak.
fn record_delivery(route: &Route, stats: &RouteStats, forwarded: &Result<Delivered, ForwardError>) {
    let mut streak = stats.streak.lock().unwrap_or_else(|e| e.into_inner());
    match forwarded {
        Ok(delivered) => {
            let seconds = delivered.duration.as_secs_f64();
            stats.series.downstream_duration.observe(seconds);
            streak.succeeded(&route.name);
        }
        Err(error) => {
            let status = match error {
                ForwardError::Status { status, .. } => Some(status.as_u16()),
                _ => None,
            };
            streak.failed(&route.name, status, error.to_string(), route.alert_after);
        }
    }
}

fn log_failure(error: &WebhookError) {
    match error {
        WebhookError::Downstream(ForwardError::Status { status, body }) => {
            error!(status = status.as_u16(), body = %body, "downstream error");
        }
        WebhookError::Downstream(cause) => error!(error = %cause, "downstream error"),
        WebhookError::Unauthorized(reason) => warn!(reason = %reason, "signature rejected"),
        other => warn!(status = other.status().as_u16(), reason = %other, "request refused"),
    }
}
