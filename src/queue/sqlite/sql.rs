//! The SQLite file: its schema and every statement run on it.
//!
//! One table, `events`, holds every stored event with its state (`pending`,
//! `delivered` while kept for `retention`, `dead`); triggers keep `counts`
//! (events per route and state) exact for any writer, the `hookgate queue`
//! command included, so the ingest bound costs one indexed read. Times are
//! unix milliseconds.
//!
//! States are bound as [`EventState`] and read back as one, except inside a
//! statement's own text (`state = 'pending'`): a partial index is used only
//! when the query names its condition literally.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::queue::state::EventState;

/// The schema version in `PRAGMA user_version`.
const VERSION: i64 = 3;

/// Tables, indexes and the triggers that keep `counts` exact.
const SCHEMA: &str = include_str!("schema.sql");

/// Version 3 makes an event id unique per queue, not in the whole file, so
/// that one event can wait in several destinations' queues. SQLite cannot
/// drop a column's `UNIQUE`: the old table is moved aside with its indexes
/// and triggers dropped, [`SCHEMA`] makes the new one, and the rows are
/// copied back ([`V3_COPY`]).
const V3_ASIDE: &str = "ALTER TABLE events RENAME TO events_v2;
    DROP TRIGGER IF EXISTS count_insert;
    DROP TRIGGER IF EXISTS count_delete;
    DROP TRIGGER IF EXISTS count_state;
    DROP INDEX IF EXISTS events_in_order;
    DROP INDEX IF EXISTS events_retrying;
    DROP INDEX IF EXISTS events_by_due_time;";

/// The rows back into the new table; `counts` made again from them (the
/// copy fired the insert trigger).
const V3_COPY: &str = "INSERT INTO events (seq, id, route, state, received_at, \
    next_attempt_at, attempts, last_error, finished_at, request_id, headers, body)
    SELECT seq, id, route, state, received_at, next_attempt_at, attempts, last_error, \
    finished_at, request_id, headers, body FROM events_v2;
    DROP TABLE events_v2;
    DELETE FROM counts;
    INSERT INTO counts SELECT route, state, count(*) FROM events GROUP BY route, state;";

/// Opens (creating if needed) the file with WAL and a full sync at every
/// commit: what `hookgate queue` and the reading connection use. The
/// gateway's writing connection is [`connect_writer`].
pub fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "full")?;
    // Checkpoint the WAL into the database every ~16 MB instead of every
    // 4 MB (fewer copy-and-sync rounds under load). A page cache of 2 MB per
    // connection: 8 MB measured no faster (bench/) and cost 7 MB of RSS.
    conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
    conn.pragma_update(None, "cache_size", -2048)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "store schema version {version} is newer than this hookgate ({VERSION})"
        )));
    }
    if version < VERSION {
        upgrade(&conn)?;
    }
    Ok(conn)
}

/// Brings the file to [`VERSION`] in one transaction, taken before the
/// version is read again: another process opening the file at the same
/// time waits, then finds nothing to do.
fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let upgraded = (|| {
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version >= VERSION {
            return Ok(());
        }
        let has_events: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |row| row.get(0),
        )?;
        let copy = has_events && version < 3;
        if copy {
            conn.execute_batch(V3_ASIDE)?;
        }
        conn.execute_batch(SCHEMA)?;
        if copy {
            conn.execute_batch(V3_COPY)?;
        }
        conn.pragma_update(None, "user_version", VERSION)
    })();
    match upgraded {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// Opens the file for the writing thread, whose commits do not sync: the
/// syncer thread syncs the WAL after each commit, before anyone is answered.
pub fn connect_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = connect(path)?;
    conn.pragma_update(None, "synchronous", "normal")?;
    Ok(conn)
}

/// The WAL file of `conn`'s database, which [`connect`] has made exist,
/// opened for syncing. Named after the file SQLite opened (symlinks
/// resolved), not after the configured path.
pub fn open_wal(conn: &Connection) -> std::io::Result<std::fs::File> {
    let database = conn
        .path()
        .filter(|path| !path.is_empty())
        .ok_or_else(|| std::io::Error::other("the store has no file"))?;
    std::fs::File::open(format!("{database}-wal"))
}

