//! The shared dedupe store on Redis, for several gateway instances.
//!
//! `SET key inflight NX PX hold` claims a key atomically across instances;
//! success turns it into `done` for the TTL, failure deletes it.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{Claim, Mark};

/// A Redis connection (multiplexed, reconnecting) and the key prefix.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish()
    }
}

impl RedisStore {
    /// Connects to `url`; keys are written under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let connection = ConnectionManager::new(client).await?;
        Ok(Self {
            connection,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}dedupe:{key}", self.prefix)
    }

    /// Claims `key` for `hold`; `Unavailable` when Redis does not answer.
    pub async fn claim(&self, key: &str, hold: Duration) -> Claim {
        let mut connection = self.connection.clone();
        let key = self.key(key);
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(millis(hold)));
        let claimed: redis::RedisResult<Option<String>> =
            connection.set_options(&key, Mark::InFlight.as_str(), options).await;
        match claimed {
            Ok(Some(_)) => Claim::New,
            Ok(None) => match connection.get::<_, Option<String>>(&key).await {
                Ok(Some(mark)) if mark == Mark::Done.as_str() => Claim::Duplicate,
                Ok(Some(_)) => Claim::InFlight,
                // Expired between the two commands: treat as new, never lose an event.
                Ok(None) => Claim::New,
                Err(_) => Claim::Unavailable,
            },
            Err(_) => Claim::Unavailable,
        }
    }

    /// Marks `key` done for `ttl`.
    pub async fn complete(&self, key: &str, ttl: Duration) -> redis::RedisResult<()> {
        let mut connection = self.connection.clone();
        connection
            .set_ex::<_, _, ()>(self.key(key), Mark::Done.as_str(), ttl.as_secs().max(1))
            .await
    }

    /// Deletes an in-flight claim so the delivery can be retried.
    pub async fn release(&self, key: &str) -> redis::RedisResult<()> {
        let mut connection = self.connection.clone();
        connection.del::<_, ()>(self.key(key)).await
    }
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().clamp(1, u64::MAX as u128) as u64
}
