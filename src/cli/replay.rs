//! `hookgate events replay`: event log records delivered again, written to
//! the store directly like `hookgate queue replay`, so it works with the
//! gateway stopped; a running gateway's delivery picks the events up within
//! a second.

use super::ConfigArg;
use crate::config::{self, Config};
use crate::events::Reader;
use crate::queue::Queue;
use crate::replay;

/// Replays the record `id`, or the records of `route` that `selection`
/// takes, printing what was done.
pub fn run(
    config: &ConfigArg,
    id: Option<String>,
    route: Option<String>,
    selection: replay::Selection,
) -> Result<(), String> {
    // Secrets need not be set: only the routes' names and the store are used.
    let loaded = config::load_for_docs(&config.config, &config::Vars::process())
        .map_err(|e| e.to_string())?;
    let log = Reader::for_store(&loaded.server.store).map_err(|e| e.to_string())?;
    let queue = Queue::open(&loaded.server.store).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match (id, route) {
            (Some(id), _) => one(&loaded, &queue, &log, &id).await,
            (None, Some(_)) if !selection.filter.narrows() => Err(
                "give at least one filter (--outcome, --status, --since, --until, --delivery-id): \
                 a replay delivers again, even what was delivered"
                    .into(),
            ),
            (None, Some(route)) => matching(&loaded, &queue, &log, &route, selection).await,
            (None, None) => Err("give an event id, or --route and filters".into()),
        }
    })
}

async fn one(loaded: &Config, queue: &Queue, log: &Reader, id: &str) -> Result<(), String> {
    if let Some(path) = log.missing_file() {
        return Err(format!("{}: no event log there", path.display()));
    }
    let record = (log.get(id).await)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no event `{id}` in the event log"))?;
    let name = record.summary.route.clone();
    let route = route_named(loaded, &name)?;
    replay::one(queue, route, None, record, replay::Skip::Nothing)
        .await
        .map_err(|e| e.to_string())?;
    println!("replayed event {id} of route `{name}`");
    Ok(())
}

async fn matching(
    loaded: &Config,
    queue: &Queue,
    log: &Reader,
    name: &str,
    selection: replay::Selection,
) -> Result<(), String> {
    let route = route_named(loaded, name)?;
    let at_most = selection.at_most;
    let tally = replay::matching(log, queue, route, None, selection)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "replayed {} events of route `{name}`; skipped {} without a kept body, {} still queued, \
         {} no destination wants, {} delivered since",
        tally.replayed, tally.no_body, tally.already_queued, tally.filtered, tally.delivered
    );
    if let Some(next) = tally.next {
        println!("stopped at --limit {at_most} with records left: go on with --after {next}");
    }
    Ok(())
}

fn route_named<'a>(loaded: &'a Config, name: &str) -> Result<&'a crate::routes::Route, String> {
    loaded
        .routes
        .by_name(name)
        .map(|route| route.as_ref())
        .ok_or_else(|| format!("no route named `{name}` in the config"))
}
