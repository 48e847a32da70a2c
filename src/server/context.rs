//! What the server's handlers share: narrow handles to the layers below.

use std::sync::Arc;
use std::time::Duration;

use crate::config::StoreBackend;
use crate::dedupe;
use crate::live::Live;
use crate::queue::QueueSlot;
use crate::redis_link::Link;

/// The live snapshot, the store of queued events and the dedupe keys.
#[derive(Debug)]
pub struct Context {
    /// The live config, routes and metrics.
    pub live: Arc<Live>,
    /// The store of queued events, once a route is queued.
    pub queue: Arc<QueueSlot>,
    /// Where dedupe keys live (`[store] backend`, fixed until restart).
    pub dedupe: dedupe::Store,
}

impl Context {
    /// Handles for `live`'s config, with `queue` opened as that config needs.
    pub fn new(live: Arc<Live>, queue: Arc<QueueSlot>) -> Self {
        let dedupe = dedupe_store(&live.peek().config.server.store.backend);
        Self {
            live,
            queue,
            dedupe,
        }
    }
}

/// A dedupe check waits no longer for Redis: past it, the request is
/// forwarded without dedupe.
const DEDUPE_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The dedupe store `backend` names; a Redis URL was checked at load.
fn dedupe_store(backend: &StoreBackend) -> dedupe::Store {
    use secrecy::ExposeSecret;
    match backend {
        StoreBackend::Embedded => dedupe::Store::Memory(Arc::default()),
        StoreBackend::Redis { url, prefix } => {
            match Link::new(url.expose_secret(), DEDUPE_RESPONSE_TIMEOUT) {
                Ok(link) => {
                    dedupe::Store::Redis(Arc::new(dedupe::RedisStore::new(link.into(), prefix)))
                }
                Err(error) => {
                    tracing::error!(%error, "invalid Redis URL: dedupe keys stay in this process");
                    dedupe::Store::Memory(Arc::default())
                }
            }
        }
    }
}
