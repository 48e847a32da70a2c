//! The writer of the log on Redis: one thread, with a runtime of its own,
//! that takes what the channel holds and writes it in one pipeline.
//!
//! No gathering pause as on SQLite: a batch costs one round trip, and while
//! it is on its way the channel fills with the next one.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use redis::{Pipeline, Script};

use super::super::prune::first_id_at;
use super::super::record::unix_ms;
use super::super::{AttemptRecord, Entry, RequestRecord};
use super::{Keys, RedisLogError, WRITE_TIMEOUT};
use crate::quiet::Quiet;
use crate::redis_link::Link;

/// The most records in one pipeline.
const MAX_BATCH: usize = 1024;
/// How long the writer waits for a record before it looks again (it ends
/// once every sender is gone).
const IDLE: Duration = Duration::from_secs(1);
/// How long the attempts of an event not (yet) in the log are kept: an
/// attempt may reach Redis before its record (another instance delivered
/// it); the record's write then gives the list its route's retention.
const ORPHAN_ATTEMPTS_MS: u64 = 3_600_000;

/// Appends an attempt and gives the list its event's time to live.
static APPEND_ATTEMPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("append_attempt.lua")));
/// Trims a route's index to its retention and `max_events`.
static TRIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("trim.lua")));

/// A route's bounds, as its latest record in a batch gave them.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    retention_ms: u64,
    max_events: u64,
}

/// Starts the writer of the log on the Redis at `url`, keys under `prefix`;
/// it ends when every [`super::super::EventLog`] is dropped.
pub fn spawn(
    url: &str,
    prefix: &str,
    entries: Receiver<Entry>,
    dropped: Counter,
) -> Result<(), redis::RedisError> {
    let link = Link::new(url, WRITE_TIMEOUT)?;
    let keys = Keys::new(prefix);
    let spawned = std::thread::Builder::new()
        .name("hookgate-event-log".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => run(&runtime, &link, &keys, &entries, &dropped),
                Err(error) => tracing::error!(%error, "cannot start the event log's writer"),
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the event log's writer: nothing is logged");
    }
    Ok(())
}

