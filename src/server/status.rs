//! The body of `GET /admin/status`: per-route facts, never a secret.

use serde_json::{Value, json};

use std::sync::Arc;
use std::time::SystemTime;

use crate::live::{LiveRoute, Snapshot};
use crate::pacing::PacingView;
use crate::routes::{Delivery, Route};

/// Each destination's name, host and queue: never its path or query (they
/// may hold a token), never its headers. With its pace: the breaker, and
/// a `Retry-After` pause still running.
fn destinations(route: &Route, snapshot: &Snapshot) -> Vec<Value> {
    let primary = route.primary();
    (route.destinations.iter())
        .map(|d| {
            let pace = snapshot.by_lane(&d.lane).map(|lane| lane.pacing.view());
            let pace = pace.unwrap_or_default();
            json!({
                "name": d.name,
                "host": d.url.host_str(),
                "lane": d.lane,
                "primary": route.delivery == Delivery::Sync && Arc::ptr_eq(d, primary),
                "filtered": d.filter.is_some(),
                "signed": d.sign.is_some(),
                "rate_limit": d.queue.rate_limit.map(|rate| rate.to_string()),
                "breaker": breaker(&pace),
                "paused_until": (pace.paused_until)
                    .filter(|until| *until > SystemTime::now())
                    .map(rfc3339),
            })
        })
        .collect()
}

/// `{state, open_since, next_probe_at, consecutive_failures}`.
fn breaker(pace: &PacingView) -> Value {
    json!({
        "state": pace.state.as_str(),
        "open_since": pace.open_since.map(rfc3339),
        "next_probe_at": pace.next_probe_at.map(rfc3339),
        "consecutive_failures": pace.consecutive_failures,
    })
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// Every route of `snapshot` with its live state.
pub fn of(snapshot: &Snapshot) -> Value {
    let routes: Vec<Value> = snapshot
        .routes()
        .map(|LiveRoute { route, metrics }| {
            let streak = metrics.streak();
            json!({
                "name": route.name,
                "path": route.path,
                "enabled": route.enabled,
                "delivery": route.delivery,
                "scheme": route.verifier.scheme(),
                "downstream_host": route.primary().url.host_str(),
                "destinations": destinations(route, snapshot),
                "in_flight": metrics.in_flight.get(),
                "max_in_flight": route.max_in_flight,
                "failing_for_secs": streak.failing_for().as_secs(),
                "alert_after_secs": route.alert_after.as_secs(),
                "streak": streak,
            })
        })
        .collect();
    json!({
        "config_generation": snapshot.generation,
        "config_hash": snapshot.config.content_hash,
        "routes": routes,
    })
}
