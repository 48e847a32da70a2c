//! The body of `GET /admin/status`: per-route facts, never a secret.

use serde_json::{Value, json};

use crate::live::{LiveRoute, Snapshot};

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
                "downstream_host": route.downstream.host_str(),
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
