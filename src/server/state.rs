//! The state every request shares: the live config snapshot, the metrics, and per-route state that outlives reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;

use crate::config::{Config, Delivery, StoreBackend};
use crate::dedupe;
use crate::forward::{Delivered, ForwardError};
use crate::metrics::{Metrics, RouteLabel, RouteSeries};
use crate::queue::{Queue, QueueError};
use crate::redis_link::Link;
use crate::routes::Route;
use crate::streak::Streak;

/// State of one route that survives reloads, keyed by route name.
#[derive(Debug)]
pub struct RouteStats {
    /// Requests being processed; also the load-shedding counter.
    pub in_flight: Gauge,
    /// The current failure streak.
    pub streak: Mutex<Streak>,
    /// This route's series, looked up once rather than per request.
    pub series: RouteSeries,
}

impl RouteStats {
    /// Feeds a downstream's answer into the metrics and the failure streak.
    pub fn record_delivery(&self, route: &Route, forwarded: &Result<Delivered, ForwardError>) {
        let mut streak = self.streak.lock().unwrap_or_else(|e| e.into_inner());
        match forwarded {
            Ok(delivered) => {
                let seconds = delivered.duration.as_secs_f64();
                self.series.downstream_duration.observe(seconds);
                streak.succeeded(&route.name);
            }
            Err(error) => {
                let status = match error {
                    ForwardError::Status { status, .. } => Some(status.as_u16()),
                    _ => None,
                };
                streak.failed(&route.name, status, error.to_string(), route.alert_after);
            }
        }
    }
}

/// One consistent configuration, as swapped in by a reload.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration.
    pub config: Config,
    /// 1 for the config loaded at start, +1 per successful reload.
    pub generation: u64,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Per-route state of every route in `config`, by name.
    pub stats: HashMap<String, Arc<RouteStats>>,
}

/// Shared by every request and by the reloader.
#[derive(Debug)]
pub struct State {
    /// The current snapshot. A request loads it once and keeps it to the end.
    pub live: ArcSwap<Snapshot>,
    /// The metrics registry.
    pub metrics: Metrics,
    /// Every route's state ever seen, by name, so a reload keeps it.
    stats: Mutex<HashMap<String, Arc<RouteStats>>>,
    /// The store of queued events, opened once a route is queued.
    queue: OnceLock<Arc<Queue>>,
    /// The live generation, for whoever waits on reloads.
    changes: watch::Sender<u64>,
    /// Where dedupe keys live (`[store] backend`, fixed until restart).
    pub dedupe: dedupe::Store,
}

impl State {
    /// State serving `config` as generation 1.
    pub fn new(config: Config) -> Self {
        let metrics = Metrics::new();
        let dedupe = dedupe_store(&config.server.store.backend);
        let state = Self {
            live: ArcSwap::from_pointee(Snapshot {
                config: Config::empty(),
                generation: 0,
                loaded_at: SystemTime::now(),
                stats: HashMap::new(),
            }),
            metrics,
            stats: Mutex::default(),
            queue: OnceLock::new(),
            changes: watch::Sender::new(0),
            dedupe,
        };
        state.replace(config);
        state
    }

    /// Swaps in `config` as the next generation. Callers serialize reloads.
    pub fn replace(&self, config: Config) -> Arc<Snapshot> {
        let generation = self.live.load().generation + 1;
        let next = Arc::new(Snapshot {
            stats: self.stats_for(&config),
            config,
            generation,
            loaded_at: SystemTime::now(),
        });
        self.publish_gauges(&next);
        self.live.store(next.clone());
        self.changes.send_replace(generation);
        next
    }

    /// Opens the store at `[store] path` when `config` has a queued route
    /// and none is open yet. Once open it stays open: its path needs a restart.
    pub fn open_queue_if_needed(&self, config: &Config) -> Result<(), QueueError> {
        let queued = config.routes.iter().any(|r| r.delivery == Delivery::Queued);
        if queued && self.queue.get().is_none() {
            let queue = Queue::open(&config.server.store)?;
            tracing::info!(store = %queue.describe(), "store opened");
            let _ = self.queue.set(Arc::new(queue));
        }
        Ok(())
    }

    /// The store of queued events, if open.
    pub fn queue(&self) -> Option<&Arc<Queue>> {
        self.queue.get()
    }

    /// A receiver that sees each new generation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn stats_for(&self, config: &Config) -> HashMap<String, Arc<RouteStats>> {
        let mut all = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        config
            .routes
            .iter()
            .map(|route| {
                let stats = all.entry(route.name.clone()).or_insert_with(|| {
                    let label = RouteLabel {
                        route: route.name.clone(),
                    };
                    Arc::new(RouteStats {
                        in_flight: self.metrics.in_flight.get_or_create_owned(&label),
                        streak: Mutex::default(),
                        series: RouteSeries::new(&self.metrics, &label),
                    })
                });
                (route.name.clone(), stats.clone())
            })
            .collect()
    }

    fn publish_gauges(&self, snapshot: &Snapshot) {
        self.metrics.generation.set(snapshot.generation as i64);
        for route in snapshot.config.routes.iter() {
            let label = RouteLabel {
                route: route.name.clone(),
            };
            self.metrics
                .route_enabled
                .get_or_create(&label)
                .set(route.enabled.into());
        }
    }

    /// Metrics text with the failure-streak gauges brought up to date.
    pub fn render_metrics(&self) -> String {
        let snapshot = self.live.load();
        for (name, stats) in &snapshot.stats {
            let failing = stats
                .streak
                .lock()
                .map(|s| s.failing_for())
                .unwrap_or_default();
            let label = RouteLabel {
                route: name.clone(),
            };
            self.metrics
                .route_failing_seconds
                .get_or_create(&label)
                .set(failing.as_secs_f64());
        }
        self.metrics.render()
    }
}

/// A dedupe check waits no longer for Redis: past it, the request is
/// forwarded without dedupe.
const DEDUPE_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// The dedupe store `backend` names; a Redis URL was checked at load.
fn dedupe_store(backend: &StoreBackend) -> dedupe::Store {
    match backend {
        StoreBackend::Embedded => dedupe::Store::Memory(Arc::default()),
        StoreBackend::Redis { url, prefix } => match Link::new(url, DEDUPE_RESPONSE_TIMEOUT) {
            Ok(link) => {
                dedupe::Store::Redis(Arc::new(dedupe::RedisStore::new(link.into(), prefix)))
            }
            Err(error) => {
                tracing::error!(%error, "invalid Redis URL: dedupe keys stay in this process");
                dedupe::Store::Memory(Arc::default())
            }
        },
    }
}
