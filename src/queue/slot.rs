//! The store of queued events, opened when the first queued route (or
//! mirror) appears
//! (at start or on a reload) and kept open until the process ends.

use std::sync::{Arc, OnceLock};

use super::{Queue, QueueError};
use crate::config::{Config, StoreBackend, StoreSettings};

/// Holds the store once it is open.
#[derive(Debug, Default)]
pub struct QueueSlot {
    queue: OnceLock<Arc<Queue>>,
}

impl QueueSlot {
    /// Opens the store `config` names when it has a queued route (or a sync
    /// route's mirror) and none is open yet. Once open it stays open: its
    /// path needs a restart.
    pub fn open_if_needed(&self, config: &Config) -> Result<(), QueueError> {
        let queued = (config.routes.iter()).any(|r| r.destinations.iter().any(|d| r.queues(d)));
        if queued && self.queue.get().is_none() {
            let queue = Queue::open(&config.server.store)?;
            tracing::info!(store = %queue.describe(), "store opened");
            let _ = self.queue.set(Arc::new(queue));
        }
        Ok(())
    }

    /// The store, opened now if it is not yet (a replay into it on a
    /// gateway whose routes are all sync).
    pub fn open(&self, settings: &StoreSettings) -> Result<&Arc<Queue>, QueueError> {
        if self.queue.get().is_none() {
            let queue = Queue::open(settings)?;
            tracing::info!(store = %queue.describe(), "store opened");
            let _ = self.queue.set(Arc::new(queue));
        }
        Ok(self.queue.get().expect("set just now"))
    }

    /// The store, opened now if it is not yet but may hold events another
    /// process (`hookgate events replay`) stored: an existing SQLite file,
    /// or Redis (opening it connects to nothing until it is asked, and
    /// only it can tell); `None` when there is no SQLite file.
    pub fn open_if_stored(&self, settings: &StoreSettings) -> Option<&Arc<Queue>> {
        let stored = match settings.backend {
            StoreBackend::Embedded => settings.path.exists(),
            StoreBackend::Redis { .. } => true,
        };
        if self.queue.get().is_none() && stored {
            return self
                .open(settings)
                .inspect_err(|error| tracing::error!(%error, "cannot open the store"))
                .ok();
        }
        self.queue.get()
    }

    /// The store, if open.
    pub fn get(&self) -> Option<&Arc<Queue>> {
        self.queue.get()
    }
}
