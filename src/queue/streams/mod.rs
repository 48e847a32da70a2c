//! The backend on Redis Streams, shared by every instance on one Redis.
//!
//! Per route, under `{prefix}queue:{route}:`:
//! - `stream`: an entry (`id` = the event id) per event ready for an attempt.
//!   The consumer group `hookgate` hands each entry to one instance and keeps
//!   it on that instance's pending list until the attempt's outcome is
//!   recorded (`XACK`).
//! - `event:{id}`: a hash with the event (request id, headers, body, times)
//!   and its state (`state`, `attempts`, `last_error`).
//! - `pending`: the undelivered events by received time (depth, oldest age,
//!   the `max_queued` bound).
//! - `retry`: failed events by the time their backoff ends; moved back into
//!   the stream when due.
//! - `dead`: the dead-letter stream (`id`, `attempts`, `error`).
//! - `delivered`: delivered events kept for `retention`, by finish time.
//!
//! Each change of an event's place is one Lua script (`src/queue/lua/`), so
//! a crash never leaves an event in two places or in none. An instance that
//! dies mid-attempt leaves its entries on its pending list; once they have
//! been idle for `visibility_timeout`, any instance takes them over
//! (`XAUTOCLAIM`) and delivers them: at least once.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Script};

mod inspect;

use super::event::{Due, Finish, StoredEvent};
use super::{NewEvent, QueueError, Ticket, from_unix_ms, unix_ms};
use crate::redis_link::Link;

/// The consumer group of every route's stream.
const GROUP: &str = "hookgate";
/// Most retries moved back into a stream per round.
const PROMOTE_AT_ONCE: usize = 100;
/// Most entries read per page when walking the dead-letter stream or
/// sweeping delivered events.
const PAGE: usize = 500;
/// Most pages of delivered events swept per round (every minute).
const SWEEP_PAGES: usize = 200;

/// The Lua scripts, loaded once (then run by their SHA).
struct Scripts {
    ingest: Script,
    promote: Script,
    finish: Script,
    replay: Script,
    drop_orphan: Script,
    purge_dead: Script,
    purge_all: Script,
}