fn run(
    runtime: &tokio::runtime::Runtime,
    link: &Link,
    keys: &Keys,
    entries: &Receiver<Entry>,
    dropped: &Counter,
) {
    let mut failing = Quiet::default();
    loop {
        let first = match entries.recv_timeout(IDLE) {
            Ok(first) => first,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        batch.extend(entries.try_iter().take(MAX_BATCH - 1));
        let written = runtime.block_on(write(link, keys, &batch));
        match written {
            Ok(()) => {
                if let Some(failures) = failing.ended() {
                    tracing::info!(failures, "the event log is written to Redis again");
                }
            }
            Err(error) => {
                dropped.inc_by(batch.len() as u64);
                if let Some(held_back) = failing.occurred() {
                    tracing::error!(%error, held_back, "cannot write the event log to Redis; records are lost");
                }
            }
        }
    }
}

/// Writes `batch` in one pipeline, then trims the routes it touched.
pub(super) async fn write(link: &Link, keys: &Keys, batch: &[Entry]) -> Result<(), RedisLogError> {
    let mut connection = link.connection().await?;
    let mut pipe = redis::pipe();
    // Loaded at the head of every batch (a Redis restarted since the last
    // one has forgotten them), then run by their SHA: each script's text
    // travels once per batch, not once per attempt or route.
    pipe.load_script(&APPEND_ATTEMPT).ignore();
    pipe.load_script(&TRIM).ignore();
    let mut routes: HashMap<&str, Bounds> = HashMap::new();
    for entry in batch {
        match entry {
            Entry::Request { record, .. } => {
                let bounds = Bounds {
                    retention_ms: (record.route.log.retention.as_millis() as u64).max(1),
                    max_events: record.route.log.max_events,
                };
                add_request(&mut pipe, keys, record, bounds);
                routes.insert(&record.route.name, bounds);
            }
            Entry::Attempt {
                event_id, attempt, ..
            } => add_attempt(&mut pipe, keys, event_id, attempt, None),
        }
    }
    let now = unix_ms(SystemTime::now());
    for (route, bounds) in &routes {
        let first_kept = first_id_at(now - bounds.retention_ms as i64);
        pipe.invoke_script(
            TRIM.key(keys.route(route))
                .arg(keys.event_base())
                .arg(first_kept)
                .arg(bounds.max_events)
                .arg(bounds.retention_ms),
        )
        .ignore();
        // Listed until its index may have expired: GT, so that a route's
        // shorter retention never hides a longer one's records.
        pipe.cmd("ZADD")
            .arg(keys.routes())
            .arg("GT")
            .arg(now + bounds.retention_ms as i64)
            .arg(*route)
            .ignore();
    }
    if !routes.is_empty() {
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(keys.routes())
            .arg("-inf")
            .arg(format!("({now}"))
            .ignore();
    }
    pipe.query_async::<()>(&mut connection).await?;
    Ok(())
}

fn add_request(pipe: &mut Pipeline, keys: &Keys, record: &RequestRecord, bounds: Bounds) {
    let route = &record.route;
    let key = keys.event(&record.id);
    let mut fields: Vec<(&str, Vec<u8>)> = vec![
        ("id", record.id.clone().into_bytes()),
        (
            "received_at",
            unix_ms(record.received_at).to_string().into_bytes(),
        ),
        ("route", route.name.clone().into_bytes()),
        ("request_id", record.request_id.clone().into_bytes()),
        ("status", record.status.to_string().into_bytes()),
        ("outcome", record.outcome.as_bytes().to_vec()),
        ("body_size", record.body_size.to_string().into_bytes()),
        ("duration_ms", record.duration_ms.to_string().into_bytes()),
        (
            "body_kept",
            if record.body.is_some() { b"1" } else { b"0" }.to_vec(),
        ),
    ];
    if let Some(id) = &record.delivery_id {
        fields.push(("delivery_id", id.clone().into_bytes()));
    }
    if let Some(reason) = &record.reason {
        fields.push(("reason", reason.clone().into_bytes()));
    }
    if let Some(headers) = &record.headers {
        fields.push(("headers", headers.redacted_json(route)));
    }
    if let Some(body) = &record.body {
        fields.push(("body", body.to_vec()));
    }
    // A record written again (the same id) keeps none of its old fields.
    pipe.cmd("DEL").arg(&key).ignore();
    pipe.cmd("HSET").arg(&key).arg(fields).ignore();
    pipe.cmd("PEXPIRE")
        .arg(&key)
        .arg(bounds.retention_ms)
        .ignore();
    pipe.cmd("ZADD")
        .arg(keys.route(&route.name))
        .arg(0)
        .arg(&record.id)
        .ignore();
    match &record.attempt {
        Some(attempt) => add_attempt(pipe, keys, &record.id, attempt, Some(bounds)),
        // Attempts that came first (from another instance) live as long as it.
        None => {
            pipe.cmd("PEXPIRE")
                .arg(keys.attempts(&record.id))
                .arg(bounds.retention_ms)
                .ignore();
        }
    }
}

fn add_attempt(
    pipe: &mut Pipeline,
    keys: &Keys,
    event_id: &str,
    attempt: &AttemptRecord,
    bounds: Option<Bounds>,
) {
    let json = serde_json::json!({
        "at": unix_ms(attempt.at),
        "status": attempt.status,
        "duration_ms": attempt.duration_ms,
        "answer": attempt.answer,
        "destination": attempt.destination,
    })
    .to_string();
    let attempts = keys.attempts(event_id);
    match bounds {
        Some(bounds) => {
            pipe.cmd("RPUSH").arg(&attempts).arg(json).ignore();
            pipe.cmd("PEXPIRE")
                .arg(&attempts)
                .arg(bounds.retention_ms)
                .ignore();
        }
        None => {
            pipe.invoke_script(
                APPEND_ATTEMPT
                    .key(&attempts)
                    .key(keys.event(event_id))
                    .arg(json)
                    .arg(ORPHAN_ATTEMPTS_MS),
            )
            .ignore();
        }
    }
}