/// An event as written at ingest.
#[derive(Debug)]
pub struct Row<'a> {
    pub id: &'a str,
    pub route: &'a str,
    pub received_at: i64,
    pub request_id: &'a str,
    pub headers: &'a [u8],
    pub body: &'a [u8],
}

/// Pending plus dead events of `route`: what `max_queued` bounds.
pub fn undelivered(conn: &Connection, route: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT COALESCE(SUM(n), 0) FROM counts WHERE route = ?1 AND state IN ('pending', 'dead')",
    )?
    .query_row([route], |row| row.get::<_, i64>(0))
    .map(|n| n.max(0) as u64)
}

/// Inserts `row` as pending, due at once.
pub fn insert(conn: &Connection, row: &Row) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (id, route, state, received_at, next_attempt_at, request_id, headers, \
         body) VALUES (?1, ?2, 'pending', ?3, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.id,
        row.route,
        row.received_at,
        row.request_id,
        row.headers,
        row.body
    ])?;
    Ok(())
}

/// A pending event read back for delivery.
#[derive(Debug)]
pub struct DueRow {
    pub seq: i64,
    pub id: String,
    pub attempts: u32,
    pub request_id: String,
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

/// Pending events of a route due at a time, oldest stored first.
///
/// `INDEXED BY`: left to itself the planner takes the due-time index for the
/// range and sorts every due row, bodies included, by `seq`: with a backlog
/// of 50,000 events that cost a core and slowed delivery to 60 events/s.
/// In `seq` order the rows are read only up to `limit`.
///
/// No `LIMIT ?`: SQLite compiles a statement again whenever a bound `LIMIT`
/// changes, and this one runs for every few deliveries. Rows come from the
/// index in order, so stepping through only `limit` of them reads no more.
pub(super) const DUE: &str = "SELECT seq, id, attempts, request_id, headers, body \
    FROM events INDEXED BY events_in_order \
    WHERE route = ?1 AND state = 'pending' AND next_attempt_at <= ?2 ORDER BY seq";

/// Up to `limit` pending events of `route` due at `now` and not in `skip`,
/// oldest stored first. A skipped row's body is not read.
pub fn due(
    conn: &Connection,
    route: &str,
    now: i64,
    limit: usize,
    skip: &HashSet<i64>,
) -> rusqlite::Result<Vec<DueRow>> {
    let mut statement = conn.prepare_cached(DUE)?;
    let mut rows = statement.query(params![route, now])?;
    let mut due = Vec::with_capacity(limit);
    while due.len() < limit {
        let Some(row) = rows.next()? else { break };
        let seq = row.get(0)?;
        if skip.contains(&seq) {
            continue;
        }
        due.push(DueRow {
            seq,
            id: row.get(1)?,
            attempts: row.get(2)?,
            request_id: row.get(3)?,
            headers: row.get(4)?,
            body: row.get(5)?,
        });
    }
    Ok(due)
}

/// Events of a route waiting for a retry, soonest first (`events_retrying`),
/// without a `LIMIT ?` for the same reason as [`DUE`].
pub(super) const NEXT_RETRIES: &str = "SELECT seq, next_attempt_at FROM events \
    WHERE route = ?1 AND state = 'pending' AND attempts > 0 ORDER BY next_attempt_at";

/// The `(seq, next_attempt_at)` of up to `limit` events of `route` waiting
/// for a retry, soonest first.
pub fn next_retries(
    conn: &Connection,
    route: &str,
    limit: usize,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut statement = conn.prepare_cached(NEXT_RETRIES)?;
    let rows = statement.query_map(params![route], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.take(limit).collect()
}

/// Records a delivery: kept as `delivered` when `keep`, deleted otherwise.
pub fn delivered(conn: &Connection, seq: i64, now: i64, keep: bool) -> rusqlite::Result<()> {
    if keep {
        conn.prepare_cached(
            "UPDATE events SET state = 'delivered', attempts = attempts + 1, last_error = NULL, \
             finished_at = ?2 WHERE seq = ?1 AND state = 'pending'",
        )?
        .execute(params![seq, now])?;
    } else {
        conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?
            .execute([seq])?;
    }
    Ok(())
}

/// Records a failed attempt; the event is due again at `next`.
pub fn failed(conn: &Connection, seq: i64, error: &str, next: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE events SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 \
         WHERE seq = ?1 AND state = 'pending'",
    )?
    .execute(params![seq, error, next])?;
    Ok(())
}

/// Records a failed attempt not counted against the event (its
/// destination's breaker is open); the event is due again at `next`.
pub fn deferred(conn: &Connection, seq: i64, error: &str, next: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE events SET last_error = ?2, next_attempt_at = ?3 \
         WHERE seq = ?1 AND state = 'pending'",
    )?
    .execute(params![seq, error, next])?;
    Ok(())
}

