//! Each route's last hour in 10-second buckets, for the console's
//! sparklines: requests, errors, delivery attempts and latency.
//!
//! Nothing is added to the request path: a task on the control plane reads
//! every route's cumulative counters ([`RouteMetrics::tally`]) every
//! [`STEP`] and keeps the difference from the previous reading in a ring of
//! [`BUCKETS`]. Each instance keeps its own: with several behind a load
//! balancer, each shows the traffic it served.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::live::Live;
use crate::metrics::{RouteMetrics, Tally};

/// The width of a bucket.
pub const STEP: Duration = Duration::from_secs(10);
/// Buckets kept per route: one hour.
pub const BUCKETS: usize = 360;

/// What a route counted during one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// When the bucket began.
    pub start: SystemTime,
    /// What was counted in it; `latency` per histogram bucket.
    pub counted: Tally,
}

/// One route's buckets, oldest first.
#[derive(Debug, Clone)]
pub struct RouteHistory {
    /// The route.
    pub route: String,
    /// The sampled buckets, then the one in progress (counted up to now).
    pub buckets: Vec<Bucket>,
}

/// Every route's ring of buckets.
#[derive(Debug, Default)]
pub struct History {
    routes: Mutex<HashMap<String, Ring>>,
}

/// A route's reading at the last sample, and the buckets so far.
#[derive(Debug)]
struct Ring {
    last: Tally,
    last_at: SystemTime,
    buckets: VecDeque<Bucket>,
}

impl History {
    /// Samples `live`'s routes every [`STEP`] until `shutdown`.
    pub async fn run(self: Arc<Self>, live: Arc<Live>, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(STEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => self.sample(&live, SystemTime::now()),
            }
        }
    }

    /// Closes a bucket for every live route at `now`; forgets removed routes.
    pub fn sample(&self, live: &Live, now: SystemTime) {
        let snapshot = live.peek();
        let mut routes = self.lock();
        routes.retain(|name, _| snapshot.by_name(name).is_some());
        for route in snapshot.routes() {
            let tally = route.metrics.tally();
            let Some(ring) = routes.get_mut(&route.route.name) else {
                // The first reading is the baseline: what came before is not in this hour.
                let ring = Ring {
                    last: tally,
                    last_at: now,
                    buckets: VecDeque::with_capacity(BUCKETS),
                };
                routes.insert(route.route.name.clone(), ring);
                continue;
            };
            let counted = difference(&tally, &ring.last);
            if ring.buckets.len() == BUCKETS {
                ring.buckets.pop_front();
            }
            let start = ring.last_at;
            ring.buckets.push_back(Bucket { start, counted });
            (ring.last, ring.last_at) = (tally, now);
        }
    }

    /// Every live route's buckets, the one in progress last.
    pub fn view(&self, live: &Live) -> Vec<RouteHistory> {
        let snapshot = live.peek();
        let routes = self.lock();
        snapshot
            .routes()
            .map(|route| {
                let ring = routes.get(&route.route.name);
                RouteHistory {
                    route: route.route.name.clone(),
                    buckets: with_current(ring, &route.metrics),
                }
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ring>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The ring's buckets and the one in progress; a route not sampled yet has
/// only that one, counted since start.
fn with_current(ring: Option<&Ring>, metrics: &RouteMetrics) -> Vec<Bucket> {
    let now = metrics.tally();
    let Some(ring) = ring else {
        let start = SystemTime::now();
        return vec![Bucket {
            start,
            counted: now,
        }];
    };
    let mut buckets: Vec<Bucket> = ring.buckets.iter().cloned().collect();
    buckets.push(Bucket {
        start: ring.last_at,
        counted: difference(&now, &ring.last),
    });
    buckets
}

/// What was counted between `before` and `after`.
fn difference(after: &Tally, before: &Tally) -> Tally {
    let latency = after.latency.iter().enumerate();
    Tally {
        requests: after.requests.saturating_sub(before.requests),
        server_errors: after.server_errors.saturating_sub(before.server_errors),
        client_errors: after.client_errors.saturating_sub(before.client_errors),
        attempts_delivered: (after.attempts_delivered).saturating_sub(before.attempts_delivered),
        attempts_failed: after.attempts_failed.saturating_sub(before.attempts_failed),
        latency: latency
            .map(|(i, n)| n.saturating_sub(before.latency.get(i).copied().unwrap_or(0)))
            .collect(),
    }
}

/// The `q` quantile (0 to 1) of `counts` per bucket of upper `bounds`,
/// interpolated within its bucket as Prometheus' `histogram_quantile` does;
/// `None` without observations. Past the last finite bound: that bound.
pub fn quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            if upper.is_infinite() {
                return Some(lower);
            }
            let within = (rank - below as f64) / count as f64;
            return Some(lower + (upper - lower) * within);
        }
        below += count;
    }
    bounds.iter().rev().find(|b| b.is_finite()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Vars, from_text};

    fn live() -> Live {
        let text = "[routes.hook]\npath = \"/h\"\ndownstream = \"http://127.0.0.1:9/\"\n\
                    [routes.hook.signature]\nscheme = \"none\"\n";
        let path = std::path::Path::new("routes.toml");
        Live::new(from_text(text, path, &Vars::default()).unwrap())
    }

    #[test]
    fn a_sample_keeps_what_was_counted_since_the_previous_one() {
        let live = live();
        let history = History::default();
        let metrics = live.load().by_name("hook").unwrap().metrics.clone();
        metrics.series.forwarded.inc();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        history.sample(&live, start);
        metrics.series.forwarded.inc();
        metrics.series.forwarded.inc();
        metrics.count("downstream_error");
        history.sample(&live, start + STEP);
        metrics.series.forwarded.inc();

        let view = history.view(&live);
        let buckets = &view[0].buckets;
        assert_eq!(buckets.len(), 2, "{buckets:?}");
        assert_eq!(buckets[0].start, start);
        assert_eq!(buckets[0].counted.requests, 3);
        assert_eq!(buckets[0].counted.server_errors, 1);
        assert_eq!(buckets[1].counted.requests, 1, "the bucket in progress");
    }

    #[test]
    fn the_ring_keeps_one_hour() {
        let live = live();
        let history = History::default();
        let start = SystemTime::UNIX_EPOCH;
        for step in 0..(BUCKETS as u32 + 10) {
            history.sample(&live, start + STEP * step);
        }
        let buckets = &history.view(&live)[0].buckets;
        assert_eq!(buckets.len(), BUCKETS + 1);
        assert_eq!(buckets[0].start, start + STEP * 9);
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let bounds = [0.001, 0.002, 0.004, f64::INFINITY];
        assert_eq!(quantile(&bounds, &[0, 0, 0, 0], 0.5), None);
        assert_eq!(quantile(&bounds, &[0, 10, 0, 0], 0.5), Some(0.0015));
        assert_eq!(quantile(&bounds, &[0, 0, 0, 3], 0.99), Some(0.004));
        let p99 = quantile(&bounds, &[98, 0, 2, 0], 0.99).unwrap();
        assert!((p99 - 0.003).abs() < 1e-9, "{p99}");
    }
}
