//! What the event log keeps of one request and of each delivery attempt.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use poem::http::HeaderMap;
use serde::Serializer;

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
    pub headers: Option<HeaderCopy>,
    /// The verified body, copied out of the request's buffer; `None` when
    /// not kept or never verified.
    pub body: Option<Bytes>,
    /// The downstream call of a sync route.
    pub attempt: Option<AttemptRecord>,
}

impl RequestRecord {
    /// About the memory the record holds while it waits for the writer.
    pub fn weight(&self) -> usize {
        let text = self.request_id.len()
            + self.id.len()
            + self.delivery_id.as_ref().map_or(0, String::len)
            + self.reason.as_ref().map_or(0, String::len)
            + self.attempt.as_ref().map_or(0, |a| a.answer.len());
        std::mem::size_of::<Self>()
            + text
            + self.headers.as_ref().map_or(0, |h| h.0.len())
            + self.body.as_ref().map_or(0, Bytes::len)
    }
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

/// The characters of a delivery id kept: ids are short; a longer one is
/// a source's mistake or an attack, not something to search by in full.
const MAX_DELIVERY_ID: usize = 200;

/// `value` as a delivery id is kept: its first [`MAX_DELIVERY_ID`] characters.
pub fn clipped_delivery_id(value: &str) -> String {
    value.chars().take(MAX_DELIVERY_ID).collect()
}

/// The source's delivery id in `headers`, for `route`'s scheme.
pub fn delivery_id(route: &Route, headers: &HeaderMap) -> Option<String> {
    let name = route.verifier.delivery_header()?;
    let value = headers.get(name)?.to_str().ok()?;
    Some(clipped_delivery_id(value))
}

/// A request's headers copied out of the buffer they were read into.
///
/// A logged `HeaderMap` (its values are slices of that buffer) kept each
/// request's whole read buffer alive until the writer had the record:
/// several KiB per record waiting, where the copy takes what the headers
/// take. One allocation: a `name: value` line per header (a name holds no
/// colon, a value no line break).
#[derive(Debug, Clone)]
pub struct HeaderCopy(Vec<u8>);

impl HeaderCopy {
    /// A copy of `headers`.
    pub fn of(headers: &HeaderMap) -> Self {
        let size = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 3)
            .sum();
        let mut lines = Vec::with_capacity(size);
        for (name, value) in headers {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value.as_bytes());
            lines.push(b'\n');
        }
        Self(lines)
    }

    /// Each header's name and value, in the order received.
    fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.split(|&b| b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = std::str::from_utf8(&line[..colon]).ok()?;
            Some((name, line.get(colon + 2..).unwrap_or_default()))
        })
    }

    /// The headers as JSON `[[name, value], ...]`, the secret ones redacted:
    /// those of the route's
    /// [`LogSettings::redacted`](crate::routes::LogSettings::redacted) (its
    /// scheme's signature headers, credentials and cookies, its own list).
    ///
    /// Written straight from the copy, each value borrowed where it is
    /// valid UTF-8: no `String` per header, no `Vec` of pairs per record on
    /// the writer's thread (reading the headers and writing them as JSON
    /// was a tenth of that thread's time in a profile).
    pub fn redacted_json(&self, route: &Route) -> Vec<u8> {
        // Names in the copy are lower-case, as `HeaderName`s are.
        let secret = |name: &str| route.log.redacted.iter().any(|h| h.as_str() == name);
        let pairs = self.iter().map(|(name, value)| {
            let shown = if secret(name) {
                Cow::Borrowed(REDACTED)
            } else {
                String::from_utf8_lossy(value)
            };
            (name, shown)
        });
        let mut json = Vec::with_capacity(self.0.len() + 64);
        let mut serializer = serde_json::Serializer::new(&mut json);
        serializer
            .collect_seq(pairs)
            .expect("pairs of strings serialize into a Vec");
        json
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
