//! Reading the log on Redis: a filtered list, newest first (or oldest
//! first, for a replay), and one record with its attempts.
//!
//! A list walks the routes' indexes from the newest id down (below
//! `before`, above `after`, within `since`/`until`, which are id bounds
//! since ids are UUIDv7), or from the oldest up, merging the routes by id, a page of ids at a time; it reads
//! each page's records in one pipeline and keeps those the filter selects.
//! It stops at `limit` records or after [`MAX_SCAN`] ids, so a filter
//! matching little costs a bounded walk, not the whole log: the page then
//! holds fewer records and its `next` goes on where the walk stopped.

use std::collections::HashMap;
use std::time::SystemTime;

use super::super::prune::first_id_at;
use super::super::query::{Attempt, Filter, Page, Record, Summary, delivered_at};
use super::super::record::{LoggedHeader, unix_ms};
use super::{Keys, READ_TIMEOUT, RedisLogError};
use crate::redis_link::{Connection, Link};

/// Ids read from each index per step.
const PAGE: usize = 200;
/// The most ids a list looks at.
pub const MAX_SCAN: usize = 20_000;

/// What a summary reads of a record's hash, in this order.
const SUMMARY_FIELDS: [&str; 11] = [
    "id",
    "received_at",
    "route",
    "request_id",
    "delivery_id",
    "status",
    "outcome",
    "reason",
    "body_size",
    "duration_ms",
    "body_kept",
];

/// Reads the log on one Redis.
#[derive(Debug)]
pub struct RedisReader {
    link: Link,
    keys: Keys,
}

impl RedisReader {
    /// A reader of the log on the Redis at `url`, keys under `prefix`.
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            link: Link::new(url, READ_TIMEOUT)?,
            keys: Keys::new(prefix),
        })
    }

    /// The records `filter` selects, newest first.
    pub async fn list(&self, filter: &Filter) -> Result<Page, RedisLogError> {
        let mut connection = self.link.connection().await?;
        let routes: Vec<String> = match &filter.route {
            Some(route) => vec![route.clone()],
            None => {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys.routes())
                    .arg(unix_ms(SystemTime::now()))
                    .arg("+inf")
                    .query_async(&mut connection)
                    .await?
            }
        };
        let mut bounds = (lower_bound(filter), upper_bound(filter));
        let mut found = Vec::new();
        let mut scanned = 0;
        loop {
            let ids = self
                .step(&mut connection, &routes, &bounds, filter.oldest_first)
                .await?;
            let Some(last) = ids.last() else {
                return Ok(Page::of(found, filter.limit));
            };
            // The walk goes on past the last id it read.
            if filter.oldest_first {
                bounds.0 = format!("({last}");
            } else {
                bounds.1 = format!("({last}");
            }
            scanned += ids.len();
            for summary in self.summaries(&mut connection, &ids, filter).await? {
                if found.len() < filter.limit {
                    found.push(summary);
                }
            }
            if found.len() == filter.limit {
                return Ok(Page::of(found, filter.limit));
            }
            if scanned >= MAX_SCAN {
                // Not the end: the next page goes on below the last id looked at.
                return Ok(Page {
                    records: found,
                    next: Some(last.clone()),
                });
            }
        }
    }

    /// The newest [`PAGE`] ids of `routes` within the (lower, upper)
    /// `bounds`, newest first; or the oldest, oldest first.
    async fn step(
        &self,
        connection: &mut Connection,
        routes: &[String],
        (lower, upper): &(String, String),
        oldest_first: bool,
    ) -> Result<Vec<String>, RedisLogError> {
        if routes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for route in routes {
            let command = pipe.cmd(if oldest_first {
                "ZRANGEBYLEX"
            } else {
                "ZREVRANGEBYLEX"
            });
            let (from, to) = if oldest_first {
                (lower, upper)
            } else {
                (upper, lower)
            };
            command
                .arg(self.keys.route(route))
                .arg(from)
                .arg(to)
                .arg("LIMIT")
                .arg(0)
                .arg(PAGE);
        }
        let pages: Vec<Vec<String>> = pipe.query_async(connection).await?;
        let mut ids: Vec<String> = pages.into_iter().flatten().collect();
        if oldest_first {
            ids.sort_unstable();
        } else {
            ids.sort_unstable_by(|a, b| b.cmp(a));
        }
        ids.dedup();
        ids.truncate(PAGE);
        Ok(ids)
    }

    /// The records `ids` that `filter` selects, in order; expired ones skipped.
    async fn summaries(
        &self,
        connection: &mut Connection,
        ids: &[String],
        filter: &Filter,
    ) -> Result<Vec<Summary>, RedisLogError> {
        let mut pipe = redis::pipe();
        for id in ids {
            let key = self.keys.event(id);
            pipe.cmd("HMGET").arg(&key).arg(&SUMMARY_FIELDS[..]);
            if filter.text.is_some() {
                pipe.cmd("HGET").arg(&key).arg("body");
            } else {
                // Keeps three answers per id.
                pipe.cmd("EXISTS").arg(&key);
            }
            pipe.cmd("LRANGE")
                .arg(self.keys.attempts(id))
                .arg(0)
                .arg(-1);
        }
        let answers: Vec<redis::Value> = pipe.query_async(connection).await?;
        let mut selected = Vec::new();
        for answer in answers.chunks(3) {
            let fields: Vec<Option<String>> =
                redis::from_redis_value_ref(&answer[0]).map_err(redis::RedisError::from)?;
            let Some(mut summary) = summary(&fields) else {
                continue;
            };
            let body: Option<Vec<u8>> = match filter.text {
                Some(_) => {
                    redis::from_redis_value_ref(&answer[1]).map_err(redis::RedisError::from)?
                }
                None => None,
            };
            let attempts: Vec<String> =
                redis::from_redis_value_ref(&answer[2]).map_err(redis::RedisError::from)?;
            let attempts: Vec<Attempt> = attempts.iter().filter_map(|a| attempt(a)).collect();
            summary.delivered_at = delivered_at(&attempts);
            if selects(filter, &summary, body.as_deref()) {
                selected.push(summary);
            }
        }
        Ok(selected)
    }

    /// The record `id`, with its headers, body and attempts.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, RedisLogError> {
        let mut connection = self.link.connection().await?;
        let (mut hash, attempts): (HashMap<String, Vec<u8>>, Vec<String>) = redis::pipe()
            .cmd("HGETALL")
            .arg(self.keys.event(id))
            .cmd("LRANGE")
            .arg(self.keys.attempts(id))
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await?;
        let text = |hash: &HashMap<String, Vec<u8>>, name: &str| {
            hash.get(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let fields: Vec<Option<String>> = SUMMARY_FIELDS.iter().map(|f| text(&hash, f)).collect();
        let Some(mut summary) = summary(&fields) else {
            return Ok(None);
        };
        let attempts: Vec<Attempt> = attempts.iter().filter_map(|json| attempt(json)).collect();
        summary.delivered_at = delivered_at(&attempts);
        let headers = hash
            .get("headers")
            .and_then(|json| LoggedHeader::parse_all(json));
        Ok(Some(Record {
            summary,
            headers,
            body: hash.remove("body"),
            attempts,
        }))
    }
}

