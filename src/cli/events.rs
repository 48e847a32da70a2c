//! `hookgate events ls|show|tail|replay`: the event log, read from its file
//! directly (SQLite's WAL lets this run beside a running gateway), or from
//! Redis with `[store] backend = "redis"`; a replay writes to the store
//! directly (see `replay.rs`).

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, Subcommand};

use super::{ConfigArg, replay};
use crate::config;
use crate::events::{self, Reader, query};

/// How often `tail` looks for new records.
const TAIL_EVERY: Duration = Duration::from_millis(500);
/// How long after its request arrived a record may still reach the log
/// for `tail` to show it: a sync request's record is written once the
/// downstream has answered (within its `timeout`, 10 s by default).
const LATE_BY_AT_MOST: Duration = Duration::from_secs(60);
/// Records per page `tail` reads, and pages per look: past 1,000 new
/// records in half a second it shows the newest.
const TAIL_PAGE: usize = 100;
const TAIL_PAGES: usize = 10;

/// What to read from the event log.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print records, newest first.
    Ls {
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        config: ConfigArg,
        /// Print at most this many records.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print one record: headers, body and attempts.
    Show {
        /// The event id.
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print new records as they arrive, until interrupted.
    Tail {
        #[command(flatten)]
        filter: FilterArgs,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Deliver records again through the queue (original bytes, same event
    /// id): the one with ID, or the records of `--route` the filters select,
    /// oldest first, at most `--limit`.
    Replay {
        /// The event id; or give `--route` and filters instead.
        #[arg(
            required_unless_present = "route",
            conflicts_with_all = [
                "route", "outcome", "status", "delivery_id", "since", "until", "limit", "after"
            ]
        )]
        id: Option<String>,
        #[command(flatten)]
        filter: FilterArgs,
        /// With filters: put at most this many records into the queue (at
        /// most 10,000).
        #[arg(
            long,
            default_value_t = crate::replay::DEFAULT_AT_MOST,
            value_parser = clap::value_parser!(u64).range(1..=crate::replay::MAX_AT_MOST)
        )]
        limit: u64,
        /// With filters: only records after this event id, where a replay
        /// stopped at its `--limit` (it prints the id).
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Which records.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only this route's.
    #[arg(long)]
    route: Option<String>,
    /// Only this outcome (`downstream_error`, `unauthorized`, `forwarded`, ...).
    #[arg(long)]
    outcome: Option<String>,
    /// Only the source's delivery id.
    #[arg(long)]
    delivery_id: Option<String>,
    /// Only answers of this status class.
    #[arg(long, value_enum)]
    status: Option<StatusClass>,
    /// Only records received since this long ago (`1h`, `30m`).
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<Duration>,
    /// Only records received before this long ago.
    #[arg(long, value_parser = humantime::parse_duration)]
    until: Option<Duration>,
}

/// A class of answer statuses.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatusClass {
    /// 200 to 299.
    #[value(name = "2xx")]
    Success,
    /// 400 to 499.
    #[value(name = "4xx")]
    ClientError,
    /// 500 to 599.
    #[value(name = "5xx")]
    ServerError,
}

impl FilterArgs {
    fn filter(self, limit: usize) -> query::Filter {
        let ago = |d: Duration| events::unix_ms(SystemTime::now()) - d.as_millis() as i64;
        query::Filter {
            route: self.route,
            outcome: self.outcome,
            delivery_id: self.delivery_id,
            status_class: self.status.map(|class| match class {
                StatusClass::Success => 2,
                StatusClass::ClientError => 4,
                StatusClass::ServerError => 5,
            }),
            since_ms: self.since.map(ago),
            until_ms: self.until.map(ago),
            limit,
            ..Default::default()
        }
    }
}

