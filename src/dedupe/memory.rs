//! The embedded dedupe store, for one instance: a concurrent map whose
//! entries expire on their own (moka), so a claim takes no global lock and
//! no sweep ever scans every key.

use std::time::{Duration, Instant};

use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::{Claim, Mark};

/// Keys with their mark, expiry and claim token.
#[derive(Debug)]
pub struct MemoryStore {
    entries: Cache<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    mark: Mark,
    expiry: Instant,
    token: String,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expiry > now
    }
}

/// Each entry expires at its own `expiry`, set when it was written.
struct UntilExpiry;

impl Expiry<String, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(entry.expiry.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expiry.saturating_duration_since(now))
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        let entries = Cache::builder().expire_after(UntilExpiry).build();
        Self { entries }
    }
}

impl MemoryStore {
    /// Claims `key` for `hold` under `token` unless a live mark exists.
    pub fn claim(&self, key: &str, token: &str, hold: Duration) -> Claim {
        let now = Instant::now();
        let mut claim = Claim::New;
        self.entries.entry_by_ref(key).and_compute_with(|current| {
            match current.map(|e| e.into_value()) {
                Some(entry) if entry.live(now) => {
                    claim = match entry.mark {
                        Mark::Done => Claim::Duplicate,
                        Mark::InFlight => Claim::InFlight,
                    };
                    Op::Nop
                }
                _ => Op::Put(Entry {
                    mark: Mark::InFlight,
                    expiry: now + hold,
                    token: token.to_string(),
                }),
            }
        });
        claim
    }

    /// Marks `key` done for `ttl`.
    pub fn complete(&self, key: &str, ttl: Duration) {
        let entry = Entry {
            mark: Mark::Done,
            expiry: Instant::now() + ttl,
            token: String::new(),
        };
        self.entries.insert(key.to_string(), entry);
    }

    /// Forgets this in-flight claim (not a later one), so the delivery can be retried.
    pub fn release(&self, key: &str, token: &str) {
        self.entries.entry_by_ref(key).and_compute_with(|current| {
            match current.map(|e| e.into_value()) {
                Some(entry) if entry.mark == Mark::InFlight && entry.token == token => Op::Remove,
                _ => Op::Nop,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn a_claimed_key_is_in_flight_then_a_duplicate_once_completed() {
        let store = MemoryStore::default();
        assert_eq!(store.claim("k", "t1", LONG), Claim::New);
        assert_eq!(store.claim("k", "t2", LONG), Claim::InFlight);
        store.complete("k", LONG);
        assert_eq!(store.claim("k", "t3", LONG), Claim::Duplicate);
    }

    #[test]
    fn only_the_claims_own_token_releases_it() {
        let store = MemoryStore::default();
        assert_eq!(store.claim("k", "mine", LONG), Claim::New);
        store.release("k", "not mine");
        assert_eq!(store.claim("k", "other", LONG), Claim::InFlight);
        store.release("k", "mine");
        assert_eq!(store.claim("k", "again", LONG), Claim::New);
    }

    #[test]
    fn an_expired_mark_no_longer_counts() {
        let store = MemoryStore::default();
        assert_eq!(store.claim("k", "t1", Duration::ZERO), Claim::New);
        assert_eq!(store.claim("k", "t2", LONG), Claim::New);
        store.complete("k", Duration::ZERO);
        assert_eq!(store.claim("k", "t3", LONG), Claim::New);
    }
}
