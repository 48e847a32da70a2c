//! The shared dedupe store on Redis, for several gateway instances.
//!
//! `SET key inflight NX PX hold` claims a key atomically across instances;
//! success turns it into `done` for the TTL, failure deletes it. Redis
//! unreachable costs a request nothing but its dedupe (see [`Link`]).

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;

use super::{Claim, Mark};
use crate::redis_link::{Connection, Link, Unavailable};

/// The shared link and the key prefix.
#[derive(Debug)]
pub struct RedisStore {
    link: Arc<Link>,
    prefix: String,
}

impl RedisStore {
    /// A store on `link`; keys go under `prefix`.
    pub fn new(link: Arc<Link>, prefix: &str) -> Self {
        Self {
            link,
            prefix: prefix.to_string(),
        }
    }

    async fn connection(&self) -> Result<Connection, Unavailable> {
        self.link.connection().await
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
    pub async fn complete(&self, key: &str, ttl: Duration) -> Result<(), Unavailable> {
        let mut connection = self.connection().await?;
        let seconds = ttl.as_secs().max(1);
        let set: redis::RedisResult<()> = connection
            .set_ex(self.key(key), Mark::Done.as_str(), seconds)
            .await;
        set.map_err(|_| Unavailable)
    }

    /// Deletes this claim (and only this one: not a later claim, nor a `done`
    /// mark written after this claim expired) so the delivery can be retried.
    pub async fn release(&self, key: &str, token: &str) -> Result<(), Unavailable> {
        let mut connection = self.connection().await?;
        let deleted: redis::RedisResult<usize> = redis::Script::new(COMPARE_AND_DELETE)
            .key(self.key(key))
            .arg(in_flight(token))
            .invoke_async(&mut connection)
            .await;
        deleted.map(drop).map_err(|_| Unavailable)
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