/// Runs `action`, printing what it finds; exit 1 with the reason on failure.
pub fn run(action: Action) -> ExitCode {
    match execute(action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn execute(action: Action) -> Result<(), String> {
    if let Action::Replay {
        id,
        filter,
        limit,
        after,
        config,
    } = action
    {
        let route = filter.route.clone();
        let selection = crate::replay::Selection {
            filter: filter.filter(0),
            after,
            at_most: limit,
        };
        return replay::run(&config, id, route, selection);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        match action {
            Action::Ls {
                filter,
                config,
                limit,
            } => {
                let found = (open(&config)?.walk(&filter.filter(limit)).await)
                    .map_err(|e| e.to_string())?;
                print_header();
                found
                    .iter()
                    .for_each(|summary| println!("{}", line(summary)));
                Ok(())
            }
            Action::Show { id, config } => show(&open(&config)?, &id).await,
            Action::Tail { filter, config } => tail(&open(&config)?, filter).await,
            Action::Replay { .. } => unreachable!("replayed above"),
        }
    })
}

/// The log of the store the config names; an absent file is an error.
pub(super) fn open(config: &ConfigArg) -> Result<Reader, String> {
    let store = config::store_settings(&config.config, &config::Vars::process())
        .map_err(|e| e.to_string())?;
    let reader = Reader::for_store(&store).map_err(|e| e.to_string())?;
    if let Some(path) = reader.missing_file() {
        return Err(format!(
            "{}: no event log there (the gateway has not run with this config)",
            path.display()
        ));
    }
    Ok(reader)
}

async fn show(log: &Reader, id: &str) -> Result<(), String> {
    let record = (log.get(id).await)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no event `{id}` in the event log"))?;
    print_header();
    println!("{}", line(&record.summary));
    if let Some(reason) = &record.summary.reason {
        println!("\nreason: {reason}");
    }
    for header in record.headers.iter().flatten() {
        println!("{}: {}", header.name, header.value);
    }
    if let Some(body) = &record.body {
        println!("\n{}", String::from_utf8_lossy(body));
    }
    for attempt in &record.attempts {
        let status = attempt.status.map_or("-".into(), |s| s.to_string());
        let at = time(attempt.at);
        println!(
            "\nattempt at {at}: {status} in {} ms: {}",
            attempt.duration_ms, attempt.answer
        );
    }
    Ok(())
}

async fn tail(log: &Reader, filter: FilterArgs) -> Result<(), String> {
    let mut printed = Printed::default();
    let mut first = true;
    print_header();
    loop {
        let since = events::unix_ms(SystemTime::now()) - LATE_BY_AT_MOST.as_millis() as i64;
        let mut window = filter.clone().filter(TAIL_PAGE);
        window.since_ms = window.since_ms.max(Some(since));
        // At start, the newest page, as `tail -f` shows the last lines.
        let pages = if first { 1 } else { TAIL_PAGES };
        let found = newest_pages(log, window, pages).await?;
        for summary in found.iter().rev().filter(|s| printed.first_time(&s.id)) {
            println!("{}", line(summary));
        }
        printed.forget_before(&events::first_id_at(since));
        first = false;
        tokio::time::sleep(TAIL_EVERY).await;
    }
}

/// Up to `pages` pages of what `filter` selects, newest first.
async fn newest_pages(
    log: &Reader,
    mut filter: query::Filter,
    pages: usize,
) -> Result<Vec<query::Summary>, String> {
    let mut found = Vec::new();
    for _ in 0..pages {
        let page = log.list(&filter).await.map_err(|e| e.to_string())?;
        found.extend(page.records);
        match page.next {
            Some(next) => filter.before = Some(next),
            None => break,
        }
    }
    Ok(found)
}

/// The ids `tail` has printed, within the window it looks at again.
///
/// Not just the newest: a sync request's id is made when it arrives and
/// its record written once the downstream has answered, so a slow call's
/// record reaches the log after those of faster requests that came later.
#[derive(Debug, Default)]
struct Printed(std::collections::BTreeSet<String>);

impl Printed {
    /// Whether `id` is printed now for the first time (and note it).
    fn first_time(&mut self, id: &str) -> bool {
        self.0.insert(id.to_string())
    }

    /// Ids below `bound` are out of the window: forget them.
    fn forget_before(&mut self, bound: &str) {
        self.0 = self.0.split_off(bound);
    }
}

fn print_header() {
    println!(
        "{:<36}  {:<24}  {:<16}  {:>6}  {:<18}  {:<24}  REASON",
        "ID", "RECEIVED", "ROUTE", "STATUS", "OUTCOME", "DELIVERED"
    );
}

fn line(summary: &query::Summary) -> String {
    format!(
        "{:<36}  {:<24}  {:<16}  {:>6}  {:<18}  {:<24}  {}",
        summary.id,
        time(summary.received_at),
        summary.route,
        summary.status,
        summary.outcome,
        summary.delivered_at.map_or("-".into(), time),
        summary.reason.as_deref().unwrap_or("-")
    )
}

fn time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}
