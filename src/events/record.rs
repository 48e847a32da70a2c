//! What the event log keeps of one request and of each delivery attempt.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderName, header};

use crate::forward::{Delivered, ForwardError};
use crate::routes::Route;

/// Stored in place of a secret header's value.
pub const REDACTED: &str = "<redacted>";

/// The first bytes of a downstream's answer kept per attempt.
pub const ANSWER_EXCERPT: usize = 1024;

/// One request that reached a route, whatever its outcome.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// A UUIDv7: the queue's event id, or a new one on sync routes.
    pub id: String,
    /// When the request arrived.
    pub received_at: SystemTime,
    /// The route as it was served: its name, its log settings, the headers
    /// its scheme keeps secret.
    pub route: Arc<Route>,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// The source's own delivery id, where its scheme sends one.
    pub delivery_id: Option<String>,
    /// The answer's status.
    pub status: u16,
    /// The `outcome` label of `hookgate_requests_total`.
    pub outcome: &'static str,
    /// Why the request was refused or failed.
    pub reason: Option<String>,
    /// The body's size as received (0 when it was not read).
    pub body_size: usize,
    /// How long the answer took, in milliseconds.
    pub duration_ms: u64,
    /// The headers as received (redacted by the writer, off the request
    /// path); `None` when not kept.
    pub headers: Option<HeaderMap>,
    /// The verified body; `None` when not kept or never verified.
    pub body: Option<Bytes>,
    /// The downstream call of a sync route.
    pub attempt: Option<AttemptRecord>,
}

/// One call to the downstream.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// When it started.
    pub at: SystemTime,
    /// The downstream's status, when it answered.
    pub status: Option<u16>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The first KiB of its answer, or the error.
    pub answer: String,
    /// The destination called (`default` for a route's `downstream`).
    pub destination: String,
}

impl AttemptRecord {
    /// A call to `destination` started at `at` that ended with `forwarded`.
    pub fn of(
        at: SystemTime,
        destination: &str,
        forwarded: &Result<Delivered, ForwardError>,
    ) -> Self {
        let destination = destination.to_string();
        match forwarded {
            Ok(delivered) => Self {
                destination,
                at,
                status: Some(delivered.status.as_u16()),
                duration_ms: delivered.duration.as_millis() as u64,
                answer: excerpt(&delivered.answer),
            },
            Err(error) => Self {
                destination,
                at,
                status: error.status().map(|s| s.as_u16()),
                duration_ms: at.elapsed().map_or(0, |d| d.as_millis() as u64),
                answer: match error {
                    ForwardError::Status { body, .. } => body.clone(),
                    other => other.to_string(),
                },
            },
        }
    }
}

fn excerpt(answer: &[u8]) -> String {
    String::from_utf8_lossy(&answer[..answer.len().min(ANSWER_EXCERPT)]).into_owned()
}

/// The headers of `route`'s scheme that carry a delivery id of the source's own.
fn delivery_id_header(scheme: &str) -> Option<&'static str> {
    match scheme {
        "chatwoot" => Some("x-chatwoot-delivery"),
        "github" => Some("x-github-delivery"),
        "shopify" => Some("x-shopify-webhook-id"),
        "standard-webhooks" => Some("webhook-id"),
        _ => None,
    }
}

/// The source's delivery id in `headers`, for `route`'s scheme.
pub fn delivery_id(route: &Route, headers: &HeaderMap) -> Option<String> {
    let name = delivery_id_header(route.verifier.scheme())?;
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.chars().take(200).collect())
}

/// `headers` as text pairs, the secret ones redacted: the scheme's
/// signature headers (its delivery id aside), credentials and cookies, and
/// the route's own list.
pub fn redacted_headers(route: &Route, headers: &HeaderMap) -> Vec<(String, String)> {
    let scheme_headers = route.verifier.headers();
    let delivery = delivery_id_header(route.verifier.scheme());
    let secret = |name: &HeaderName| {
        let of_scheme = scheme_headers
            .iter()
            .any(|h| name.as_str().eq_ignore_ascii_case(h))
            && Some(name.as_str()) != delivery;
        of_scheme
            || route.log.redact_headers.contains(name)
            || matches!(
                *name,
                header::AUTHORIZATION
                    | header::COOKIE
                    | header::SET_COOKIE
                    | header::PROXY_AUTHORIZATION
            )
    };
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if secret(name) {
                REDACTED.to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_string(), shown)
        })
        .collect()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
