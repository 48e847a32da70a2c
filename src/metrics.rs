//! Prometheus metrics, named `hookgate_*`, in one registry per application.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

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
}

impl RouteSeries {
    /// The series of `label`'s route in `metrics`.
    pub fn new(metrics: &Metrics, label: &RouteLabel) -> Self {
        let forwarded = OutcomeLabels {
            route: label.route.clone(),
            outcome: "forwarded",
        };
        Self {
            forwarded: metrics.requests.get_or_create_owned(&forwarded),
            request_duration: metrics.request_duration.get_or_create_owned(label),
            downstream_duration: metrics.downstream_duration.get_or_create_owned(label),
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
    /// `hookgate_config_reloads_total{result}`.
    pub reloads: Family<ReloadLabel, Counter>,
    /// `hookgate_config_generation`.
    pub generation: Gauge,
    /// `hookgate_route_enabled{route}`: 1 or 0.
    pub route_enabled: Family<RouteLabel, Gauge>,
    /// `hookgate_route_failing_seconds{route}`: how long the current failure streak has lasted.
    pub route_failing_seconds: Family<RouteLabel, Gauge<f64, AtomicU64>>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
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
            generation: Gauge::default(),
            route_enabled: Family::default(),
            route_failing_seconds: Family::default(),
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
        Self {
            registry,
            ..metrics
        }
    }

    /// Counts one request of `route` with `outcome`.
    pub fn count(&self, route: &str, outcome: &'static str) {
        let labels = OutcomeLabels {
            route: route.to_string(),
            outcome,
        };
        self.requests.get_or_create(&labels).inc();
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