/// Records the last failed attempt: the event is a dead letter.
pub fn dead(conn: &Connection, seq: i64, error: &str, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE events SET state = 'dead', attempts = attempts + 1, last_error = ?2, \
         finished_at = ?3 WHERE seq = ?1 AND state = 'pending'",
    )?
    .execute(params![seq, error, now])?;
    Ok(())
}

/// Dead letters of `route` (only `id` when given) back to pending, due at
/// `now` with a fresh schedule; returns how many.
pub fn replay(conn: &Connection, route: &str, id: Option<&str>, now: i64) -> rusqlite::Result<u64> {
    let changed = conn
        .prepare_cached(
            "UPDATE events SET state = 'pending', attempts = 0, last_error = NULL, \
             next_attempt_at = ?3, finished_at = NULL \
             WHERE route = ?1 AND state = 'dead' AND (?2 IS NULL OR id = ?2)",
        )?
        .execute(params![route, id, now])?;
    Ok(changed as u64)
}

/// Deletes events of `route` in `states` (only `id` when given); returns how many.
pub fn purge(
    conn: &Connection,
    route: &str,
    states: &[EventState],
    id: Option<&str>,
) -> rusqlite::Result<u64> {
    let mut changed = 0;
    for state in states {
        changed += conn
            .prepare_cached(
                "DELETE FROM events WHERE route = ?1 AND state = ?2 AND (?3 IS NULL OR id = ?3)",
            )?
            .execute(params![route, state, id])?;
    }
    Ok(changed as u64)
}

/// Deletes delivered events of `route` finished at or before `cutoff`.
pub fn sweep(conn: &Connection, route: &str, cutoff: i64) -> rusqlite::Result<u64> {
    let changed = conn
        .prepare_cached(
            "DELETE FROM events WHERE route = ?1 AND state = 'delivered' AND finished_at <= ?2",
        )?
        .execute(params![route, cutoff])?;
    Ok(changed as u64)
}

/// Events of `route` per state.
pub fn counts(conn: &Connection, route: &str) -> rusqlite::Result<Vec<(EventState, u64)>> {
    let mut statement = conn.prepare_cached("SELECT state, n FROM counts WHERE route = ?1")?;
    let rows = statement.query_map([route], |row| {
        Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as u64))
    })?;
    rows.collect()
}

/// When the oldest pending event of `route` was received.
pub fn oldest_pending(conn: &Connection, route: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT received_at FROM events WHERE route = ?1 AND state = 'pending' ORDER BY seq LIMIT 1",
    )?
    .query_row([route], |row| row.get(0))
    .optional()
}

/// One line of a listing.
#[derive(Debug)]
pub struct SummaryRow {
    pub id: String,
    pub state: EventState,
    pub attempts: u32,
    pub received_at: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// Up to `limit` events of `route`, oldest first; only `state` when given.
pub fn list(
    conn: &Connection,
    route: &str,
    state: Option<EventState>,
    limit: usize,
) -> rusqlite::Result<Vec<SummaryRow>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, state, attempts, received_at, next_attempt_at, last_error FROM events \
         WHERE route = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY seq LIMIT ?3",
    )?;
    let rows = statement.query_map(params![route, state, limit as i64], |row| {
        Ok(SummaryRow {
            id: row.get(0)?,
            state: row.get(1)?,
            attempts: row.get(2)?,
            received_at: row.get(3)?,
            next_attempt_at: row.get(4)?,
            last_error: row.get(5)?,
        })
    })?;
    rows.collect()
}
