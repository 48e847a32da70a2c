//! What the event log keeps of one request and of each delivery attempt.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
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

    /// Lets go of the body and headers; whether there were any.
    pub fn shed_body(&mut self) -> bool {
        let had = self.body.is_some() || self.headers.is_some();
        (self.body, self.headers) = (None, None);
        had
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
    /// A value that is not UTF-8 is shown as text (each such byte as
    /// U+FFFD) and kept as it was, in base64: `[name, text, base64]`, so
    /// that a replay sends its bytes unchanged.
    ///
    /// Written straight from the copy, each value borrowed where it is
    /// valid UTF-8: no `String` per header, no `Vec` of pairs per record on
    /// the writer's thread (reading the headers and writing them as JSON
    /// was a tenth of that thread's time in a profile).
    pub fn redacted_json(&self, route: &Route) -> Vec<u8> {
        // Names in the copy are lower-case, as `HeaderName`s are.
        let secret = |name: &str| route.log.redacted.iter().any(|h| h.as_str() == name);
        let entries = self.iter().map(|(name, value)| {
            if secret(name) {
                return Logged::Text(name, REDACTED);
            }
            match std::str::from_utf8(value) {
                Ok(text) => Logged::Text(name, text),
                Err(_) => Logged::Bytes(
                    name,
                    String::from_utf8_lossy(value).into_owned(),
                    BASE64.encode(value),
                ),
            }
        });
        let mut json = Vec::with_capacity(self.0.len() + 64);
        let mut serializer = serde_json::Serializer::new(&mut json);
        serializer
            .collect_seq(entries)
            .expect("strings serialize into a Vec");
        json
    }
}

/// One header as the log keeps it: a JSON array of its name and value, and
/// of the value's bytes in base64 when they are not UTF-8.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Logged<'a> {
    Text(&'a str, &'a str),
    Bytes(&'a str, String, String),
}

/// One header of a logged record, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedHeader {
    /// Its name, lower-case.
    pub name: String,
    /// Its value as text (a byte that is not UTF-8 as U+FFFD), or
    /// [`REDACTED`].
    pub value: String,
    /// The value's bytes, when they are not UTF-8 (logs written before
    /// hookgate kept them hold the text alone).
    pub bytes: Option<Vec<u8>>,
}

impl LoggedHeader {
    /// The headers of a record's `headers` JSON; `None` if it is not such JSON.
    pub fn parse_all(json: &[u8]) -> Option<Vec<Self>> {
        let entries: Vec<Vec<String>> = serde_json::from_slice(json).ok()?;
        let headers = entries.into_iter().filter_map(|entry| {
            let mut parts = entry.into_iter();
            let (name, value) = (parts.next()?, parts.next()?);
            let bytes = parts.next().and_then(|b| BASE64.decode(b).ok());
            Some(Self { name, value, bytes })
        });
        Some(headers.collect())
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;
    use crate::events::tests::route;

    #[test]
    fn a_header_value_that_is_not_utf8_is_logged_as_text_and_read_back_as_its_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert("x-legacy", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));

        let json = HeaderCopy::of(&headers).redacted_json(&route());
        let read = LoggedHeader::parse_all(&json).unwrap();

        let find = |name: &str| read.iter().find(|h| h.name == name).unwrap().clone();
        assert_eq!(find("x-legacy").value, "caf\u{FFFD}");
        assert_eq!(find("x-legacy").bytes.as_deref(), Some(&b"caf\xe9"[..]));
        assert_eq!(
            (find("authorization").value, find("authorization").bytes),
            (REDACTED.to_string(), None)
        );
        assert_eq!(find("content-type").bytes, None);
    }
}
