//! The shared dedupe store on Redis, for several gateway instances.
//!
//! `SET key inflight NX PX hold` claims a key atomically across instances;
//! success turns it into `done` for the TTL, failure deletes it. The
//! connection is made on first use and re-made after a failure, at most
//! once a second, so a Redis outage costs a request nothing but its dedupe.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use super::{Claim, Mark};

/// Longest wait for Redis to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection, requests skip Redis for this long.
const RETRY_CONNECT_AFTER: Duration = Duration::from_secs(1);

/// A Redis client, its connection once made, and the key prefix.
pub struct RedisStore {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    last_failure: Mutex<Option<Instant>>,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

type Failed = ();

impl RedisStore {
    /// A store for `url` (not connected yet); keys go under `prefix`.
    pub fn new(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: OnceCell::new(),
            last_failure: Mutex::new(None),
            prefix: prefix.to_string(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, Failed> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let recently_failed = self
            .last_failure
            .lock()
            .map(|last| last.is_some_and(|at| at.elapsed() < RETRY_CONNECT_AFTER))
            .unwrap_or(false);
        if recently_failed {
            return Err(());
        }
        let connect = ConnectionManager::new(self.client.clone());
        let made = self
            .connection
            .get_or_try_init(|| async {
                tokio::time::timeout(CONNECT_TIMEOUT, connect)
                    .await
                    .map_err(|_| ())?
                    .map_err(|_| ())
            })
            .await;
        if made.is_err() {
            *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        made.cloned()
    }

    fn key(&self, key: &str) -> String {
        format!("{}dedupe:{key}", self.prefix)
    }

    /// Claims `key` for `hold` under `token`; `Unavailable` when Redis does not answer.
    pub async fn claim(&self, key: &str, token: &str, hold: Duration) -> Claim {
        let Ok(mut connection) = self.connection().await else {
            return Claim::Unavailable;
        };
        let key = self.key(key);
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(millis(hold)));
        let claimed: redis::RedisResult<Option<String>> = connection
            .set_options(&key, in_flight(token), options)
            .await;
        match claimed {
            Ok(Some(_)) => Claim::New,
            Ok(None) => match connection.get::<_, Option<String>>(&key).await {
                Ok(Some(mark)) if mark == Mark::Done.as_str() => Claim::Duplicate,
                Ok(Some(_)) => Claim::InFlight,
                // Expired between the two commands: new, so no event is lost.
                Ok(None) => Claim::New,
                Err(_) => Claim::Unavailable,
            },
            Err(_) => Claim::Unavailable,
        }
    }

    /// Marks `key` done for `ttl`.
    pub async fn complete(&self, key: &str, ttl: Duration) -> Result<(), Failed> {
        let mut connection = self.connection().await?;
        let seconds = ttl.as_secs().max(1);
        let set: redis::RedisResult<()> = connection
            .set_ex(self.key(key), Mark::Done.as_str(), seconds)
            .await;
        set.map_err(|_| ())
    }

    /// Deletes this claim (and only this one: not a later claim, nor a `done`
    /// mark written after this claim expired) so the delivery can be retried.
    pub async fn release(&self, key: &str, token: &str) -> Result<(), Failed> {
        let mut connection = self.connection().await?;
        let deleted: redis::RedisResult<usize> = redis::Script::new(COMPARE_AND_DELETE)
            .key(self.key(key))
            .arg(in_flight(token))
            .invoke_async(&mut connection)
            .await;
        deleted.map(drop).map_err(|_| ())
    }
}

const COMPARE_AND_DELETE: &str = r#"
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"#;

/// The in-flight mark of one claim: unique, so a release deletes only its own.
fn in_flight(token: &str) -> String {
    format!("{}:{token}", Mark::InFlight.as_str())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
