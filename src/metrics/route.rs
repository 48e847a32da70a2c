//! One route's metrics, resolved once and kept across reloads: its series,
//! its in-flight count (also the load-shedding counter) and its failure
//! streak.
//!
//! Nothing here hashes labels or takes a lock on a request that succeeds:
//! counters by outcome are resolved on first use and kept, and the streak's
//! mutex is taken only while the route is failing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::{DedupeLabels, Metrics, OutcomeLabels, RouteLabel, RouteSeries};
use crate::signature::unix_seconds;
use crate::streak::Streak;

/// Every `outcome` label a request of a route can end with, besides
/// `forwarded` and `queued` (which [`RouteSeries`] holds).
const OUTCOMES: &[&str] = &[
    "duplicate",
    "filtered",
    "not_found",
    "method_not_allowed",
    "too_large",
    "bad_request",
    "body_timeout",
    "disabled",
    "forbidden",
    "shed",
    "shed_unverified",
    "duplicate_in_flight",
    "unauthorized",
    "downstream_error",
    "queue_full",
    "store_error",
];

/// The outcomes answered with a 5xx status: the gateway or the downstream
/// failed. The other outcomes but `forwarded`, `queued` and `duplicate` are
/// refusals (4xx).
const SERVER_ERRORS: &[&str] = &[
    "disabled",
    "shed",
    "shed_unverified",
    "downstream_error",
    "queue_full",
    "store_error",
];

/// Outcomes that are a success besides `forwarded` and `queued`.
const SUCCESSES: &[&str] = &["duplicate", "filtered"];

/// What a route has counted since start, read off its counters (never
/// written on the request path), for the console's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests answered.
    pub requests: u64,
    /// Requests answered 5xx.
    pub server_errors: u64,
    /// Requests refused with a 4xx.
    pub client_errors: u64,
    /// Delivery attempts of queued events the downstream took.
    pub attempts_delivered: u64,
    /// Delivery attempts that failed.
    pub attempts_failed: u64,
    /// `hookgate_request_duration_seconds` per bucket (not cumulative).
    pub latency: Vec<u64>,
}

/// Every `result` label of a dedupe check.
const DEDUPE_RESULTS: &[&str] = &[
    "new",
    "duplicate",
    "in_flight",
    "missing_key",
    "unavailable",
];

/// One route's series and state that survive reloads.
#[derive(Debug)]
pub struct RouteMetrics {
    name: String,
    /// Requests being processed.
    pub in_flight: Gauge,
    /// This route's series.
    pub series: RouteSeries,
    streak: Mutex<Streak>,
    /// Set while a failure streak lasts: a success reads it and takes the
    /// streak's lock only when there is a streak to end.
    failing: AtomicBool,
    /// The last success, unix seconds (0: none yet).
    last_success: AtomicU64,
    outcomes: Counters<OutcomeLabels>,
    dedupe: Counters<DedupeLabels>,
}

/// One route's counters of a family whose second label takes a few known
/// values: each resolved on first use, then kept.
#[derive(Debug)]
struct Counters<L> {
    route: String,
    family: Family<L, Counter>,
    known: &'static [&'static str],
    resolved: Vec<OnceLock<Counter>>,
    label: fn(String, &'static str) -> L,
}

impl<L: Clone + std::hash::Hash + Eq> Counters<L> {
    fn new(
        route: &str,
        family: &Family<L, Counter>,
        known: &'static [&'static str],
        label: fn(String, &'static str) -> L,
    ) -> Self {
        Self {
            route: route.to_string(),
            family: family.clone(),
            known,
            resolved: known.iter().map(|_| OnceLock::new()).collect(),
            label,
        }
    }

    fn inc(&self, value: &'static str) {
        let labels = || (self.label)(self.route.clone(), value);
        let Some(at) = self.known.iter().position(|known| *known == value) else {
            // A value not listed is counted all the same, only slower.
            debug_assert!(false, "`{value}` is not a known label value");
            self.family.get_or_create(&labels()).inc();
            return;
        };
        let counter = self.resolved[at].get_or_init(|| self.family.get_or_create_owned(&labels()));
        counter.inc();
    }

    /// Each known value counted so far, with its count.
    fn totals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        let resolved = self
            .resolved
            .iter()
            .map(|once| once.get().map(Counter::get));
        let counted = self.known.iter().zip(resolved);
        counted.filter_map(|(value, count)| Some((*value, count?)))
    }
}

impl RouteMetrics {
    /// The series of route `name` in `metrics`.
    pub fn new(metrics: &Metrics, name: &str) -> Self {
        let label = RouteLabel {
            route: name.to_string(),
        };
        Self {
            name: name.to_string(),
            in_flight: metrics.in_flight.get_or_create_owned(&label),
            series: RouteSeries::new(metrics, &label),
            streak: Mutex::default(),
            failing: AtomicBool::new(false),
            last_success: AtomicU64::new(0),
            outcomes: Counters::new(name, &metrics.requests, OUTCOMES, |route, outcome| {
                OutcomeLabels { route, outcome }
            }),
            dedupe: Counters::new(name, &metrics.dedupe, DEDUPE_RESULTS, |route, result| {
                DedupeLabels { route, result }
            }),
        }
    }

