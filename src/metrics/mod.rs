//! Prometheus metrics, named `hookgate_*`, in one registry per application,
//! and [`RouteMetrics`]: one route's series, resolved once.

mod histogram;
mod route;

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use histogram::Histogram;
pub use route::RouteMetrics;

/// `{route}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// The route's name.
    pub route: String,
}

/// `{route, outcome}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The route's name.
    pub route: String,
    /// `forwarded`, `downstream_error`, `unauthorized`, ...
    pub outcome: &'static str,
}

/// `{route, result}` of a delivery attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The route's name.
    pub route: String,
    /// `delivered` or `failed`.
    pub result: &'static str,
}

/// `{route, result}` of a dedupe check.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DedupeLabels {
    /// The route's name.
    pub route: String,
    /// `new`, `duplicate`, `in_flight`, `missing_key` or `unavailable`.
    pub result: &'static str,
}

/// `{result}` of a config reload.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabel {
    /// `applied`, `unchanged` or `refused`.
    pub result: &'static str,
}

type Seconds = Family<RouteLabel, Histogram>;

/// One route's hot-path series, resolved once per route instead of hashing
/// labels on every request.
#[derive(Debug, Clone)]
pub struct RouteSeries {
    /// `hookgate_requests_total{route, outcome="forwarded"}`.
    pub forwarded: Counter,
    /// `hookgate_request_duration_seconds{route}`.
    pub request_duration: Histogram,
    /// `hookgate_downstream_duration_seconds{route}`.
    pub downstream_duration: Histogram,
    /// `hookgate_requests_total{route, outcome="queued"}`.
    pub queued: Counter,
    /// The route's queue.
    pub queue: QueueSeries,
}

/// One route's queued-delivery series.
#[derive(Debug, Clone)]
pub struct QueueSeries {
    /// `hookgate_queue_depth{route}`: pending events.
    pub depth: Gauge,
    /// `hookgate_queue_oldest_age_seconds{route}`: age of the oldest pending event.
    pub oldest_age: Gauge<f64, AtomicU64>,
    /// `hookgate_queue_dead_letters{route}`: dead letters stored.
    pub dead_letters: Gauge,
    /// `hookgate_delivery_attempts_total{route, result="delivered"}`.
    pub delivered: Counter,
    /// `hookgate_delivery_attempts_total{route, result="failed"}`.
    pub failed: Counter,
    /// `hookgate_dead_letters_total{route}`: events that failed their last attempt.
    pub dead_lettered: Counter,
}

impl QueueSeries {
    fn new(metrics: &Metrics, label: &RouteLabel) -> Self {
        let attempts = |result| AttemptLabels {
            route: label.route.clone(),
            result,
        };
        Self {
            depth: metrics.queue_depth.get_or_create_owned(label),
            oldest_age: metrics.queue_oldest_age.get_or_create_owned(label),
            dead_letters: metrics.queue_dead_letters.get_or_create_owned(label),
            delivered: metrics.attempts.get_or_create_owned(&attempts("delivered")),
            failed: metrics.attempts.get_or_create_owned(&attempts("failed")),
            dead_lettered: metrics.dead_lettered.get_or_create_owned(label),
        }
    }

    /// Sets the gauges from what the store holds: `pending` and `dead`
    /// events, and when the oldest pending one was received.
    pub fn show(&self, pending: u64, dead: u64, oldest_pending: Option<SystemTime>) {
        self.depth.set(pending as i64);
        self.dead_letters.set(dead as i64);
        let age = oldest_pending
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .unwrap_or_default();
        self.oldest_age.set(age.as_secs_f64());
    }
}

impl RouteSeries {
    /// The series of `label`'s route in `metrics`.
    pub fn new(metrics: &Metrics, label: &RouteLabel) -> Self {
        let forwarded = OutcomeLabels {
            route: label.route.clone(),
            outcome: "forwarded",
        };
        let queued = OutcomeLabels {
            route: label.route.clone(),
            outcome: "queued",
        };
        Self {
            forwarded: metrics.requests.get_or_create_owned(&forwarded),
            request_duration: metrics.request_duration.get_or_create_owned(label),
            downstream_duration: metrics.downstream_duration.get_or_create_owned(label),
            queued: metrics.requests.get_or_create_owned(&queued),
            queue: QueueSeries::new(metrics, label),
        }
    }
}

