//! Deduplication: a delivery whose key was already handled is answered, not
//! forwarded again.
//!
//! A key is claimed *in flight* before forwarding; it becomes *done* for the
//! route's TTL only when the downstream succeeded (sync) or the event was
//! stored (queued), and is released when forwarding failed, so a failed
//! delivery stays retryable.

mod memory;
mod redis_store;

use std::sync::Arc;
use std::time::Duration;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;

/// A key's mark in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Being delivered right now.
    InFlight,
    /// Delivered (sync) or accepted (queued).
    Done,
}

impl Mark {
    fn as_str(self) -> &'static str {
        match self {
            Mark::InFlight => "inflight",
            Mark::Done => "done",
        }
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First sight: go ahead, then `complete` or `release`.
    New,
    /// Already delivered or accepted within the TTL.
    Duplicate,
    /// Another request with this key is being delivered now.
    InFlight,
    /// The store did not answer (Redis down): deliver without dedupe.
    Unavailable,
}

/// Where keys live: this process, or Redis for several instances.
#[derive(Debug, Clone)]
pub enum Store {
    /// In-process; each instance dedupes on its own.
    Memory(Arc<MemoryStore>),
    /// Shared by every instance on one Redis.
    Redis(Arc<RedisStore>),
}

impl Store {
    /// Claims `key` for `hold` (the longest a delivery can take) under
    /// `token`, which only the same claim's `release` presents.
    pub async fn claim(&self, key: &str, token: &str, hold: Duration) -> Claim {
        match self {
            Store::Memory(store) => store.claim(key, token, hold),
            Store::Redis(store) => store.claim(key, token, hold).await,
        }
    }

    /// Marks `key` handled for `ttl`; a failure is logged, not fatal.
    pub async fn complete(&self, key: &str, ttl: Duration) {
        match self {
            Store::Memory(store) => store.complete(key, ttl),
            Store::Redis(store) => {
                if store.complete(key, ttl).await.is_err() {
                    tracing::debug!("dedupe store unavailable: key not recorded");
                }
            }
        }
    }

    /// Forgets this in-flight claim after a failed delivery.
    pub async fn release(&self, key: &str, token: &str) {
        match self {
            Store::Memory(store) => store.release(key, token),
            Store::Redis(store) => {
                if store.release(key, token).await.is_err() {
                    tracing::debug!("dedupe store unavailable: claim left to expire");
                }
            }
        }
    }
}
