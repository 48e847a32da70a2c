//! The state every request shares: the live config snapshot and the client.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::forward::Forwarder;

/// One consistent configuration, as swapped in by a reload.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration.
    pub config: Config,
    /// 1 for the config loaded at start, +1 per successful reload.
    pub generation: u64,
    /// When it was loaded.
    pub loaded_at: SystemTime,
}

/// Shared by every request and by the reloader.
#[derive(Debug)]
pub struct State {
    /// The current snapshot. A request loads it once and keeps it to the end.
    pub live: ArcSwap<Snapshot>,
    /// The HTTP client, kept across reloads.
    pub forwarder: Forwarder,
}

impl State {
    /// State serving `config` as generation 1.
    pub fn new(config: Config, forwarder: Forwarder) -> Self {
        Self {
            live: ArcSwap::from_pointee(Snapshot {
                config,
                generation: 1,
                loaded_at: SystemTime::now(),
            }),
            forwarder,
        }
    }

    /// Swaps in `config` as the next generation, returning that generation.
    pub fn replace(&self, config: Config) -> Arc<Snapshot> {
        let next = Arc::new(Snapshot {
            config,
            generation: self.live.load().generation + 1,
            loaded_at: SystemTime::now(),
        });
        self.live.store(next.clone());
        next
    }
}
