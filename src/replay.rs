//! Replay from the event log: a record's kept, verified body delivered
//! again through the durable queue (so it is retried), with the original
//! bytes and the same event id (`X-Hookgate-Event-Id`), to the route's
//! current destinations whose filters it meets (each from its own queue).
//! One record, or every record a filter selects.
//!
//! Used by the admin API and by `hookgate events replay`, which works on the
//! store directly: a running gateway's delivery picks the events up.

use poem::http::{HeaderMap, HeaderName, HeaderValue};

use crate::events::{LoggedHeader, REDACTED, ReadError, Reader, query};
use crate::forward::{Outbound, Peer};
use crate::queue::{Queue, QueueError};
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// Why a record was not replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The record keeps no verified body (refused, or the route keeps none).
    #[error("event `{0}` has no kept, verified body to replay")]
    NoBody(String),
    /// The event is in each of its destinations' queues already (replayed
    /// and not yet delivered, or kept since it was).
    #[error("event `{0}` is in the queue already")]
    AlreadyQueued(String),
    /// Each destination that wants the event took it since (its newest
    /// attempt there was delivered): a replay by filter leaves it be.
    #[error("event `{0}` was delivered to each of its destinations since")]
    Delivered(String),
    /// No destination of the route (as it is now) wants the event.
    #[error("no destination of the route wants event `{0}` (their filters)")]
    Filtered(String),
    /// The store refused or failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The event log could not be read.
    #[error("cannot read the event log: {0}")]
    Log(#[from] ReadError),
}

/// Records a replay by filter puts into the queue unless asked for fewer
/// or more: a burst a downstream back from an outage takes, and an answer
/// that comes before an HTTP client gives up. Past it the tally gives
/// [`Tally::next`], from which the same replay goes on.
pub const DEFAULT_AT_MOST: u64 = 1_000;
/// The most records one replay by filter puts into the queue.
pub const MAX_AT_MOST: u64 = 10_000;

/// What a replay by filter did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records put into the queue.
    pub replayed: u64,
    /// Records skipped: no kept, verified body.
    pub no_body: u64,
    /// Records skipped: their event is in the queue already.
    pub already_queued: u64,
    /// Records skipped: no destination wants them.
    pub filtered: u64,
    /// Records skipped: delivered to each destination since (a replay
    /// earlier, or a retry of its own).
    pub delivered: u64,
    /// Where it stopped, when it stopped at its `at_most` with records
    /// still to look at: the id of the last record it looked at. The same
    /// replay with this as its `after` goes on from there. (Not "every
    /// record it has not queued": an event it queued may be delivered, its
    /// queue row gone, before its attempt reaches the log; a replay from
    /// the start again would find it neither queued nor delivered.)
    pub next: Option<String>,
}

/// Which records a replay by filter takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The records of the route the log filter selects (its `route`,
    /// `before` and `limit` are set by the replay).
    pub filter: query::Filter,
    /// Only records after this id: a [`Tally::next`].
    pub after: Option<String>,
    /// The most records put into the queue.
    pub at_most: u64,
}

/// Which destinations a replay goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Each that wants the event: what an operator's replay of one event asks.
    Nothing,
    /// Each that wants it and has not taken it since: a replay of "every
    /// failure of the last hour" must not deliver again what a first one
    /// delivered.
    Delivered,
}

/// Puts `record` of `route` into `queue` under its own id, once for each
/// destination whose filter it meets (only `only`, when given).
pub async fn one(
    queue: &Queue,
    route: &Route,
    only: Option<&str>,
    record: query::Record,
    skip: Skip,
) -> Result<(), ReplayError> {
    let delivered = match skip {
        Skip::Nothing => Vec::new(),
        Skip::Delivered => delivered_to(&record.attempts),
    };
    let id = record.summary.id;
    let Some(body) = record.body else {
        return Err(ReplayError::NoBody(id));
    };
    let request_id = HeaderValue::try_from(record.summary.request_id.as_str())
        .unwrap_or_else(|_| HeaderValue::from_static("replay"));
    let headers = kept_headers(record.headers.unwrap_or_default());
    // The log keeps only bodies that passed their signature check.
    let body = VerifiedBody::from_store(body.into());
    let peer = Peer {
        ip: None,
        tls: false,
    };
    let wanting: Vec<_> = (route.wanting(&headers, body.bytes()).into_iter())
        .filter(|d| only.is_none_or(|name| d.name == name))
        .collect();
    if wanting.is_empty() {
        return Err(ReplayError::Filtered(id));
    }
    let lanes: Vec<&str> = (wanting.iter())
        .filter(|d| !delivered.contains(&d.name.as_str()))
        .map(|d| d.lane.as_str())
        .collect();
    if lanes.is_empty() {
        return Err(ReplayError::Delivered(id));
    }
    let outbound = Outbound::new(route, &headers, peer, &request_id, &body);
    // Lane by lane: the event may still be in one destination's queue
    // (a mirror's delivery kept for `retention`, an earlier replay not yet
    // delivered) and not in another's, which it goes to all the same.
    let mut stored = 0;
    for lane in &lanes {
        match queue
            .store_for(&outbound, &[lane], Some(&id), u64::MAX)
            .await
        {
            Ok(_) => stored += 1,
            Err(QueueError::Exists(_)) => {}
            Err(other) => return Err(ReplayError::Queue(other)),
        }
    }
    if stored == 0 {
        return Err(ReplayError::AlreadyQueued(id));
    }
    tracing::info!(event_id = %id, route = %route.name, stored, "event replayed");
    Ok(())
}

