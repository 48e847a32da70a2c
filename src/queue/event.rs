//! A stored event read back for delivery, and what became of an attempt.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderName, HeaderValue};

use super::EVENT_ID;
use super::store::Ticket;
use crate::forward::Outbound;

/// A pending event, ready to be forwarded.
#[derive(Debug)]
pub struct StoredEvent {
    /// What the store needs to record the attempt's outcome.
    pub(crate) ticket: Ticket,
    /// The event id.
    pub id: String,
    /// What is sent, as stored: `X-Hookgate-Event-Id` added to its headers.
    pub outbound: Outbound,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What an attempt came to. Cloned by delivery to record it again when the
/// store refused it.
#[derive(Debug, Clone)]
pub enum Finish {
    /// The downstream answered 2xx; `keep` for the route's `retention`.
    Delivered {
        /// Keep the event (as `delivered`) rather than delete it.
        keep: bool,
    },
    /// It failed; try again after `wait`.
    Retry {
        /// Why it failed.
        error: String,
        /// How long until the next attempt.
        wait: Duration,
    },
    /// It failed while the destination's circuit breaker is open: try again
    /// after `wait`, the attempt not counted (an outage makes no dead letter).
    Deferred {
        /// Why it failed.
        error: String,
        /// How long until the next attempt.
        wait: Duration,
    },
    /// It failed for the last time: a dead letter.
    Dead {
        /// Why it failed.
        error: String,
    },
}

/// Due events, and when the soonest event not yet claimed is due.
#[derive(Debug)]
pub(crate) struct Due {
    /// Events due now, oldest stored first.
    pub events: Vec<StoredEvent>,
    /// When the next unclaimed, not yet returned event is due, if any.
    pub next: Option<SystemTime>,
}

impl StoredEvent {
    /// An event read back from a store: its headers decoded, its id added as
    /// `X-Hookgate-Event-Id`.
    pub(super) fn new(ticket: Ticket, id: String, attempts: u32, stored: Stored<'_>) -> Self {
        let mut headers = decode_headers(stored.headers);
        let id_header = HeaderValue::try_from(id.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        headers.insert(EVENT_ID.clone(), id_header);
        let request_id = HeaderValue::try_from(stored.request_id)
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        let outbound =
            Outbound::restore(stored.route.to_string(), headers, request_id, stored.body);
        Self {
            ticket,
            id,
            outbound,
            attempts,
        }
    }
}

/// The stored fields of an [`Outbound`], as a store reads them back.
#[derive(Debug)]
pub(super) struct Stored<'a> {
    pub route: &'a str,
    pub request_id: &'a str,
    pub headers: &'a [u8],
    pub body: Bytes,
}

/// Headers as `name: value` lines: exact bytes, readable in the sqlite3 shell.
pub(super) fn encode_headers(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(headers.len() * 48);
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The inverse of [`encode_headers`]; a line that is no header is skipped.
fn decode_headers(bytes: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in bytes.split(|b| *b == b'\n') {
        let Some(at) = line.windows(2).position(|pair| pair == b": ") else {
            continue;
        };
        let name = HeaderName::from_bytes(&line[..at]);
        let value = HeaderValue::from_bytes(&line[at + 2..]);
        if let (Ok(name), Ok(value)) = (name, value) {
            headers.append(name, value);
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_survive_the_store_byte_for_byte() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("one: with colon"));
        headers.append("x-a", HeaderValue::from_static("two"));
        headers.append("x-empty", HeaderValue::from_static(""));
        headers.append("x-latin", HeaderValue::from_bytes(b"caf\xe9").unwrap());

        let back = decode_headers(&encode_headers(&headers));

        assert_eq!(back, headers);
    }
}
