//! The live configuration: one [`ArcSwap`] of a consistent [`Snapshot`],
//! and a notification for whoever follows reloads.
//!
//! A request loads the snapshot once and keeps it to its end, even when a
//! reload lands meanwhile. Each route of a snapshot carries its
//! [`RouteMetrics`], which outlive reloads: a route keeps its in-flight
//! count, failure streak and series across generations. Each destination's
//! queue (lane) carries its [`Pacing`] the same way: its breaker, pause and
//! rate limiter outlive reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::{Metrics, RouteLabel, RouteMetrics};
use crate::pacing::Pacing;
use crate::routes::{Destination, Route};

/// A route as served: its settings and its metrics.
#[derive(Debug, Clone)]
pub struct LiveRoute {
    /// The validated route.
    pub route: Arc<Route>,
    /// Its metrics, shared with every generation that has the route.
    pub metrics: Arc<RouteMetrics>,
}

/// A destination's queue as served: its route, the destination, its pace.
#[derive(Debug, Clone)]
pub struct LiveLane {
    /// The route, with its metrics.
    pub live: LiveRoute,
    /// The destination delivered from the lane.
    pub destination: Arc<Destination>,
    /// Its rate limit, pause and breaker, shared with every generation
    /// that has the lane.
    pub pacing: Arc<Pacing>,
}

/// One consistent configuration, as swapped in by a reload.
#[derive(Debug)]
pub struct Snapshot {
    /// 1 for the config loaded at start, +1 per applied reload.
    pub generation: u64,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// The configuration.
    pub config: Config,
    by_path: HashMap<String, LiveRoute>,
    by_name: HashMap<String, LiveRoute>,
    by_lane: HashMap<String, LiveLane>,
}

impl Snapshot {
    /// The destination delivered from queue `lane`, with its route.
    pub fn by_lane(&self, lane: &str) -> Option<&LiveLane> {
        self.by_lane.get(lane)
    }

    /// Every destination's queue, by route name then destination name.
    pub fn lanes(&self) -> impl Iterator<Item = &LiveLane> + '_ {
        self.routes().flat_map(|live| {
            (live.route.destinations.iter()).filter_map(|d| self.by_lane.get(&d.lane))
        })
    }

    /// The route serving `path`, if any.
    pub fn by_path(&self, path: &str) -> Option<&LiveRoute> {
        self.by_path.get(path)
    }

    /// The route called `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<&LiveRoute> {
        self.by_name.get(name)
    }

    /// Every route, ordered by name.
    pub fn routes(&self) -> impl Iterator<Item = &LiveRoute> {
        self.config
            .routes
            .iter()
            .filter_map(|route| self.by_name.get(&route.name))
    }
}

impl Known {
    /// Route `name`'s metrics, made the first time.
    fn metrics(&mut self, registry: &Metrics, name: &str) -> Arc<RouteMetrics> {
        let made = || Arc::new(RouteMetrics::new(registry, name));
        self.routes
            .entry(name.to_string())
            .or_insert_with(made)
            .clone()
    }

    /// `destination`'s pace, made the first time its lane is served.
    fn pacing(
        &mut self,
        registry: &Metrics,
        route: &str,
        destination: &Destination,
    ) -> Arc<Pacing> {
        let made = || Arc::new(Pacing::new(registry, route, &destination.name));
        self.lanes
            .entry(destination.lane.clone())
            .or_insert_with(made)
            .clone()
    }
}

/// The live snapshot, the metrics registry, and the generation's watch.
#[derive(Debug)]
pub struct Live {
    current: ArcSwap<Snapshot>,
    changes: watch::Sender<u64>,
    metrics: Metrics,
    /// Every route's metrics and every lane's pace ever served, so a
    /// reload keeps them. Locked only when a snapshot is published.
    known: Mutex<Known>,
}

/// What outlives reloads, by route name and by lane.
#[derive(Debug, Default)]
struct Known {
    routes: HashMap<String, Arc<RouteMetrics>>,
    lanes: HashMap<String, Arc<Pacing>>,
}

impl Live {
    /// `config` served as generation 1.
    pub fn new(config: Config) -> Self {
        let metrics = Metrics::new();
        let empty = Snapshot {
            generation: 0,
            loaded_at: SystemTime::now(),
            config: Config::empty(),
            by_path: HashMap::new(),
            by_name: HashMap::new(),
            by_lane: HashMap::new(),
        };
        let live = Self {
            current: ArcSwap::from_pointee(empty),
            changes: watch::Sender::new(0),
            metrics,
            known: Mutex::default(),
        };
        live.publish(config);
        live
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current snapshot without touching its reference count, for a
    /// short look that holds nothing across an `.await`.
    pub fn peek(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A receiver that sees each new generation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Swaps in `config` as the next generation, in one store. Callers
    /// serialize publications (the reloader does).
    pub fn publish(&self, config: Config) -> Arc<Snapshot> {
        let generation = self.current.load().generation + 1;
        let (routes, by_lane) = {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            let routes: Vec<LiveRoute> = (config.routes.iter())
                .map(|route| LiveRoute {
                    route: route.clone(),
                    metrics: known.metrics(&self.metrics, &route.name),
                })
                .collect();
            let by_lane: HashMap<String, LiveLane> = (routes.iter())
                .flat_map(|live| live.route.destinations.iter().map(move |d| (live, d)))
                .map(|(live, destination)| {
                    let lane = LiveLane {
                        live: live.clone(),
                        destination: destination.clone(),
                        pacing: known.pacing(&self.metrics, &live.route.name, destination),
                    };
                    (destination.lane.clone(), lane)
                })
                .collect();
            (routes, by_lane)
        };
        let by_path = routes.iter().map(|r| (r.route.path.clone(), r.clone()));
        let by_name = routes.iter().map(|r| (r.route.name.clone(), r.clone()));
        let next = Arc::new(Snapshot {
            generation,
            loaded_at: SystemTime::now(),
            by_path: by_path.collect(),
            by_name: by_name.collect(),
            by_lane,
            config,
        });
        self.publish_gauges(&next);
        self.current.store(next.clone());
        self.changes.send_replace(generation);
        next
    }

    fn publish_gauges(&self, snapshot: &Snapshot) {
        self.metrics.generation.set(snapshot.generation as i64);
        for route in snapshot.config.routes.iter() {
            let label = RouteLabel {
                route: route.name.clone(),
            };
            let enabled = self.metrics.route_enabled.get_or_create(&label);
            enabled.set(route.enabled.into());
        }
    }

    /// Metrics text with the failure-streak gauges brought up to date.
    pub fn render_metrics(&self) -> String {
        for live in self.peek().routes() {
            let failing = live.metrics.streak().failing_for();
            let label = RouteLabel {
                route: live.route.name.clone(),
            };
            let gauge = self.metrics.route_failing_seconds.get_or_create(&label);
            gauge.set(failing.as_secs_f64());
        }
        self.metrics.render()
    }
}
