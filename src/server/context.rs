//! What the server's handlers share: narrow handles to the layers below.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::api::AdminGuard;
use super::api::session::Sessions;
use super::per_client::PerClientRate;
use super::rendered::RenderedCache;
use super::unverified::Budget;
use crate::config::StoreBackend;
use crate::dedupe;
use crate::events::{self, EventLog};
use crate::history::History;
use crate::live::Live;
use crate::queue::QueueSlot;
use crate::redis_link::Link;
use crate::telemetry::Traces;

/// Spec and docs requests per second per client address: a person
/// reading, or a tool fetching the spec, never needs more.
const DOCUMENTS_PER_SECOND: u32 = 5;

/// The live snapshot, the store of queued events and the dedupe keys.
#[derive(Debug)]
pub struct Context {
    /// The live config, routes and metrics.
    pub live: Arc<Live>,
    /// The store of queued events, once a route is queued.
    pub queue: Arc<QueueSlot>,
    /// The spec and docs page of the live generation.
    pub rendered: RenderedCache,
    /// Requests per second per address for the spec and docs page.
    pub documents_rate: PerClientRate,
    /// Bodies being read before their signature is checked (`[server]` at start).
    pub unverified: Budget,
    /// Wrong admin tokens by client address.
    pub admin_guard: AdminGuard,
    /// The console's open sessions.
    pub sessions: Sessions,
    /// Each route's last hour, sampled by a task of the control plane.
    pub history: Arc<History>,
    /// The event log; `None` when it could not be opened.
    pub events: Option<EventLog>,
    /// The event log, for reading.
    pub events_reader: events::Reader,
    /// The OpenTelemetry traces, with `[telemetry] otlp_endpoint` (at start).
    pub traces: Option<Traces>,
    /// The in-process dedupe keys, shared by every worker (with
    /// `backend = "embedded"`).
    memory: Arc<dedupe::MemoryStore>,
}

impl Context {
    /// Handles for `live`'s config, with `queue` opened as that config needs.
    pub fn new(live: Arc<Live>, queue: Arc<QueueSlot>) -> Self {
        let store = &live.peek().config.server.store;
        let log_metrics = events::LogMetrics {
            dropped: live.metrics().event_log_dropped.clone(),
            waiting_bytes: live.metrics().event_log_waiting_bytes.clone(),
            bodies_shed: live.metrics().event_log_bodies_shed.clone(),
        };
        let events = EventLog::for_store(store, log_metrics, configured_bounds(&live))
            .inspect_err(|error| tracing::error!(%error, "running without an event log"))
            .ok();
        // The URL was validated with the config: this falls back only in theory.
        let events_reader = events::Reader::for_store(store).unwrap_or_else(|error| {
            tracing::error!(%error, "the event log is read from its SQLite file");
            events::Reader::Sqlite(events::path_beside(&store.path))
        });
        let settings = live.peek().config.server.unverified;
        let unverified = Budget::new(settings, live.metrics().unverified_bodies.clone());
        let admin_guard = AdminGuard::new(live.metrics().admin_auth_failures.clone());
        Self {
            unverified,
            admin_guard,
            sessions: Sessions::default(),
            history: Arc::default(),
            events,
            events_reader,
            traces: None,
            live,
            queue,
            rendered: RenderedCache::default(),
            documents_rate: PerClientRate::new(DOCUMENTS_PER_SECOND),
            memory: Arc::default(),
        }
    }

    /// A worker's own dedupe store: the shared in-process keys, or a Redis
    /// connection of its own, so that each worker's Redis I/O stays on its
    /// thread rather than all of it on whichever worker connected first.
    /// `[store] backend` needs a restart, so the one at start holds.
    pub fn dedupe_for_worker(&self) -> dedupe::Store {
        match &self.live.peek().config.server.store.backend {
            StoreBackend::Embedded => dedupe::Store::Memory(self.memory.clone()),
            StoreBackend::Redis { url, prefix } => redis_dedupe(url, prefix)
                .unwrap_or_else(|| dedupe::Store::Memory(self.memory.clone())),
        }
    }
}

/// Each route's event log bounds in `live`'s config of the moment.
fn configured_bounds(live: &Arc<Live>) -> events::Configured {
    let live = live.clone();
    Box::new(move || {
        (live.peek().config.routes.iter())
            .map(|route| (route.name.clone(), events::Bounds::of(&route.log)))
            .collect()
    })
}

/// A dedupe check waits no longer for Redis: past it, the request is
/// forwarded without dedupe.
const DEDUPE_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Dedupe keys on the Redis at `url`; `None` (logged) for an invalid URL,
/// which config validation already refuses.
fn redis_dedupe(url: &SecretString, prefix: &str) -> Option<dedupe::Store> {
    match Link::new(url.expose_secret(), DEDUPE_RESPONSE_TIMEOUT) {
        Ok(link) => Some(dedupe::Store::Redis(Arc::new(dedupe::RedisStore::new(
            link.into(),
            prefix,
        )))),
        Err(error) => {
            tracing::error!(%error, "invalid Redis URL: dedupe keys stay in this process");
            None
        }
    }
}