/// The lower id bound of a list: above `after` (exclusive), at or above
/// `since`'s first id (inclusive), whichever is higher.
fn lower_bound(filter: &Filter) -> String {
    let since = filter.since_ms.map(first_id_at);
    match (filter.after.as_ref(), since) {
        (Some(after), Some(since)) if since > *after => format!("[{since}"),
        (Some(after), _) => format!("({after}"),
        (None, Some(since)) => format!("[{since}"),
        (None, None) => "-".to_string(),
    }
}

/// The exclusive upper id bound of a list: below `before` and `until`.
fn upper_bound(filter: &Filter) -> String {
    let until = filter.until_ms.map(first_id_at);
    match (filter.before.as_ref(), until) {
        (Some(before), Some(until)) => format!("({}", before.min(&until)),
        (Some(before), None) => format!("({before}"),
        (None, Some(until)) => format!("({until}"),
        (None, None) => "+".to_string(),
    }
}

/// A summary from [`SUMMARY_FIELDS`]; `None` when the record is gone.
fn summary(fields: &[Option<String>]) -> Option<Summary> {
    let text = |i: usize| fields.get(i).cloned().flatten();
    let number = |i: usize| text(i).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
    Some(Summary {
        id: text(0)?,
        received_at: number(1),
        route: text(2)?,
        request_id: text(3).unwrap_or_default(),
        delivery_id: text(4),
        status: number(5) as u16,
        outcome: text(6).unwrap_or_default(),
        reason: text(7),
        body_size: number(8) as u64,
        duration_ms: number(9) as u64,
        body_kept: text(10).as_deref() == Some("1"),
        delivered_at: None,
    })
}

/// Whether `filter` selects the record (its route and time bounds are in
/// the walk already).
fn selects(filter: &Filter, summary: &Summary, body: Option<&[u8]>) -> bool {
    let outcome = filter
        .outcome
        .as_ref()
        .is_none_or(|o| *o == summary.outcome);
    let class = filter
        .status_class
        .is_none_or(|c| summary.status / 100 == c);
    let delivery =
        (filter.delivery_id.as_ref()).is_none_or(|d| summary.delivery_id.as_ref() == Some(d));
    let text = filter.text.as_ref().is_none_or(|text| {
        body.is_some_and(|body| String::from_utf8_lossy(body).contains(text.as_str()))
    });
    outcome && class && delivery && text
}

fn attempt(json: &str) -> Option<Attempt> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(Attempt {
        at: value["at"].as_i64()?,
        status: value["status"].as_u64().map(|s| s as u16),
        duration_ms: value["duration_ms"].as_u64().unwrap_or(0),
        answer: value["answer"].as_str().unwrap_or_default().to_string(),
        destination: value["destination"].as_str().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_bound_is_the_lower_of_before_and_until() {
        let filter = Filter {
            before: Some("0".into()),
            until_ms: Some(1_000),
            ..Default::default()
        };
        assert_eq!(upper_bound(&filter), "(0");
        assert_eq!(upper_bound(&Filter::default()), "+");
    }
}
