//! Prometheus metrics, named `hookgate_*`, in one registry per application,
//! and [`RouteMetrics`]: one route's series, resolved once.

mod histogram;
mod labels;
mod route;

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

pub use histogram::Histogram;
pub use labels::{
    AttemptLabels, ClosedLabel, DedupeLabels, DestinationAttemptLabels, DestinationLabels,
    OutcomeLabels, ReloadLabel, RouteLabel, StoreErrorLabel,
};
pub use route::{RouteMetrics, Tally};

/// The listeners' series.
#[derive(Debug, Clone)]
pub struct ConnectionSeries {
    /// `hookgate_open_connections`.
    pub open: Gauge,
    /// `hookgate_accept_errors_total`.
    pub accept_errors: Counter,
    closed: Family<ClosedLabel, Counter>,
}

impl ConnectionSeries {
    /// `hookgate_connections_closed_total{reason}`.
    pub fn closed(&self, reason: &'static str) -> Counter {
        self.closed.get_or_create_owned(&ClosedLabel { reason })
    }
}

type Seconds = Family<RouteLabel, Histogram, fn() -> Histogram>;

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
    /// `hookgate_destination_queue_depth{route,destination}`.
    pub destination_depth: Family<DestinationLabels, Gauge>,
    /// `hookgate_destination_dead_letters{route,destination}`.
    pub destination_dead_letters: Family<DestinationLabels, Gauge>,
    /// `hookgate_destination_attempts_total{route,destination,result}`.
    pub destination_attempts: Family<DestinationAttemptLabels, Counter>,
    /// The listeners' connections.
    pub connections: ConnectionSeries,
    /// `hookgate_unverified_bodies`: bodies being read before their signature is checked.
    pub unverified_bodies: Gauge,
    /// `hookgate_admin_auth_failures_total`: wrong admin tokens.
    pub admin_auth_failures: Counter,
    /// `hookgate_event_log_dropped_total`: records the log's writer could not
    /// take in time, or could not write.
    pub event_log_dropped: Counter,
    /// `hookgate_event_log_waiting_bytes`: what the records waiting for the
    /// log's writer hold.
    pub event_log_waiting_bytes: Gauge,
    /// `hookgate_event_log_bodies_shed_total`: records logged without their
    /// body and headers, the writer being behind.
    pub event_log_bodies_shed: Counter,
    /// `hookgate_store_errors_total{operation}`.
    pub store_errors: Family<StoreErrorLabel, Counter>,
    /// `hookgate_destination_breaker_open{route,destination}`: 1 while the
    /// destination's circuit breaker is open or probing.
    pub breaker_open: Family<DestinationLabels, Gauge>,
}

/// Registers `metric` under `name` and hands it back.
fn add<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// The upper bounds of the latency histograms' buckets, `+Inf` last.
pub fn latency_bounds() -> Vec<f64> {
    let buckets = latency_histogram().buckets();
    buckets.into_iter().map(|(bound, _)| bound).collect()
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~16 s.
    Histogram::exponential(0.001, 2.0, 15)
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hookgate");
        let r = &mut registry;
        let latency = || Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        Self {
            requests: add(
                r,
                "requests",
                "Webhook requests by outcome",
                Family::default(),
            ),
            request_duration: add(
                r,
                "request_duration_seconds",
                "Whole request time",
                latency(),
            ),
            downstream_duration: add(
                r,
                "downstream_duration_seconds",
                "Downstream call time",
                latency(),
            ),
            in_flight: add(
                r,
                "in_flight",
                "Requests being processed",
                Family::default(),
            ),
            reloads: add(
                r,
                "config_reloads",
                "Config reloads by result",
                Family::default(),
            ),
            dedupe: add(r, "dedupe", "Dedupe checks by result", Family::default()),
            generation: add(
                r,
                "config_generation",
                "Generation of the live config",
                Gauge::default(),
            ),
            route_enabled: add(
                r,
                "route_enabled",
                "1 when the route is enabled",
                Family::default(),
            ),
            route_failing_seconds: add(
                r,
                "route_failing_seconds",
                "Length of the current failure streak",
                Family::default(),
            ),
            queue_depth: add(
                r,
                "queue_depth",
                "Stored events waiting for delivery",
                Family::default(),
            ),
            queue_oldest_age: add(
                r,
                "queue_oldest_age_seconds",
                "Age of the oldest event waiting for delivery",
                Family::default(),
            ),
            queue_dead_letters: add(
                r,
                "queue_dead_letters",
                "Stored events that failed every attempt",
                Family::default(),
            ),
            attempts: add(
                r,
                "delivery_attempts",
                "Delivery attempts of stored events by result",
                Family::default(),
            ),
            dead_lettered: add(
                r,
                "dead_letters",
                "Events that became dead letters",
                Family::default(),
            ),
            destination_depth: add(
                r,
                "destination_queue_depth",
                "Stored events waiting for delivery, per destination",
                Family::default(),
            ),
            destination_dead_letters: add(
                r,
                "destination_dead_letters",
                "Stored events that failed every attempt, per destination",
                Family::default(),
            ),
            destination_attempts: add(
                r,
                "destination_attempts",
                "Delivery attempts of stored events by destination and result",
                Family::default(),
            ),
            connections: ConnectionSeries {
                open: add(
                    r,
                    "open_connections",
                    "Client connections open",
                    Gauge::default(),
                ),
                accept_errors: add(
                    r,
                    "accept_errors",
                    "Failed accepts (out of file descriptors or memory)",
                    Counter::default(),
                ),
                closed: add(
                    r,
                    "connections_closed",
                    "Connections closed by a deadline, by reason",
                    Family::default(),
                ),
            },
            unverified_bodies: add(
                r,
                "unverified_bodies",
                "Request bodies being read before their signature is checked",
                Gauge::default(),
            ),
            admin_auth_failures: add(
                r,
                "admin_auth_failures",
                "Admin calls with a wrong token",
                Counter::default(),
            ),
            store_errors: add(
                r,
                "store_errors",
                "Store operations of queued delivery that failed",
                Family::default(),
            ),
            breaker_open: add(
                r,
                "destination_breaker_open",
                "1 while the destination's circuit breaker is open: its queued events wait",
                Family::default(),
            ),
            event_log_dropped: add(
                r,
                "event_log_dropped",
                "Event log records not written: the writer fell behind, or could not write their batch",
                Counter::default(),
            ),
            event_log_waiting_bytes: add(
                r,
                "event_log_waiting_bytes",
                "Bytes held by event log records waiting for the writer (past 8 MiB without bodies, past 16 MiB dropped)",
                Gauge::default(),
            ),
            event_log_bodies_shed: add(
                r,
                "event_log_bodies_shed",
                "Event log records kept without their body and headers: the writer fell behind (they cannot be replayed)",
                Counter::default(),
            ),
            registry,
        }
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