/// Every metric the gateway exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `hookgate_requests_total{route,outcome}`.
    pub requests: Family<OutcomeLabels, Counter>,
    /// `hookgate_request_duration_seconds{route}`: the whole request.
    pub request_duration: Seconds,
    /// `hookgate_downstream_duration_seconds{route}`: the downstream call.
    pub downstream_duration: Seconds,
    /// `hookgate_in_flight{route}`.
    pub in_flight: Family<RouteLabel, Gauge>,
    /// `hookgate_dedupe_total{route,result}`.
    pub dedupe: Family<DedupeLabels, Counter>,
    /// `hookgate_config_reloads_total{result}`.
    pub reloads: Family<ReloadLabel, Counter>,
    /// `hookgate_config_generation`.
    pub generation: Gauge,
    /// `hookgate_route_enabled{route}`: 1 or 0.
    pub route_enabled: Family<RouteLabel, Gauge>,
    /// `hookgate_route_failing_seconds{route}`: how long the current failure streak has lasted.
    pub route_failing_seconds: Family<RouteLabel, Gauge<f64, AtomicU64>>,
    /// `hookgate_queue_depth{route}`.
    pub queue_depth: Family<RouteLabel, Gauge>,
    /// `hookgate_queue_oldest_age_seconds{route}`.
    pub queue_oldest_age: Family<RouteLabel, Gauge<f64, AtomicU64>>,
    /// `hookgate_queue_dead_letters{route}`.
    pub queue_dead_letters: Family<RouteLabel, Gauge>,
    /// `hookgate_delivery_attempts_total{route,result}`.
    pub attempts: Family<AttemptLabels, Counter>,
    /// `hookgate_dead_letters_total{route}`.
    pub dead_lettered: Family<RouteLabel, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::exponential(0.001, 2.0, 15)
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hookgate");
        let metrics = Self {
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            downstream_duration: Family::new_with_constructor(latency_histogram),
            in_flight: Family::default(),
            reloads: Family::default(),
            dedupe: Family::default(),
            generation: Gauge::default(),
            route_enabled: Family::default(),
            route_failing_seconds: Family::default(),
            queue_depth: Family::default(),
            queue_oldest_age: Family::default(),
            queue_dead_letters: Family::default(),
            attempts: Family::default(),
            dead_lettered: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "requests",
            "Webhook requests by outcome",
            metrics.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Whole request time",
            metrics.request_duration.clone(),
        );
        r.register(
            "downstream_duration_seconds",
            "Downstream call time",
            metrics.downstream_duration.clone(),
        );
        r.register(
            "in_flight",
            "Requests being processed",
            metrics.in_flight.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads by result",
            metrics.reloads.clone(),
        );
        r.register("dedupe", "Dedupe checks by result", metrics.dedupe.clone());
        r.register(
            "config_generation",
            "Generation of the live config",
            metrics.generation.clone(),
        );
        r.register(
            "route_enabled",
            "1 when the route is enabled",
            metrics.route_enabled.clone(),
        );
        r.register(
            "route_failing_seconds",
            "Length of the current failure streak",
            metrics.route_failing_seconds.clone(),
        );
        metrics.register_queue(r);
        Self {
            registry,
            ..metrics
        }
    }

    fn register_queue(&self, r: &mut Registry) {
        r.register(
            "queue_depth",
            "Stored events waiting for delivery",
            self.queue_depth.clone(),
        );
        r.register(
            "queue_oldest_age_seconds",
            "Age of the oldest event waiting for delivery",
            self.queue_oldest_age.clone(),
        );
        r.register(
            "queue_dead_letters",
            "Stored events that failed every attempt",
            self.queue_dead_letters.clone(),
        );
        r.register(
            "delivery_attempts",
            "Delivery attempts of stored events by result",
            self.attempts.clone(),
        );
        r.register(
            "dead_letters",
            "Events that became dead letters",
            self.dead_lettered.clone(),
        );
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
