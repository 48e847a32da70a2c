//! Delivery on Redis: reading due events for this instance (retries now
//! due, entries a dead instance left, new entries) and recording the outcome
//! of an attempt.

use std::collections::HashSet;
use std::time::SystemTime;

use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamId, StreamReadOptions, StreamReadReply};

use super::{GROUP, Keys, PROMOTE_AT_ONCE, Streams};
use crate::queue::event::{Due, Finish, Stored, StoredEvent};
use crate::queue::store::Ticket;
use crate::queue::{QueueError, from_unix_ms, unix_ms};
use crate::redis_link::Connection;

impl Streams {
    /// Up to `limit` events of `route` for this instance to attempt: retries
    /// now due, entries abandoned by a dead instance, then new entries.
    pub(super) async fn read_due(
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
        let events = self.load(&mut connection, route, &keys, entries).await?;
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
        connection: &mut Connection,
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
        connection: &mut Connection,
        route: &str,
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
                    let stored = Stored {
                        route,
                        request_id: &request_id,
                        headers: &headers,
                        body: body.into(),
                    };
                    let ticket = Ticket::Entry(entry.id);
                    events.push(StoredEvent::new(ticket, id, attempts, stored));
                }
                _ => self.drop_orphan(connection, keys, &entry.id, &id).await?,
            }
        }
        Ok(events)
    }

    /// Acknowledges and drops the stream `entry` of the event `id`, purged
    /// while the entry waited.
    async fn drop_orphan(
        &self,
        connection: &mut Connection,
        keys: &Keys,
        entry: &str,
        id: &str,
    ) -> Result<(), QueueError> {
        let _: u32 = self
            .scripts
            .drop_orphan
            .key(&keys.stream)
            .key(&keys.pending)
            .key(&keys.retry)
            .key(keys.event(id))
            .arg(GROUP)
            .arg(entry)
            .arg(id)
            .invoke_async(connection)
            .await?;
        Ok(())
    }

    /// Records the outcome of an attempt at `event` of `route`.
    pub(super) async fn record_outcome(
        &self,
        route: &str,
        event: &StoredEvent,
        outcome: Finish,
    ) -> Result<(), QueueError> {
        let keys = self.keys(route);
        let entry = event.ticket.entry()?;
        let now = SystemTime::now();
        let (kind, next, error) = match outcome {
            Finish::Delivered { keep: true } => ("kept", now, String::new()),
            Finish::Delivered { keep: false } => ("delivered", now, String::new()),
            Finish::Retry { error, wait } => ("retry", now + wait, error),
            Finish::Deferred { error, wait } => ("deferred", now + wait, error),
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
}

/// When the soonest retry of the route is due.
async fn soonest_retry(
    connection: &mut Connection,
    keys: &Keys,
) -> Result<Option<SystemTime>, QueueError> {
    let soonest: Vec<(String, f64)> = connection.zrange_withscores(&keys.retry, 0, 0).await?;
    Ok(soonest.first().map(|(_, at)| from_unix_ms(*at as i64)))
}
