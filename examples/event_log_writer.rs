//! The event log's writer alone: the CPU time its threads spend per record.
//!
//! Sends records at a steady rate to the SQLite log, as a gateway serving
//! that rate would, and reads the CPU time of the writer and checkpointer
//! threads from `/proc`. On a shared machine this is steadier than the
//! throughput `bench/run.sh` measures, which the writer's work lowers only
//! through the cores it takes from the request workers.
//!
//! ```sh
//! cargo run --release --example event_log_writer -- bodies 200000 20000
//! ```
//! Arguments: `bodies` or `metadata`, how many records, records per second,
//! the route's `max_events` (100,000: past them each insert comes with a
//! delete, as at a sustained rate).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookgate::config;
use hookgate::events::{EventLog, HeaderCopy, Limits, LogMetrics, RequestRecord};
use poem::http::{HeaderMap, HeaderValue};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bodies = args.first().is_none_or(|m| m == "bodies");
    let total: usize = args.get(1).map_or(200_000, |n| n.parse().expect("a count"));
    let rate: usize = args.get(2).map_or(20_000, |n| n.parse().expect("a rate"));
    let max_events: u64 = args.get(3).map_or(100_000, |n| n.parse().expect("a count"));

    let text = format!(
        "[routes.chatwoot]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
         log = {{ bodies = {bodies}, max_events = {max_events} }}\n[routes.chatwoot.signature]\nscheme = \"chatwoot\"\n\
         secret = \"bench-secret\"\n"
    );
    let config = config::from_text(&text, Path::new("bench.toml"), &config::Vars::default())
        .expect("the bench's config");
    let route = config
        .routes
        .by_name("chatwoot")
        .expect("its route")
        .clone();
    let bounds = hookgate::events::Bounds::of(&route.log);

    let dir = tempfile::tempdir_in("target").expect("a directory under target/");
    let metrics = LogMetrics::default();
    let limits = Limits {
        routes: Box::new(move || [("chatwoot".to_string(), bounds)].into()),
        max_bytes: u64::MAX,
    };
    let log = EventLog::open(
        &dir.path().join("hookgate-events.db"),
        metrics.clone(),
        limits,
    )
    .expect("the log");
    let body = Bytes::from(std::fs::read("bench/payload.json").expect("bench/payload.json"));
    let headers = chatwoot_headers(body.len());

    let before = log_threads();
    let started = Instant::now();
    let step = Duration::from_millis(10);
    let per_step = (rate / 100).max(1);
    let mut sent = 0;
    while sent < total {
        for _ in 0..per_step.min(total - sent) {
            log.record(record(&route, &headers, bodies.then(|| body.clone()), sent));
            sent += 1;
        }
        let due = step * (sent / per_step) as u32;
        std::thread::sleep(due.saturating_sub(started.elapsed()));
    }
    // Time for the writer to write what it was sent, while its threads
    // are still there to be read.
    std::thread::sleep(Duration::from_secs(2));
    let used = log_threads().since(before);
    drop(log);
    let logged = (total as u64 - metrics.dropped.get()).max(1);
    println!(
        "{} {total} records at {rate}/s, max_events {max_events}: {} dropped; \
         per record logged, {:.2} us of the log's threads' CPU and {:.0} bytes written",
        if bodies { "bodies" } else { "metadata" },
        metrics.dropped.get(),
        used.cpu.as_secs_f64() * 1e6 / logged as f64,
        used.written as f64 / logged as f64,
    );
}

fn record(
    route: &std::sync::Arc<hookgate::routes::Route>,
    headers: &HeaderMap,
    body: Option<Bytes>,
    n: usize,
) -> RequestRecord {
    RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        received_at: SystemTime::now(),
        route: route.clone(),
        request_id: uuid::Uuid::new_v4().to_string(),
        delivery_id: Some(format!("0x5581b2c0-{n}")),
        status: 200,
        outcome: "forwarded",
        reason: None,
        body_size: body.as_ref().map_or(0, Bytes::len),
        duration_ms: 1,
        // As the gateway records them: headers only where bodies are kept.
        headers: body.is_some().then(|| HeaderCopy::of(headers)),
        body,
        attempt: Some(hookgate::events::AttemptRecord {
            at: SystemTime::now(),
            status: Some(200),
            duration_ms: 1,
            answer: "{\"ok\":true}".into(),
            destination: "default".into(),
        }),
    }
}

/// The headers Chatwoot sends (as `bench/run.sh`'s requests carry them).
fn chatwoot_headers(length: usize) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:18082".to_string()),
        ("content-type", "application/json".into()),
        ("content-length", length.to_string()),
        ("x-chatwoot-timestamp", "1764800000".into()),
        (
            "x-chatwoot-signature",
            "sha256=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
        ),
        ("x-chatwoot-delivery", "0x5581b2c0-1".into()),
        (
            "user-agent",
            "rest-client/2.1.0 (linux x86_64) ruby/3.4.4p34".into(),
        ),
    ] {
        headers.insert(
            poem::http::HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("a header value"),
        );
    }
    headers
}

/// What this process's event-log threads (the writer, the checkpointer)
/// have used so far.
#[derive(Debug, Clone, Copy, Default)]
struct Used {
    /// CPU time, user and system.
    cpu: Duration,
    /// Bytes handed to `write` and `pwrite`.
    written: u64,
}

impl Used {
    fn since(self, before: Used) -> Used {
        Used {
            cpu: self.cpu.saturating_sub(before.cpu),
            written: self.written.saturating_sub(before.written),
        }
    }
}

fn log_threads() -> Used {
    // Clock ticks, as /proc counts CPU time (USER_HZ is 100 on Linux).
    let ticks_per_second = 100.0;
    let (mut ticks, mut written) = (0u64, 0u64);
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !name.starts_with("hookgate-event") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the name's closing parenthesis; utime and stime are 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        for field in [11, 12] {
            ticks += fields
                .get(field)
                .and_then(|t| t.parse::<u64>().ok())
                .unwrap_or(0);
        }
        let io = std::fs::read_to_string(task.path().join("io")).unwrap_or_default();
        written += io
            .lines()
            .find_map(|line| line.strip_prefix("wchar: "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Used {
        cpu: Duration::from_secs_f64(ticks as f64 / ticks_per_second),
        written,
    }
}
