//! The embedded dedupe store: an in-process map with expiry, for one instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Claim, Mark};

/// Keys with their mark, expiry and claim token. Expired keys are swept
/// every [`SWEEP_EVERY`] claims, so the map stays bounded by the live keys.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

#[derive(Debug)]
struct Entry {
    mark: Mark,
    expiry: Instant,
    token: String,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Entry>,
    claims: u64,
}

const SWEEP_EVERY: u64 = 1024;

impl MemoryStore {
    /// Claims `key` for `hold` under `token` unless a live mark exists.
    pub fn claim(&self, key: &str, token: &str, hold: Duration) -> Claim {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.claims += 1;
        if entries.claims % SWEEP_EVERY == 0 {
            entries.map.retain(|_, entry| entry.expiry > now);
        }
        match entries.map.get(key) {
            Some(entry) if entry.expiry > now && entry.mark == Mark::Done => Claim::Duplicate,
            Some(entry) if entry.expiry > now => Claim::InFlight,
            _ => {
                let entry = Entry {
                    mark: Mark::InFlight,
                    expiry: now + hold,
                    token: token.to_string(),
                };
                entries.map.insert(key.to_string(), entry);
                Claim::New
            }
        }
    }

    /// Marks `key` done for `ttl`.
    pub fn complete(&self, key: &str, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = Entry {
            mark: Mark::Done,
            expiry: Instant::now() + ttl,
            token: String::new(),
        };
        entries.map.insert(key.to_string(), entry);
    }

    /// Forgets this in-flight claim (not a later one), so the delivery can be retried.
    pub fn release(&self, key: &str, token: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let ours = entries
            .map
            .get(key)
            .is_some_and(|entry| entry.mark == Mark::InFlight && entry.token == token);
        if ours {
            entries.map.remove(key);
        }
    }
}
