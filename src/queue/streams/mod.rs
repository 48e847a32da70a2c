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

mod attempts;
mod inspect;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::{AsyncCommands, Script};

use super::event::{Due, Finish, StoredEvent};
use super::inspect::{EventSummary, Purge, QueueStats};
use super::state::EventState;
use super::store::{NewEvent, Store, Ticket};
use super::{QueueError, unix_ms};
use crate::redis_link::{Connection, Link};

/// The consumer group of every route's stream.
const GROUP: &str = "hookgate";
/// Most retries moved back into a stream per round.
const PROMOTE_AT_ONCE: usize = 100;
/// Most entries read per page when walking the dead-letter stream or
/// sweeping delivered events.
const PAGE: usize = 500;
/// Most pages of delivered events swept per round (every minute).
const SWEEP_PAGES: usize = 200;
/// How long a command off the request path may wait for its answer: a batch
/// of event bodies read for delivery, or a script walking a route's keys
/// (a purge), takes longer than storing one event.
const BULK_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// A connection for work off the request path (delivery, housekeeping,
    /// the admin API), with [`BULK_RESPONSE_TIMEOUT`].
    async fn connection(&self) -> Result<Connection, QueueError> {
        Ok(self.link.connection().await?.patient(BULK_RESPONSE_TIMEOUT))
    }

    /// Stores `event` unless its route is full; answers once Redis has it.
    pub(super) async fn add_event(&self, event: NewEvent) -> Result<(), QueueError> {
        let keys = self.keys(&event.route);
        // On the request path: the link's short bound, so that a Redis that
        // does not answer costs the source a quick 503.
        let mut connection = self.link.connection().await?;
        let stored: i32 = self
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
            -1 => Err(QueueError::Exists(event.id)),
            _ => Ok(()),
        }
    }

    /// Deletes delivered events of `route` finished at or before `cutoff`
    /// (at most [`SWEEP_PAGES`] pages per call; the next round goes on).
    pub(super) async fn sweep_delivered(
        &self,
        route: &str,
        cutoff: SystemTime,
    ) -> Result<u64, QueueError> {
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
        connection: &mut Connection,
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

/// The trait's calls, to the inherent methods (here, in `attempts` and in
/// `inspect`), named apart from the trait's so that a call cannot resolve
/// back to the trait method and recurse.
#[async_trait]
impl Store for Streams {
    fn describe(&self) -> String {
        format!("Redis, keys {}queue:*", self.prefix)
    }

    /// Not on Redis: reading an event claims it for this instance, and a
    /// claim held while the event waits for a slot could outlast
    /// `visibility_timeout`.
    fn reads_ahead(&self) -> bool {
        false
    }

    async fn ingest(&self, event: NewEvent) -> Result<(), QueueError> {
        self.add_event(event).await
    }

    async fn due(
        &self,
        route: &str,
        limit: usize,
        claimed: &HashSet<Ticket>,
    ) -> Result<Due, QueueError> {
        self.read_due(route, limit, claimed).await
    }

    async fn finish(
        &self,
        route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError> {
        self.record_outcome(route, event, outcome).await
    }

    async fn sweep(&self, route: &str, cutoff: SystemTime) -> Result<u64, QueueError> {
        self.sweep_delivered(route, cutoff).await
    }

    async fn stats(&self, route: &str) -> Result<QueueStats, QueueError> {
        self.count_events(route).await
    }

    async fn list(
        &self,
        route: &str,
        state: Option<EventState>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, QueueError> {
        self.list_events(route, state, limit).await
    }

    async fn replay(&self, route: &str, id: Option<&str>) -> Result<u64, QueueError> {
        self.replay_dead(route, id).await
    }

    async fn purge(&self, route: &str, what: Purge, id: Option<&str>) -> Result<u64, QueueError> {
        self.purge_events(route, what, id).await
    }
}
