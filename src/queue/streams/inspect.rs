//! What the admin API and `hookgate queue` see and change on Redis: counts,
//! listings, replays of dead letters and purges.

use std::time::SystemTime;

use redis::AsyncCommands;

use super::{Keys, PAGE, Streams};
use crate::queue::inspect::{EventSummary, Purge, QueueStats};
use crate::queue::state::EventState;
use crate::queue::{QueueError, from_unix_ms, unix_ms};
use crate::redis_link::Connection;

impl Streams {
    /// The counts and the oldest pending event of `route`.
    pub(super) async fn count_events(&self, route: &str) -> Result<QueueStats, QueueError> {
        let keys = self.keys(route);
        let mut connection = self.connection().await?;
        let (pending, dead, delivered, oldest): (u64, u64, u64, Vec<(String, f64)>) = redis::pipe()
            .zcard(&keys.pending)
            .xlen(&keys.dead)
            .zcard(&keys.delivered)
            .zrange_withscores(&keys.pending, 0, 0)
            .query_async(&mut connection)
            .await?;
        Ok(QueueStats {
            pending,
            dead,
            delivered,
            oldest_pending: oldest.first().map(|(_, at)| from_unix_ms(*at as i64)),
        })
    }

    /// Up to `limit` events of `route`, oldest received first; only `state` when given.
    pub(super) async fn list_events(
        &self,
        route: &str,
        state: Option<EventState>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, QueueError> {
        let keys = self.keys(route);
        let mut connection = self.connection().await?;
        let wanted = |s: EventState| state.is_none_or(|w| w == s);
        let last = limit.saturating_sub(1) as isize;
        let mut ids: Vec<String> = Vec::new();
        if wanted(EventState::Pending) {
            ids.extend(
                connection
                    .zrange::<_, Vec<String>>(&keys.pending, 0, last)
                    .await?,
            );
        }
        if wanted(EventState::Dead) {
            let dead = self
                .dead_letters(&mut connection, &keys, "-", limit)
                .await?;
            ids.extend(dead.into_iter().map(|(_, id)| id));
        }
        if wanted(EventState::Delivered) {
            ids.extend(
                connection
                    .zrange::<_, Vec<String>>(&keys.delivered, 0, last)
                    .await?,
            );
        }
        let mut summaries = self.summaries(&mut connection, &keys, ids).await?;
        summaries.sort_by_key(|s| s.received_at);
        summaries.truncate(limit);
        Ok(summaries)
    }

    async fn summaries(
        &self,
        connection: &mut Connection,
        keys: &Keys,
        ids: Vec<String>,
    ) -> Result<Vec<EventSummary>, QueueError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut fetch = redis::pipe();
        for id in &ids {
            fetch.cmd("HMGET").arg(keys.event(id)).arg(&[
                "state",
                "attempts",
                "received_at",
                "next_attempt_at",
                "last_error",
            ]);
        }
        type Fields = (
            Option<String>,
            Option<u32>,
            Option<i64>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Fields> = fetch.query_async(connection).await?;
        let mut summaries = Vec::with_capacity(rows.len());
        for (id, row) in ids.into_iter().zip(rows) {
            // An event gone meanwhile (delivered, purged) is left out.
            let (Some(state), Some(attempts), Some(received_at), next_attempt_at, last_error) = row
            else {
                continue;
            };
            summaries.push(EventSummary {
                id,
                state: state.parse()?,
                attempts,
                received_at: from_unix_ms(received_at),
                next_attempt_at: from_unix_ms(next_attempt_at.unwrap_or_default()),
                last_error: last_error.filter(|e| !e.is_empty()),
            });
        }
        Ok(summaries)
    }

    /// Up to `count` `(entry, event id)` of the dead-letter stream from `start` on.
    async fn dead_letters(
        &self,
        connection: &mut Connection,
        keys: &Keys,
        start: &str,
        count: usize,
    ) -> Result<Vec<(String, String)>, QueueError> {
        let page: redis::streams::StreamRangeReply = connection
            .xrange_count(&keys.dead, start, "+", count)
            .await?;
        Ok(page
            .ids
            .into_iter()
            .map(|entry| {
                let id = entry.get("id").unwrap_or_default();
                (entry.id, id)
            })
            .collect())
    }

    /// Every dead letter of `route` (only `id` when given), page by page.
    async fn each_dead_letter(
        &self,
        connection: &mut Connection,
        keys: &Keys,
        id: Option<&str>,
    ) -> Result<Vec<(String, String)>, QueueError> {
        let (mut found, mut start) = (Vec::new(), "-".to_string());
        loop {
            let page = self.dead_letters(connection, keys, &start, PAGE).await?;
            let Some((last, _)) = page.last() else {
                return Ok(found);
            };
            start = format!("({last}");
            let matching = page.into_iter().filter(|(_, e)| id.is_none_or(|w| w == e));
            found.extend(matching);
        }
    }

    /// Dead letters of `route` (only `id` when given) back into the stream; how many.
    pub(super) async fn replay_dead(
        &self,
        route: &str,
        id: Option<&str>,
    ) -> Result<u64, QueueError> {
        let keys = self.keys(route);
        let mut connection = self.connection().await?;
        let now = unix_ms(SystemTime::now());
        let mut replayed = 0;
        for (entry, event) in self.each_dead_letter(&mut connection, &keys, id).await? {
            let moved: u64 = self
                .scripts
                .replay
                .key(&keys.dead)
                .key(&keys.pending)
                .key(&keys.stream)
                .key(keys.event(&event))
                .arg(entry)
                .arg(&event)
                .arg(now)
                .invoke_async(&mut connection)
                .await?;
            replayed += moved;
        }
        Ok(replayed)
    }

    /// Deletes events of `route`: `what`, only `id` when given; how many.
    pub(super) async fn purge_events(
        &self,
        route: &str,
        what: Purge,
        id: Option<&str>,
    ) -> Result<u64, QueueError> {
        let keys = self.keys(route);
        let mut connection = self.connection().await?;
        let mut purged = 0;
        for (entry, event) in self.each_dead_letter(&mut connection, &keys, id).await? {
            let deleted: u64 = self
                .scripts
                .purge_dead
                .key(&keys.dead)
                .key(keys.event(&event))
                .arg(entry)
                .invoke_async(&mut connection)
                .await?;
            purged += deleted;
        }
        if what == Purge::Everything {
            let ids = self.take_off_indexes(&mut connection, &keys, id).await?;
            purged += self.delete(&mut connection, &keys, &ids).await?;
        }
        Ok(purged)
    }

    /// Takes `id` (or every event) off the pending, retry and delivered
    /// indexes, and with every event empties the stream; returns the ids
    /// taken. An attempt ending afterwards finds its id no longer pending and
    /// records nothing; a stream entry left is dropped when read.
    async fn take_off_indexes(
        &self,
        connection: &mut Connection,
        keys: &Keys,
        id: Option<&str>,
    ) -> Result<Vec<String>, QueueError> {
        if let Some(id) = id {
            let _: () = redis::pipe()
                .atomic()
                .zrem(&keys.pending, id)
                .zrem(&keys.retry, id)
                .zrem(&keys.delivered, id)
                .query_async(connection)
                .await?;
            return Ok(vec![id.to_string()]);
        }
        Ok(self
            .scripts
            .purge_all
            .key(&keys.pending)
            .key(&keys.retry)
            .key(&keys.delivered)
            .key(&keys.stream)
            .invoke_async(connection)
            .await?)
    }
}
