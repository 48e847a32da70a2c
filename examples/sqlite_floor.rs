//! The floor under the event log's writer: SQLite alone, on this thread,
//! inserting records and deleting as many of the oldest (a route at its
//! `max_events`), with the log's own file, schema and settings
//! ([`hookgate::events::open_file`]) and a passive checkpoint every 5,000
//! records. What the writer spends beyond this is its own: the headers'
//! JSON, the channel, the checkpointer's thread.
//!
//! ```sh
//! cargo run --release --example sqlite_floor -- bodies
//! ```
//! Argument: `bodies` (each record keeps `bench/payload.json`) or `metadata`.

use std::time::Duration;

use rusqlite::{Connection, params};

const RECORDS: usize = 200_000;
const BATCH: usize = 1_000;
const KEPT: usize = 100_000;
const CHECKPOINT_EVERY: usize = 5_000;

const INSERT: &str = "INSERT INTO events (id, received_at, route, request_id, \
     delivery_id, status, outcome, reason, body_size, duration_ms, headers, body, delivery_key, \
     attempt_at, attempt_status, attempt_duration_ms, attempt_answer, attempt_destination) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";
const PRUNE: &str = "DELETE FROM events WHERE rowid IN \
     (SELECT rowid FROM events WHERE route = 'chatwoot' ORDER BY id LIMIT ?1)";
/// The headers of `bench/run.sh`'s requests, as the log keeps them.
const HEADERS: &str = r#"[["host","127.0.0.1:18082"],["content-type","application/json"],["content-length","2210"],["x-chatwoot-timestamp","<redacted>"],["x-chatwoot-signature","<redacted>"],["x-chatwoot-delivery","0x5581b2c0-1"],["user-agent","rest-client/2.1.0 (linux x86_64) ruby/3.4.4p34"]]"#;

fn main() {
    let bodies = std::env::args().nth(1).is_none_or(|mode| mode == "bodies");
    let body = std::fs::read("bench/payload.json").expect("bench/payload.json");
    let dir = tempfile::tempdir_in("target").expect("a directory under target/");
    let mut connection =
        hookgate::events::open_file(&dir.path().join("hookgate-events.db")).expect("the log");
    let before = this_thread();
    let mut written = 0;
    while written < RECORDS {
        insert_batch(&mut connection, written, bodies.then_some(&body[..]));
        written += BATCH;
        if written > KEPT {
            connection.execute(PRUNE, [BATCH as i64]).expect("a prune");
        }
        if written % CHECKPOINT_EVERY == 0 {
            let checkpoint = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            checkpoint.expect("a checkpoint");
        }
    }
    let used = this_thread();
    let per_record = |d: Duration| d.as_secs_f64() * 1e6 / RECORDS as f64;
    println!(
        "{} {RECORDS} records, {KEPT} kept: per record {:.2} us user + {:.2} us system, {:.0} bytes written",
        if bodies { "bodies" } else { "metadata" },
        per_record(used.user.saturating_sub(before.user)),
        per_record(used.system.saturating_sub(before.system)),
        (used.written - before.written) as f64 / RECORDS as f64,
    );
}

fn insert_batch(connection: &mut Connection, first: usize, body: Option<&[u8]>) {
    let transaction = connection.transaction().expect("a transaction");
    {
        let mut insert = transaction.prepare_cached(INSERT).expect("the insert");
        for n in first..first + BATCH {
            let at = 1_764_800_000_000i64 + n as i64;
            insert
                .execute(params![
                    uuid::Uuid::now_v7().to_string(),
                    at,
                    "chatwoot",
                    uuid::Uuid::new_v4().to_string(),
                    format!("0x5581b2c0-{n}"),
                    200,
                    "forwarded",
                    None::<String>,
                    body.map_or(0, <[u8]>::len) as i64,
                    1,
                    // As the gateway records them: headers only where bodies are kept.
                    body.map(|_| HEADERS),
                    body,
                    (n as i64).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64),
                    at,
                    200,
                    1,
                    "{\"ok\":true}",
                    "default",
                ])
                .expect("an insert");
        }
    }
    transaction.commit().expect("a commit");
}

/// This thread's CPU time and the bytes it handed to `write`.
struct Used {
    user: Duration,
    system: Duration,
    written: u64,
}

fn this_thread() -> Used {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the name's closing parenthesis; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Clock ticks, as /proc counts CPU time (USER_HZ is 100 on Linux).
    let ticks = |i: usize| {
        let n = fields
            .get(i)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0);
        Duration::from_millis(n * 10)
    };
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap_or_default();
    let written = io
        .lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Used {
        user: ticks(11),
        system: ticks(12),
        written,
    }
}
