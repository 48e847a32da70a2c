//! The event log on Redis (`[store] backend = "redis"`), shared by every
//! instance on one Redis: any instance lists and shows every instance's
//! records.
//!
//! Under the store's `prefix` (`hookgate:` by default):
//! - `log:event:{id}`: a hash per record (the fields of the SQLite `events`
//!   table, `headers` as JSON, `body` as bytes, `body_kept`), expiring after
//!   its route's `retention`.
//! - `log:event:{id}:attempts`: a list of the record's attempts (JSON),
//!   expiring with its record.
//! - `log:route:{route}`: the route's index, a sorted set of event ids all
//!   of score 0, so ordered by id (UUIDv7: by time); the writer trims it to
//!   `retention` and `max_events` after each batch and deletes the records
//!   it trims by count.
//! - `log:routes`: the routes with an index, each scored with the time
//!   (Unix ms) until which its records may live.
//!
//! The writer (`write`) pipelines each batch in one round trip; the reader
//! (`read`) pages through the indexes newest first, skipping ids whose
//! record has expired.

mod read;
#[cfg(test)]
mod tests;
mod write;

use std::time::Duration;

pub use read::RedisReader;
pub(super) use write::spawn as spawn_writer;

use crate::redis_link::Unavailable;

/// How long the writer waits for Redis to answer a batch: past it, the
/// batch is dropped and counted.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a read (a page of a list, one record) waits for Redis.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the log on Redis could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RedisLogError {
    /// Redis refused or timed out lately (the link logs the cause).
    #[error("Redis is unavailable")]
    Unavailable(#[from] Unavailable),
    /// Redis answered with an error, or the connection failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The log's keys under one prefix.
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            prefix: format!("{prefix}log:"),
        }
    }

    /// Every record's hash is this and its id.
    fn event_base(&self) -> String {
        format!("{}event:", self.prefix)
    }

    fn event(&self, id: &str) -> String {
        format!("{}event:{id}", self.prefix)
    }

    fn attempts(&self, id: &str) -> String {
        format!("{}event:{id}:attempts", self.prefix)
    }

    fn route(&self, route: &str) -> String {
        format!("{}route:{route}", self.prefix)
    }

    fn routes(&self) -> String {
        format!("{}routes", self.prefix)
    }
}
