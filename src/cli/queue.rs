//! `hookgate queue ls|replay|purge`: a route's stored events, on the store
//! file directly. SQLite's locking makes this safe while the gateway runs; a
//! running gateway picks up replayed events within a second.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Subcommand;

use super::ConfigArg;
use crate::config;
use crate::queue::{EventState, EventSummary, Purge, Queue};
use crate::routes::{DEFAULT_DESTINATION, Destination};

/// A destination's queue: `--route` and, for a route with named
/// destinations, `--destination`.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The route's name, as in `[routes.NAME]`.
    #[arg(long)]
    route: String,
    /// The destination, as in `[routes.NAME.destinations.DEST]`; default:
    /// the route's `downstream` (its destination named `default`).
    #[arg(long, default_value = DEFAULT_DESTINATION)]
    destination: String,
}

impl Target {
    /// The queue the store keeps the destination's events in.
    fn lane(&self) -> String {
        Destination::lane_of(&self.route, &self.destination)
    }

    /// How messages name it.
    fn shown(&self) -> String {
        match self.destination.as_str() {
            DEFAULT_DESTINATION => format!("route `{}`", self.route),
            dest => format!("route `{}`, destination `{dest}`", self.route),
        }
    }
}

/// What to do with the route's stored events.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print the route's counts, then its stored events, oldest first.
    Ls {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        config: ConfigArg,
        /// List at most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put dead letters back into the queue with a fresh retry schedule.
    Replay {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        config: ConfigArg,
        /// Only this event; all of the route's dead letters when absent.
        #[arg(long)]
        id: Option<String>,
    },
    /// Delete dead letters; with `--all`, pending and delivered events too.
    Purge {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        config: ConfigArg,
        /// Only this event.
        #[arg(long)]
        id: Option<String>,
        /// Every stored event of the route, not only dead letters.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `action`, printing the outcome; exit 1 with the reason on failure.
pub fn run(action: Action) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    match runtime.block_on(execute(action)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(action: Action) -> Result<(), String> {
    match action {
        Action::Ls {
            target,
            config,
            limit,
        } => ls(&open(&config)?, &target, limit).await,
        Action::Replay { target, config, id } => {
            let queue = open(&config)?;
            let n = queue
                .replay(&target.lane(), id.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!("replayed {n} dead letters of {}", target.shown());
            Ok(())
        }
        Action::Purge {
            target,
            config,
            id,
            all,
        } => {
            let what = if all {
                Purge::Everything
            } else {
                Purge::DeadLetters
            };
            let queue = open(&config)?;
            let n = queue
                .purge(&target.lane(), what, id.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!("purged {n} events of {}", target.shown());
            Ok(())
        }
    }
}

/// The store named by the config; an absent SQLite file is an error, not created.
fn open(config: &ConfigArg) -> Result<Queue, String> {
    let store = config::store_settings(&config.config, &config::Vars::process())
        .map_err(|e| e.to_string())?;
    let embedded = store.backend == config::StoreBackend::Embedded;
    if embedded && !store.path.exists() {
        return Err(format!(
            "{}: no store there (no queued route has run with this config)",
            store.path.display()
        ));
    }
    Queue::open(&store).map_err(|e| e.to_string())
}

async fn ls(queue: &Queue, target: &Target, limit: usize) -> Result<(), String> {
    let lane = target.lane();
    let stats = queue.stats(&lane).await.map_err(|e| e.to_string())?;
    let events = queue
        .list(&lane, None, limit)
        .await
        .map_err(|e| e.to_string())?;
    let oldest = stats
        .oldest_pending
        .and_then(|at| SystemTime::now().duration_since(at).ok())
        .map(|age| format!(" (oldest {}s)", age.as_secs()))
        .unwrap_or_default();
    println!(
        "{} in {}: {} pending{oldest}, {} dead letters, {} delivered kept",
        target.shown(),
        queue.describe(),
        stats.pending,
        stats.dead,
        stats.delivered
    );
    if !events.is_empty() {
        println!(
            "{:<36}  {:<9}  {:>8}  {:<20}  {:<20}  LAST ERROR",
            "ID", "STATE", "ATTEMPTS", "RECEIVED", "NEXT ATTEMPT"
        );
    }
    for event in &events {
        println!("{}", line(event));
    }
    Ok(())
}

fn line(event: &EventSummary) -> String {
    let time = |at| humantime::format_rfc3339_seconds(at).to_string();
    let next = match event.state {
        EventState::Pending => time(event.next_attempt_at),
        EventState::Dead | EventState::Delivered => "-".into(),
    };
    format!(
        "{:<36}  {:<9}  {:>8}  {:<20}  {:<20}  {}",
        event.id,
        event.state,
        event.attempts,
        time(event.received_at),
        next,
        event.last_error.as_deref().unwrap_or("-")
    )
}