/// Records of the log read per step of a replay by filter.
const PAGE: usize = 500;

/// Replays the records of `route` in the log at `log` that `selection`
/// takes, oldest first, to the destinations that have not taken each
/// since, until `at_most` are replayed; skips and counts those without a
/// body, already queued, or delivered since. It reads the log a page at a
/// time from `after` on, and no further than where it stops.
pub async fn matching(
    log: &Reader,
    queue: &Queue,
    route: &Route,
    only: Option<&str>,
    selection: Selection,
) -> Result<Tally, ReplayError> {
    let mut tally = Tally::default();
    let mut filter = query::Filter {
        route: Some(route.name.clone()),
        before: None,
        after: selection.after,
        oldest_first: true,
        limit: PAGE,
        ..selection.filter
    };
    let mut last_looked_at = None;
    loop {
        let page = log.list(&filter).await?;
        for summary in page.records {
            if tally.replayed >= selection.at_most {
                tally.next = last_looked_at;
                return Ok(tally);
            }
            last_looked_at = Some(summary.id.clone());
            replay_listed(log, queue, route, only, summary, &mut tally).await?;
        }
        match page.next {
            Some(next) => filter.after = Some(next),
            None => return Ok(tally),
        }
    }
}

/// Replays one record a replay by filter listed, counting it in `tally`.
async fn replay_listed(
    log: &Reader,
    queue: &Queue,
    route: &Route,
    only: Option<&str>,
    summary: query::Summary,
    tally: &mut Tally,
) -> Result<(), ReplayError> {
    if !summary.body_kept {
        tally.no_body += 1;
        return Ok(());
    }
    // Pruned since it was listed: nothing to replay.
    let Some(record) = log.get(&summary.id).await? else {
        return Ok(());
    };
    match one(queue, route, only, record, Skip::Delivered).await {
        Ok(()) => tally.replayed += 1,
        Err(ReplayError::NoBody(_)) => tally.no_body += 1,
        Err(ReplayError::AlreadyQueued(_)) => tally.already_queued += 1,
        Err(ReplayError::Filtered(_)) => tally.filtered += 1,
        Err(ReplayError::Delivered(_)) => tally.delivered += 1,
        Err(other) => return Err(other),
    }
    Ok(())
}

/// The destinations whose newest attempt at the event was delivered.
fn delivered_to(attempts: &[query::Attempt]) -> Vec<&str> {
    (query::newest_attempts(attempts).into_iter())
        .filter(|(_, attempt)| attempt.delivered())
        .filter_map(|(destination, _)| destination)
        .collect()
}

/// The logged headers to send again: redacted ones (signatures,
/// credentials) left out; a value that was not UTF-8 as the bytes the log
/// kept of it. A log written before those bytes were kept holds such a
/// value as text alone, a byte that was not UTF-8 as U+FFFD: that value is
/// left out rather than sent altered.
fn kept_headers(headers: Vec<LoggedHeader>) -> HeaderMap {
    headers
        .into_iter()
        .filter(|header| header.value != REDACTED)
        .filter_map(|header| {
            let value = match header.bytes {
                Some(bytes) => HeaderValue::from_bytes(&bytes).ok()?,
                None if header.value.contains(char::REPLACEMENT_CHARACTER) => return None,
                None => HeaderValue::try_from(header.value).ok()?,
            };
            Some((HeaderName::try_from(header.name).ok()?, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str, value: &str) -> LoggedHeader {
        LoggedHeader {
            name: name.to_string(),
            value: value.to_string(),
            bytes: None,
        }
    }

    #[test]
    fn a_replay_sends_no_redacted_header_nor_a_value_an_older_log_kept_only_as_altered_text() {
        let kept = kept_headers(vec![
            text("x-chatwoot-signature", REDACTED),
            text("x-legacy", "caf\u{FFFD}"),
            text("x-chatwoot-delivery", "d-1"),
        ]);

        let names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-chatwoot-delivery"]);
    }

    #[test]
    fn a_replay_sends_a_value_that_was_not_utf8_as_the_bytes_the_log_kept() {
        let kept = kept_headers(vec![LoggedHeader {
            bytes: Some(b"caf\xe9".to_vec()),
            ..text("x-legacy", "caf\u{FFFD}")
        }]);

        assert_eq!(kept["x-legacy"].as_bytes(), b"caf\xe9");
    }
}