/// The Redis Streams store of one instance.
pub(super) struct Streams {
    link: Link,
    prefix: String,
    visibility_timeout: Duration,
    /// This process's consumer name: unique, so that a restarted instance
    /// never mistakes a dead one's claims for its own.
    consumer: String,
    scripts: Scripts,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("prefix", &self.prefix)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

/// The keys of one route.
struct Keys {
    stream: String,
    pending: String,
    retry: String,
    dead: String,
    delivered: String,
    events: String,
}

impl Keys {
    fn event(&self, id: &str) -> String {
        format!("{}{id}", self.events)
    }
}

impl Streams {
    /// A store on `link` with keys under `prefix`.
    pub fn new(link: Link, prefix: &str, visibility_timeout: Duration) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "hookgate".into());
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Self {
            link,
            prefix: prefix.to_string(),
            visibility_timeout,
            consumer: format!("{host}-{}-{unique}", std::process::id()),
            scripts: Scripts {
                ingest: Script::new(include_str!("../lua/ingest.lua")),
                promote: Script::new(include_str!("../lua/promote.lua")),
                finish: Script::new(include_str!("../lua/finish.lua")),
                replay: Script::new(include_str!("../lua/replay.lua")),
                drop_orphan: Script::new(include_str!("../lua/drop_orphan.lua")),
                purge_dead: Script::new(include_str!("../lua/purge_dead.lua")),
                purge_all: Script::new(include_str!("../lua/purge_all.lua")),
            },
        }
    }

    /// Where events are kept, for logs and listings.
    pub fn describe(&self) -> String {
        format!("Redis, keys {}queue:*", self.prefix)
    }

    /// The prefix of every key.
    #[cfg(test)]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn keys(&self, route: &str) -> Keys {
        let base = format!("{}queue:{route}:", self.prefix);
        Keys {
            stream: format!("{base}stream"),
            pending: format!("{base}pending"),
            retry: format!("{base}retry"),
            dead: format!("{base}dead"),
            delivered: format!("{base}delivered"),
            events: format!("{base}event:"),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, QueueError> {
        Ok(self.link.connection().await?)
    }

    /// Stores `event` unless its route is full; answers once Redis has it.
    pub async fn ingest(&self, event: NewEvent) -> Result<(), QueueError> {
        let keys = self.keys(&event.route);
        let mut connection = self.connection().await?;
        let stored: u32 = self
            .scripts
            .ingest
            .key(&keys.stream)
            .key(&keys.pending)
            .key(&keys.dead)
            .key(keys.event(&event.id))
            .arg(event.max_queued)
            .arg(&event.id)
            .arg(event.received_at)
            .arg(&event.request_id)
            .arg(&event.headers[..])
            .arg(&event.body[..])
            .invoke_async(&mut connection)
            .await?;
        match stored {
            0 => Err(QueueError::Full {
                route: event.route,
                max: event.max_queued,
            }),
            _ => Ok(()),
        }
    }

    /// Up to `limit` events of `route` for this instance to attempt: retries
    /// now due, entries abandoned by a dead instance, then new entries.
    pub async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<Ticket>,
    ) -> Result<Due, QueueError> {
        let keys = self.keys(route);
        let mut connection = self.connection().await?;
        let now = unix_ms(SystemTime::now());
        let _: u32 = self
            .scripts
            .promote
            .key(&keys.stream)
            .key(&keys.retry)
            .arg(GROUP)
            .arg(now)
            .arg(PROMOTE_AT_ONCE)
            .invoke_async(&mut connection)
            .await?;
        let mut entries = self.reclaim(&mut connection, &keys, limit).await?;
        entries.retain(|entry| !claimed.contains(&Ticket::Entry(entry.id.clone())));
        if entries.len() < limit {
            let options = StreamReadOptions::default()
                .group(GROUP, &self.consumer)
                .count(limit - entries.len());
            let read: Option<StreamReadReply> = connection
                .xread_options(&[&keys.stream], &[">"], &options)
                .await?;
            entries.extend(read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids));
        }
        let more = entries.len() >= limit;
        let events = self.load(&mut connection, &keys, entries).await?;
        let next = match more {
            true => Some(SystemTime::now()),
            false => soonest_retry(&mut connection, &keys).await?,
        };
        Ok(Due { events, next })
    }

    /// Takes over up to `limit` entries left unacknowledged for longer than
    /// the visibility timeout: their instance died mid-attempt.
    async fn reclaim(
        &self,
        connection: &mut ConnectionManager,
        keys: &Keys,
        limit: usize,
    ) -> Result<Vec<StreamId>, QueueError> {
        let idle_ms = self.visibility_timeout.as_millis() as u64;
        let mut start = "0-0".to_string();
        let mut claimed = Vec::new();
        // The pending lists hold at most `concurrency` entries per instance:
        // walking them whole is cheap.
        loop {
            let options = StreamAutoClaimOptions::default().count(limit - claimed.len());
            let reply: redis::streams::StreamAutoClaimReply = connection
                .xautoclaim_options(
                    &keys.stream,
                    GROUP,
                    &self.consumer,
                    idle_ms,
                    &start,
                    options,
                )
                .await?;
            claimed.extend(reply.claimed);
            if reply.next_stream_id == "0-0" || claimed.len() >= limit {
                return Ok(claimed);
            }
            start = reply.next_stream_id;
        }
    }

    /// The events behind `entries`; an entry whose event was purged is
    /// acknowledged and dropped.
    async fn load(
        &self,
        connection: &mut ConnectionManager,
        keys: &Keys,
        entries: Vec<StreamId>,
    ) -> Result<Vec<StoredEvent>, QueueError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = entries
            .iter()
            .map(|entry| entry.get("id").unwrap_or_default())
            .collect();
        let mut fetch = redis::pipe();
        for id in &ids {
            fetch.cmd("HMGET").arg(keys.event(id)).arg(&[
                "attempts",
                "request_id",
                "headers",
                "body",
            ]);
        }
        type Fields = (
            Option<u32>,
            Option<String>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
        );
        let rows: Vec<Fields> = fetch.query_async(connection).await?;
        let mut events = Vec::with_capacity(rows.len());
        for ((entry, id), row) in entries.into_iter().zip(ids).zip(rows) {
            match row {
                (Some(attempts), Some(request_id), Some(headers), Some(body)) => {
                    let ticket = Ticket::Entry(entry.id);
                    let event =
                        StoredEvent::new(ticket, id, attempts, &request_id, &headers, body.into());
                    events.push(event);
                }
                _ => {
                    let _: u32 = self
                        .scripts
                        .drop_orphan
                        .key(&keys.stream)
                        .key(&keys.pending)
                        .key(&keys.retry)
                        .key(keys.event(&id))
                        .arg(GROUP)
                        .arg(&entry.id)
                        .arg(&id)
                        .invoke_async(connection)
                        .await?;
                }
            }
        }
        Ok(events)
    }

    /// Records the outcome of an attempt at `event` of `route`.
    pub async fn finish(
        &self,
        route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError> {
        let keys = self.keys(route);
        let entry = event.ticket.entry().unwrap_or_default();
        let now = SystemTime::now();
        let (kind, next, error) = match outcome {
            Finish::Delivered { keep: true } => ("kept", now, String::new()),
            Finish::Delivered { keep: false } => ("delivered", now, String::new()),
            Finish::Retry { error, wait } => ("retry", now + wait, error),
            Finish::Dead { error } => ("dead", now, error),
        };
        let mut connection = self.connection().await?;
        let _: u32 = self
            .scripts
            .finish
            .key(&keys.stream)
            .key(&keys.pending)
            .key(&keys.retry)
            .key(&keys.dead)
            .key(&keys.delivered)
            .key(keys.event(&event.id))
            .arg(GROUP)
            .arg(entry)
            .arg(&event.id)
            .arg(kind)
            .arg(unix_ms(now))
            .arg(unix_ms(next))
            .arg(error)
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// Deletes delivered events of `route` finished at or before `cutoff`
    /// (at most [`SWEEP_PAGES`] pages per call; the next round goes on).
    pub async fn sweep(&self, route: &str, cutoff: SystemTime) -> Result<u64, QueueError> {
        let keys = self.keys(route);
        let mut connection = self.connection().await?;
        let mut swept = 0;
        for _ in 0..SWEEP_PAGES {
            let ids: Vec<String> = connection
                .zrangebyscore_limit(&keys.delivered, "-inf", unix_ms(cutoff), 0, PAGE as isize)
                .await?;
            if ids.is_empty() {
                break;
            }
            self.delete(&mut connection, &keys, &ids).await?;
            let _: () = connection.zrem(&keys.delivered, &ids).await?;
            swept += ids.len() as u64;
            if ids.len() < PAGE {
                break;
            }
        }
        Ok(swept)
    }

    /// Deletes the hashes of the events `ids`; returns how many existed.
    async fn delete(
        &self,
        connection: &mut ConnectionManager,
        keys: &Keys,
        ids: &[String],
    ) -> Result<u64, QueueError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let hashes: Vec<String> = ids.iter().map(|id| keys.event(id)).collect();
        Ok(connection.del(hashes).await?)
    }
}

/// When the soonest retry of the route is due.
async fn soonest_retry(
    connection: &mut ConnectionManager,
    keys: &Keys,
) -> Result<Option<SystemTime>, QueueError> {
    let soonest: Vec<(String, f64)> = connection.zrange_withscores(&keys.retry, 0, 0).await?;
    Ok(soonest.first().map(|(_, at)| from_unix_ms(*at as i64)))
}
