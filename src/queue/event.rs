//! A stored event read back for delivery, and what became of an attempt.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderName, HeaderValue};

use super::{EVENT_ID, Queue, QueueError, from_unix_ms, store, unix_ms};
use crate::signature::VerifiedBody;

/// A pending event, ready to be forwarded.
#[derive(Debug)]
pub struct StoredEvent {
    /// Its place in the store (the order events were stored in).
    pub(crate) seq: i64,
    /// The event id.
    pub id: String,
    /// The request id it was received with.
    pub request_id: HeaderValue,
    /// The headers to forward, `X-Hookgate-Event-Id` included.
    pub headers: HeaderMap,
    /// The exact bytes, verified before they were stored.
    pub body: VerifiedBody,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What an attempt came to.
#[derive(Debug)]
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

impl Queue {
    /// Up to `limit` events of `route` due now and not in `claimed` (being
    /// attempted already), oldest stored first.
    pub(crate) async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<i64>,
    ) -> Result<Due, QueueError> {
        let (route, claimed) = (route.to_string(), claimed.clone());
        self.read(move |conn| {
            let now = unix_ms(SystemTime::now());
            let rows = store::due(conn, &route, now, limit + claimed.len())?;
            let events: Vec<StoredEvent> = rows
                .into_iter()
                .filter(|row| !claimed.contains(&row.seq))
                .take(limit)
                .map(StoredEvent::from)
                .collect();
            let busy = claimed.len() + events.len();
            let next = store::soonest(conn, &route, busy + 1)?
                .into_iter()
                .find(|(seq, _)| !claimed.contains(seq) && !events.iter().any(|e| e.seq == *seq))
                .map(|(_, at)| from_unix_ms(at));
            Ok(Due { events, next })
        })
        .await
    }

    /// Records the outcome of an attempt at the event `seq`.
    pub(crate) async fn finish(&self, seq: i64, outcome: Finish) -> Result<(), QueueError> {
        self.writer
            .run(move |conn| {
                let now = SystemTime::now();
                match outcome {
                    Finish::Delivered { keep } => store::delivered(conn, seq, unix_ms(now), keep),
                    Finish::Retry { error, wait } => {
                        store::failed(conn, seq, &error, unix_ms(now + wait))
                    }
                    Finish::Dead { error } => store::dead(conn, seq, &error, unix_ms(now)),
                }?;
                Ok(())
            })
            .await
    }

    /// Deletes delivered events of `route` older than `keep_for` (all of them
    /// when the route keeps none); returns how many.
    pub(crate) async fn sweep(
        &self,
        route: &str,
        keep_for: Option<Duration>,
    ) -> Result<u64, QueueError> {
        let route = route.to_string();
        let cutoff = SystemTime::now() - keep_for.unwrap_or_default();
        self.writer
            .run(move |conn| Ok(store::sweep(conn, &route, unix_ms(cutoff))?))
            .await
    }

    /// Wakes up when `route` may have a new event due (an ingest, a replay).
    pub(crate) async fn kicked(&self, route: &str) {
        self.kicker(route).notified().await;
    }
}

impl From<store::DueRow> for StoredEvent {
    fn from(row: store::DueRow) -> Self {
        let mut headers = decode_headers(&row.headers);
        let id_header = HeaderValue::try_from(row.id.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        headers.insert(EVENT_ID.clone(), id_header);
        let request_id = HeaderValue::try_from(row.request_id)
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Self {
            seq: row.seq,
            id: row.id,
            request_id,
            headers,
            body: VerifiedBody::from_store(Bytes::from(row.body)),
            attempts: row.attempts,
        }
    }
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
