//! A Redis connection made on first use, as the dedupe store and the queue on
//! Redis Streams each hold one.
//!
//! After a failed connection attempt, callers are refused at once for a
//! second instead of each waiting for a connect timeout, so an outage costs a
//! request a fast error. Once made, the connection manager reconnects by itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// Longest wait for Redis to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection, callers skip Redis for this long.
const RETRY_CONNECT_AFTER: Duration = Duration::from_secs(1);

/// Redis did not answer (refused, timed out, or failed recently).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("Redis is unavailable")]
pub struct Unavailable;

/// A Redis client and its connection once made.
pub struct Link {
    client: redis::Client,
    response_timeout: Duration,
    connection: OnceCell<ConnectionManager>,
    last_failure: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Link {
    // The URL may hold a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

impl Link {
    /// A link to `url`, not connected yet, whose commands fail after
    /// `response_timeout` without an answer.
    pub fn new(url: &str, response_timeout: Duration) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            response_timeout,
            connection: OnceCell::new(),
            last_failure: Mutex::new(None),
        })
    }

    /// The shared connection, made now if it is not yet.
    pub async fn connection(&self) -> Result<ConnectionManager, Unavailable> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        if self.failed_recently() {
            return Err(Unavailable);
        }
        let config =
            ConnectionManagerConfig::new().set_response_timeout(Some(self.response_timeout));
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        let made = self
            .connection
            .get_or_try_init(|| async {
                match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    Ok(Ok(connection)) => Ok(connection),
                    _ => Err(Unavailable),
                }
            })
            .await;
        if made.is_err() {
            *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        made.cloned()
    }

    fn failed_recently(&self) -> bool {
        let last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        last.is_some_and(|at| at.elapsed() < RETRY_CONNECT_AFTER)
    }
}