    /// Counts one request that ended with `outcome` (one of the `outcome`
    /// labels of `hookgate_requests_total`).
    pub fn count(&self, outcome: &'static str) {
        self.outcomes.inc(outcome);
    }

    /// Counts one dedupe check that ended with `result`.
    pub fn count_dedupe(&self, result: &'static str) {
        self.dedupe.inc(result);
    }

    /// A downstream answered 2xx after `duration`; ends any failure streak.
    pub fn delivered(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        self.series.downstream_duration.observe(seconds);
        // Written once a second at most: a store on every request would pass
        // the cache line between the worker threads on every request.
        let now = unix_seconds(SystemTime::now());
        if self.last_success.load(Ordering::Relaxed) != now {
            self.last_success.store(now, Ordering::Relaxed);
        }
        if self.failing.load(Ordering::Acquire) {
            let mut streak = self.lock_streak();
            streak.succeeded(&self.name);
            self.failing.store(false, Ordering::Release);
        }
    }

    /// A downstream call failed (with the downstream's `status` if it
    /// answered); logs the escalation once the streak outlasts `alert_after`.
    pub fn failed(&self, status: Option<u16>, error: String, alert_after: Duration) {
        let mut streak = self.lock_streak();
        streak.failed(&self.name, status, error, alert_after);
        self.failing.store(true, Ordering::Release);
    }

    /// The failure streak as it stands, with the last success.
    pub fn streak(&self) -> Streak {
        let mut streak = self.lock_streak().clone();
        let last = self.last_success.load(Ordering::Relaxed);
        streak.last_success = (last > 0).then_some(last);
        streak
    }

    /// Everything counted so far; a read of atomics, for a sampler.
    pub fn tally(&self) -> Tally {
        let series = &self.series;
        let mut tally = Tally {
            requests: series.forwarded.get() + series.queued.get(),
            attempts_delivered: series.queue.delivered.get(),
            attempts_failed: series.queue.failed.get(),
            latency: (series.request_duration.buckets().iter())
                .map(|(_, count)| *count)
                .collect(),
            ..Tally::default()
        };
        for (outcome, count) in self.outcomes.totals() {
            tally.requests += count;
            if SERVER_ERRORS.contains(&outcome) {
                tally.server_errors += count;
            } else if !SUCCESSES.contains(&outcome) {
                tally.client_errors += count;
            }
        }
        tally
    }

    fn lock_streak(&self) -> MutexGuard<'_, Streak> {
        self.streak.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_ends_a_streak_and_is_remembered_without_one() {
        let metrics = RouteMetrics::new(&Metrics::new(), "hook");
        metrics.delivered(Duration::from_millis(3));
        assert!(metrics.streak().last_success.is_some());
        assert_eq!(metrics.streak().consecutive_failures, 0);
        metrics.failed(
            Some(502),
            "downstream answered 502".into(),
            Duration::from_secs(300),
        );
        metrics.failed(None, "timed out".into(), Duration::from_secs(300));
        assert_eq!(metrics.streak().consecutive_failures, 2);
        assert!(metrics.streak().failing_since.is_some());
        metrics.delivered(Duration::from_millis(3));
        assert_eq!(metrics.streak().consecutive_failures, 0);
        assert!(metrics.streak().failing_since.is_none());
    }

    #[test]
    fn a_tally_sorts_outcomes_into_successes_refusals_and_errors() {
        let metrics = RouteMetrics::new(&Metrics::new(), "hook");
        metrics.series.forwarded.inc();
        metrics.series.request_duration.observe(0.003);
        metrics.count("duplicate");
        metrics.count("unauthorized");
        metrics.count("downstream_error");
        metrics.count("shed");
        let tally = metrics.tally();
        assert_eq!(tally.requests, 5);
        assert_eq!((tally.server_errors, tally.client_errors), (2, 1));
        assert_eq!(tally.latency.iter().sum::<u64>(), 1);
        let listed = SERVER_ERRORS.iter().chain(SUCCESSES);
        assert!(listed.into_iter().all(|outcome| OUTCOMES.contains(outcome)));
    }

    #[test]
    fn every_outcome_is_counted_under_its_own_label() {
        let registry = Metrics::new();
        let metrics = RouteMetrics::new(&registry, "hook");
        for outcome in OUTCOMES {
            metrics.count(outcome);
        }
        metrics.count("shed");
        let text = registry.render();
        assert!(
            text.contains(r#"hookgate_requests_total{route="hook",outcome="shed"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="store_error"} 1"#), "{text}");
    }
}
