//! The embedded dedupe store: an in-process map with expiry, for one instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Claim, Mark};

/// Keys with their mark and expiry. Expired keys are swept every
/// [`SWEEP_EVERY`] claims, so the map stays bounded by the live keys.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, (Mark, Instant)>,
    claims: u64,
}

const SWEEP_EVERY: u64 = 1024;

impl MemoryStore {
    /// Claims `key` for `hold` unless a live mark exists.
    pub fn claim(&self, key: &str, hold: Duration) -> Claim {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.claims += 1;
        if entries.claims % SWEEP_EVERY == 0 {
            entries.map.retain(|_, (_, expiry)| *expiry > now);
        }
        match entries.map.get(key) {
            Some((Mark::Done, expiry)) if *expiry > now => Claim::Duplicate,
            Some((Mark::InFlight, expiry)) if *expiry > now => Claim::InFlight,
            _ => {
                entries
                    .map
                    .insert(key.to_string(), (Mark::InFlight, now + hold));
                Claim::New
            }
        }
    }

    /// Marks `key` done for `ttl`.
    pub fn complete(&self, key: &str, ttl: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .map
            .insert(key.to_string(), (Mark::Done, Instant::now() + ttl));
    }

    /// Forgets an in-flight claim, so the delivery can be retried.
    pub fn release(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(entries.map.get(key), Some((Mark::InFlight, _))) {
            entries.map.remove(key);
        }
    }
}
