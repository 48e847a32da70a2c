//! The body of `GET /admin/status`: per-route facts, never a secret.

use serde_json::{Value, json};

use std::sync::Arc;

use crate::live::{LiveRoute, Snapshot};
use crate::routes::{Delivery, Route};

/// Each destination's name, host and queue: never its path or query (they
/// may hold a token), never its headers.
fn destinations(route: &Route) -> Vec<Value> {
    let primary = route.primary();
    (route.destinations.iter())
        .map(|d| {
            json!({
                "name": d.name,
                "host": d.url.host_str(),
                "lane": d.lane,
                "primary": route.delivery == Delivery::Sync && Arc::ptr_eq(d, primary),
                "filtered": d.filter.is_some(),
                "signed": d.sign.is_some(),
            })
        })
        .collect()
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
                "destinations": destinations(route),
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
