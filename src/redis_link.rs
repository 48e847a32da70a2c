//! A Redis connection made on first use, as the dedupe store and the queue on
//! Redis Streams each hold one, whose every call is bounded.
//!
//! A connection attempt waits at most [`CONNECT_TIMEOUT`], a command the
//! link's response timeout, and nothing is retried within a call. After a
//! failure (a connection refused or timed out, a command timed out), calls
//! are refused at once for [`FAIL_FAST_FOR`]; then the next call tries Redis
//! again while the calls that come meanwhile wait for that one attempt. A
//! connection closed under a command is made again by the next call.
//!
//! So an outage costs a request a fast error, not a wait on a reconnect
//! loop, and Redis is used again within about a second of its return. The
//! outage is logged (a WARN, repeated every [`WARN_EVERY`]), and so is its
//! end (an INFO).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// Longest wait for Redis to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, calls are refused at once for this long.
const FAIL_FAST_FOR: Duration = Duration::from_secs(1);
/// While Redis stays down, the WARN is repeated this often, not per call.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// No connection: Redis refused or timed out, now or within the last
/// [`FAIL_FAST_FOR`] (the cause is in the link's WARN).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no connection")]
pub struct Unavailable;

/// A Redis client, its connection once made, and whether Redis is answering.
pub struct Link {
    client: redis::Client,
    config: AsyncConnectionConfig,
    /// Held while connecting, so that concurrent callers wait for one attempt.
    connecting: tokio::sync::Mutex<()>,
    shared: Arc<Shared>,
}

/// What a link and the connections it handed out share.
#[derive(Default)]
struct Shared {
    /// The connection in use: none before the first call, nor after a
    /// failure lost it.
    current: ArcSwapOption<MultiplexedConnection>,
    health: Mutex<Health>,
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
    pub fn new(url: &str, response_timeout: Duration) -> RedisResult<Self> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(response_timeout));
        Ok(Self {
            client: redis::Client::open(url)?,
            config,
            connecting: tokio::sync::Mutex::new(()),
            shared: Arc::default(),
        })
    }

    /// The connection, made now if there is none; refused at once within
    /// [`FAIL_FAST_FOR`] of a failure.
    pub async fn connection(&self) -> Result<Connection, Unavailable> {
        if self.shared.refuses() {
            return Err(Unavailable);
        }
        match self.shared.current.load_full() {
            Some(made) => Ok(self.hand_out(made)),
            None => self.connect().await,
        }
    }

    /// Connects, or waits for the caller connecting already and takes its
    /// outcome: one attempt at a time, never a retry.
    async fn connect(&self) -> Result<Connection, Unavailable> {
        let _connecting = self.connecting.lock().await;
        if let Some(made) = self.shared.current.load_full() {
            return Ok(self.hand_out(made));
        }
        if self.shared.refuses() {
            return Err(Unavailable);
        }
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config);
        match connect.await {
            Ok(made) => {
                let made = Arc::new(made);
                self.shared.current.store(Some(made.clone()));
                self.shared.answered();
                Ok(self.hand_out(made))
            }
            Err(error) => {
                self.shared.failed(&error);
                Err(Unavailable)
            }
        }
    }

    fn hand_out(&self, made: Arc<MultiplexedConnection>) -> Connection {
        Connection {
            commands: (*made).clone(),
            made,
            shared: self.shared.clone(),
        }
    }
}

impl Shared {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn refuses(&self) -> bool {
        self.health().refuses()
    }

    fn answered(&self) {
        self.health().answered();
    }

    fn failed(&self, error: &redis::RedisError) {
        self.health().failed(error);
    }

    /// `made` failed: dropped (unless already replaced) so that the next
    /// call connects anew. A connection closed under it (Redis restarted, an
    /// idle connection closed) is not yet an outage: that next attempt tells.
    fn lost(&self, made: &Arc<MultiplexedConnection>, error: &redis::RedisError) {
        self.current.rcu(|current| match current {
            Some(current) if Arc::ptr_eq(current, made) => None,
            other => other.clone(),
        });
        if error.is_connection_dropped() {
            tracing::debug!(%error, "Redis connection closed: the next call connects anew");
        } else {
            self.failed(error);
        }
    }
}

/// Whether Redis is answering, and since when it is not.
#[derive(Debug, Default)]
struct Health {
    /// Calls are refused until then, after a failure.
    refuse_until: Option<Instant>,
    /// When the current outage began; none while Redis answers.
    down_since: Option<Instant>,
    /// When the current outage was last logged.
    warned_at: Option<Instant>,
}

impl Health {
    fn refuses(&self) -> bool {
        self.refuse_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn answered(&mut self) {
        self.refuse_until = None;
        self.warned_at = None;
        if let Some(since) = self.down_since.take() {
            tracing::info!(down_for = ?since.elapsed(), "Redis answers again");
        }
    }

    fn failed(&mut self, error: &redis::RedisError) {
        let now = Instant::now();
        self.refuse_until = Some(now + FAIL_FAST_FOR);
        let since = *self.down_since.get_or_insert(now);
        if self.warned_at.is_none_or(|at| now - at >= WARN_EVERY) {
            self.warned_at = Some(now);
            tracing::warn!(
                %error,
                down_for = ?now - since,
                "Redis is unavailable: calls fail at once, tried again every {FAIL_FAST_FOR:?}"
            );
        }
    }
}

/// A handle on the link's connection that reports each answer to the link:
/// a lost connection or a timeout makes the link fail fast.
pub struct Connection {
    commands: MultiplexedConnection,
    /// The connection as the link holds it, to drop exactly this one.
    made: Arc<MultiplexedConnection>,
    shared: Arc<Shared>,
}

impl Connection {
    /// This handle with a longer bound on each answer, for commands that walk
    /// many keys.
    pub fn patient(mut self, response_timeout: Duration) -> Self {
        self.commands.set_response_timeout(response_timeout);
        self
    }

    fn report<T>(&self, answer: &RedisResult<T>) {
        match answer {
            // I/O covers a closed connection and a timeout; an error Redis
            // answered with (a script's, `NOSCRIPT`) is an answer.
            Err(error) if error.is_io_error() => self.shared.lost(&self.made, error),
            _ => self.shared.answered(),
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let answer = self.commands.send_packed_command(cmd).await;
            self.report(&answer);
            answer
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let answer = (self.commands)
                .send_packed_commands(pipeline, offset, count)
                .await;
            self.report(&answer);
            answer
        })
    }

    fn get_db(&self) -> i64 {
        self.commands.get_db()
    }
}

#[cfg(test)]
mod tests;
