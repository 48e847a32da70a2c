//! Delivery workers: stored events go out through the same [`Forwarder`]
//! as sync requests, as they were stored (their headers went through the
//! header rules at ingest), on the control-plane runtime, with their own
//! client.
//!
//! A supervisor starts one worker per route that is queued, or that still
//! holds pending events (a route switched to sync delivers what it stored,
//! then its worker stops), once the store is open; it asks the store again
//! at every round of housekeeping. A worker reads the live snapshot before
//! each round, so a reload's `enabled`, `downstream`, `timeout`,
//! `concurrency` and retry schedule apply from the next attempt on;
//! `enabled = false` pauses it while ingest keeps storing. A route removed
//! from the config keeps its events in the store; its worker stops until the
//! route is back.
//!
//! Order: a worker takes due events oldest stored first, at most
//! `concurrency` at once. A failed event waits for its backoff while later
//! events go ahead.
//!
//! A store that refuses (full disk, locked, I/O errors) backs the worker
//! off, and an outcome it could not record stays in memory until it can:
//! see `faults`.

mod faults;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Queue, QueueSlot};
use crate::events::EventLog;
use crate::forward::Forwarder;
use crate::live::{Live, LiveRoute};
use crate::routes::{Delivery, RouteTable};
use crate::telemetry::Traces;
use faults::{Faults, Operation};
use worker::Worker;

/// How often the queue gauges are refreshed, and the routes holding events
/// looked up.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Delivered events past `retention` are deleted every this many rounds of housekeeping.
const SWEEP_EVERY: u32 = 60;

/// Delivers the events stored in `slot`'s queue, on the routes of `live`,
/// until `shutdown`; then lets attempts in flight finish.
pub async fn run(
    live: Arc<Live>,
    slot: Arc<QueueSlot>,
    forwarder: Forwarder,
    events: Option<EventLog>,
    traces: Option<Traces>,
    shutdown: CancellationToken,
) {
    let forwarder = Arc::new(forwarder);
    let mut changes = live.subscribe();
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    // The first tick is at once: the routes holding events are known from
    // the start.
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
    let mut rounds = 0u32;
    let mut holding = HashSet::new();
    let mut faults = HouseFaults {
        stats: Faults::new(live.metrics()),
        sweep: Faults::new(live.metrics()),
    };
    loop {
        if let Some(queue) = slot.get() {
            for name in to_serve(&live.peek().config.routes, &holding) {
                if workers.get(&name).is_none_or(|w| w.is_finished()) {
                    let worker = Worker {
                        name: name.clone(),
                        live: live.clone(),
                        queue: queue.clone(),
                        forwarder: forwarder.clone(),
                        events: events.clone(),
                        traces: traces.clone(),
                    };
                    workers.insert(name, tokio::spawn(worker.run(shutdown.clone())));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Ok(()) = changes.changed() => {}
            _ = housekeeping.tick() => {
                rounds = rounds.wrapping_add(1);
                // A store no route opened may hold events `hookgate events
                // replay` put there from another process.
                let store = &live.peek().config.server.store;
                if let Some(queue) = slot.get().or_else(|| slot.open_if_stored(store)) {
                    let sweep = rounds % SWEEP_EVERY == 0;
                    holding = keep_house(&live, queue, sweep, &mut faults).await;
                }
            }
        }
    }
    for worker in workers.into_values() {
        let _ = worker.await;
    }
}

/// The routes of `routes` that get a worker: the queued ones, and the others
/// while they hold pending events (`holding`). A sync route that never
/// queued costs no worker polling the store.
fn to_serve(routes: &RouteTable, holding: &HashSet<String>) -> Vec<String> {
    routes
        .iter()
        .filter(|route| route.delivery == Delivery::Queued || holding.contains(&route.name))
        .map(|route| route.name.clone())
        .collect()
}

/// Housekeeping's store faults, apart: a full disk refuses its deletes but
/// not its reads, which would otherwise end the fault every second.
struct HouseFaults {
    stats: Faults,
    sweep: Faults,
}

/// Refreshes every route's queue gauges; with `sweep`, drops delivered
/// events past their retention. Returns the routes holding pending events
/// (or whose store could not be read: a worker finding nothing stops).
async fn keep_house(
    live: &Live,
    queue: &Queue,
    sweep: bool,
    faults: &mut HouseFaults,
) -> HashSet<String> {
    let snapshot = live.load();
    let mut holding = HashSet::new();
    for LiveRoute { route, metrics } in snapshot.routes() {
        match queue.stats(&route.name).await {
            Ok(stats) => {
                faults.stats.answered(&route.name);
                let series = &metrics.series.queue;
                series.show(stats.pending, stats.dead, stats.oldest_pending);
                if stats.pending > 0 {
                    holding.insert(route.name.clone());
                }
            }
            Err(error) => {
                faults.stats.failed(&route.name, Operation::Stats, &error);
                holding.insert(route.name.clone());
            }
        }
        if sweep {
            match queue.sweep(&route.name, route.queue.retention).await {
                Ok(_) => faults.sweep.answered(&route.name),
                Err(error) => faults.sweep.failed(&route.name, Operation::Sweep, &error),
            }
        }
    }
    holding
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config;

    /// Routes `sync`, `queued` and `was_queued` (sync now).
    fn routes() -> RouteTable {
        let mut text = String::new();
        for (name, delivery) in [
            ("sync", "sync"),
            ("queued", "queued"),
            ("was_queued", "sync"),
        ] {
            text.push_str(&format!(
                "[routes.{name}]\npath = \"/{name}\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
                 delivery = \"{delivery}\"\n[routes.{name}.signature]\nscheme = \"none\"\n"
            ));
        }
        let vars = config::Vars::default();
        config::from_text(&text, Path::new("test.toml"), &vars)
            .unwrap()
            .routes
    }

    #[test]
    fn a_sync_route_gets_a_worker_only_while_it_holds_stored_events() {
        let holding = HashSet::from(["was_queued".to_string()]);

        let mut served = to_serve(&routes(), &holding);
        served.sort();

        assert_eq!(served, ["queued", "was_queued"]);
    }

    #[test]
    fn a_queued_route_gets_a_worker_with_nothing_stored() {
        assert_eq!(to_serve(&routes(), &HashSet::new()), ["queued"]);
    }
}
