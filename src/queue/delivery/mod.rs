//! Delivery workers: stored events go out through the same [`Forwarder`]
//! as sync requests, as they were stored (their headers went through the
//! header rules at ingest), on a runtime of their own (apart from the
//! request workers and the control plane), with their own client.
//!
//! A supervisor starts one worker per route that is queued, or that still
//! holds pending events (a route switched to sync delivers what it stored,
//! then its worker stops), once the store is open; it asks the store again
//! at every round of housekeeping. A worker reads the live snapshot before
//! each round, so a reload's `enabled`, `downstream`, `timeout`,
//! `concurrency`, `rate_limit`, breaker and retry schedule apply from the
//! next attempt on; `enabled = false` pauses it while ingest keeps storing.
//! Its destination's pace (`crate::pacing`) is kept in the snapshot's
//! lane, not in the worker: a worker that stops and starts again finds the
//! breaker and the limiter as they were. A route removed
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

mod attempt;
mod faults;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::QueueStats;
use super::{Queue, QueueSlot};
use crate::events::EventLog;
use crate::forward::Forwarder;
use crate::live::{Live, LiveLane, LiveRoute, Snapshot};
use crate::metrics::{DestinationLabels, Metrics};
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
    let mut served = lanes_of(&live.peek());
    loop {
        if let Some(queue) = slot.get() {
            for name in to_serve(&live.peek(), &holding) {
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
            Ok(()) = changes.changed() => {
                let now = lanes_of(&live.peek());
                if let Some(queue) = slot.get() {
                    report_removed(queue, &served, &now).await;
                }
                served = now;
            }
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

/// The destination queues (lanes) that get a worker: those delivered in
/// the background (a queued route's, a sync route's mirrors), and the
/// others while they hold pending events (`holding`). A sync route that
/// never queued costs no worker polling the store.
fn to_serve(snapshot: &Snapshot, holding: &HashSet<String>) -> Vec<String> {
    snapshot
        .lanes()
        .filter(|lane| {
            let LiveLane {
                live, destination, ..
            } = lane;
            live.route.queues(destination) || holding.contains(&destination.lane)
        })
        .map(|lane| lane.destination.lane.clone())
        .collect()
}

/// A destination's queue gauges.
fn show(metrics: &Metrics, route: &str, destination: &str, stats: &QueueStats) {
    let labels = DestinationLabels {
        route: route.to_string(),
        destination: destination.to_string(),
    };
    let depth = metrics.destination_depth.get_or_create(&labels);
    depth.set(stats.pending as i64);
    let dead = metrics.destination_dead_letters.get_or_create(&labels);
    dead.set(stats.dead as i64);
}

/// Every destination's lane, with its route and name.
fn lanes_of(snapshot: &Snapshot) -> HashMap<String, (String, String)> {
    (snapshot.lanes())
        .map(
            |LiveLane {
                 live, destination, ..
             }| {
                let names = (live.route.name.clone(), destination.name.clone());
                (destination.lane.clone(), names)
            },
        )
        .collect()
}

/// Says which destinations a reload removed while their queues still hold
/// events: the events are kept (a destination put back delivers them), not
/// silently dropped.
async fn report_removed(
    queue: &Queue,
    before: &HashMap<String, (String, String)>,
    now: &HashMap<String, (String, String)>,
) {
    for (lane, (route, destination)) in before {
        if now.contains_key(lane) {
            continue;
        }
        let Ok(stats) = queue.stats(lane).await else {
            continue;
        };
        if stats.pending + stats.dead > 0 {
            tracing::warn!(
                route = %route,
                destination = %destination,
                pending = stats.pending,
                dead_letters = stats.dead,
                "a removed destination's events stay in the store: put it back to deliver \
                 them, or delete them with `hookgate queue purge --all`"
            );
        }
    }
}

/// Housekeeping's store faults, apart: a full disk refuses its deletes but
/// not its reads, which would otherwise end the fault every second.
struct HouseFaults {
    stats: Faults,
    sweep: Faults,
}

/// Refreshes every route's queue gauges (its destinations' queues
/// together); with `sweep`, drops delivered events past their retention.
/// Returns the lanes holding pending events. A lane whose stats cannot be
/// read is not among them: a queued lane has its worker anyway, and
/// another gets one once a read finds its events (with Redis down, an
/// all-sync gateway starts no worker per lane every second).
async fn keep_house(
    live: &Live,
    queue: &Queue,
    sweep: bool,
    faults: &mut HouseFaults,
) -> HashSet<String> {
    let snapshot = live.load();
    let mut holding = HashSet::new();
    for LiveRoute { route, metrics } in snapshot.routes() {
        let mut total = QueueStats::default();
        for destination in &route.destinations {
            let lane = &destination.lane;
            match queue.stats(lane).await {
                Ok(stats) => {
                    faults.stats.answered(lane);
                    if stats.pending > 0 {
                        holding.insert(lane.clone());
                    }
                    show(live.metrics(), &route.name, &destination.name, &stats);
                    total.add(&stats);
                }
                Err(error) => faults.stats.failed(lane, Operation::Stats, &error),
            }
            if sweep {
                match queue.sweep(lane, destination.queue.retention).await {
                    Ok(_) => faults.sweep.answered(lane),
                    Err(error) => faults.sweep.failed(lane, Operation::Sweep, &error),
                }
            }
        }
        let series = &metrics.series.queue;
        series.show(total.pending, total.dead, total.oldest_pending);
    }
    holding
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config;

    /// Routes `sync`, `queued` and `was_queued` (sync now), and `mirrored`:
    /// sync, its primary `agent` and a mirror `archive`.
    fn snapshot() -> Arc<Snapshot> {
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
        text.push_str(
            "[routes.mirrored]\npath = \"/m\"\nsignature = { scheme = \"none\" }\n\
             [routes.mirrored.destinations.agent]\nurl = \"http://127.0.0.1:9/a\"\nprimary = true\n\
             [routes.mirrored.destinations.archive]\nurl = \"http://127.0.0.1:9/b\"\n",
        );
        let vars = config::Vars::default();
        let config = config::from_text(&text, Path::new("test.toml"), &vars).unwrap();
        Live::new(config).load()
    }

    #[test]
    fn a_sync_route_gets_a_worker_only_while_it_holds_stored_events() {
        let holding = HashSet::from(["was_queued".to_string()]);

        let mut served = to_serve(&snapshot(), &holding);
        served.sort();

        assert_eq!(served, ["mirrored:archive", "queued", "was_queued"]);
    }

    #[test]
    fn a_queued_route_and_a_sync_routes_mirror_get_a_worker_with_nothing_stored() {
        let mut served = to_serve(&snapshot(), &HashSet::new());
        served.sort();

        assert_eq!(served, ["mirrored:archive", "queued"]);
    }
}
