//! Keeps each route's log within its `retention` and `max_events`, a little
//! at a time, so that pruning never stalls the writer.
//!
//! At a sustained rate the log deletes as many records as it inserts. Done
//! in one sweep every few seconds, that delete took long enough for the
//! channel to fill and records to be dropped; so each route's cut-off id is
//! worked out once a second, and every written batch is followed by the
//! delete of at most twice as many expired records. When the gateway is
//! quiet, bigger steps catch up.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, params};

use super::query::routes_in_log;
use super::record::unix_ms;
use crate::config::{DEFAULT_MAX_EVENTS, DEFAULT_RETENTION};
use crate::routes::LogSettings;

/// How often each route's cut-off id is worked out again.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The attempts, then the records, of a route's oldest expired records:
/// ?1 the route, ?2 its cut-off id, ?3 how many.
const DELETE_ATTEMPTS: &str = "DELETE FROM attempts WHERE event_id IN \
     (SELECT id FROM events WHERE route = ?1 AND id < ?2 ORDER BY id LIMIT ?3)";
/// Whether an attempt's event id lies between a route's oldest record and
/// its cut-off: ?1 the route, ?2 its cut-off id. Two steps, one on each
/// index; it may find another route's attempt, never miss one of this route's.
const EXPIRED_HAVE_ATTEMPTS: &str = "SELECT EXISTS (SELECT 1 FROM attempts \
     WHERE event_id >= (SELECT min(id) FROM events WHERE route = ?1) AND event_id < ?2)";
/// Rows are deleted by rowid: ids have no index of their own (schema.sql).
const DELETE_EVENTS: &str = "DELETE FROM events WHERE rowid IN \
     (SELECT rowid FROM events WHERE route = ?1 AND id < ?2 ORDER BY id LIMIT ?3)";

/// The attempts, then the records, of the log's oldest records, whatever
/// their route: ?1 how many. Oldest by rowid, the order records were
/// written in (ids alone have no index to order by).
const DELETE_OLDEST_ATTEMPTS: &str = "DELETE FROM attempts WHERE event_id IN \
     (SELECT id FROM events ORDER BY rowid LIMIT ?1)";
const DELETE_OLDEST_EVENTS: &str =
    "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY rowid LIMIT ?1)";

/// A route's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// `retention`, in milliseconds.
    pub retention_ms: u64,
    /// `max_events`.
    pub max_events: u64,
}

impl Bounds {
    /// The bounds `log` sets.
    pub fn of(log: &LogSettings) -> Self {
        Self {
            retention_ms: log.retention.as_millis() as u64,
            max_events: log.max_events,
        }
    }
}

/// The bounds of records whose route is no longer in the config: a
/// route's defaults.
const UNCONFIGURED: Bounds = Bounds {
    retention_ms: DEFAULT_RETENTION.as_millis() as u64,
    max_events: DEFAULT_MAX_EVENTS,
};

/// Each configured route's bounds, asked for once a second: the config of
/// the moment, so a reload's bounds apply, and a route that has had no
/// request since a restart (or logs nothing now) is pruned all the same.
pub type Configured = Box<dyn Fn() -> HashMap<String, Bounds> + Send>;

/// What the log keeps: each route's bounds, and the whole file's.
pub struct Limits {
    /// Each configured route's bounds.
    pub routes: Configured,
    /// The most bytes the file may use (`[store] log_max_bytes`): past it
    /// the oldest records go, whatever their route, so that routes' bounds
    /// set too wide (or bodies bigger than planned) cannot fill the disk.
    pub max_bytes: u64,
}

/// Each route's bounds and the id below which its records go.
pub struct Pruner {
    configured: Configured,
    max_bytes: u64,
    /// Whether the file uses more than `max_bytes`, as of the last refresh.
    over_size: bool,
    cutoffs: HashMap<String, String>,
    refreshed_at: Option<Instant>,
}

impl Pruner {
    /// A pruner of the routes in the log, within `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            configured: limits.routes,
            max_bytes: limits.max_bytes,
            over_size: false,
            cutoffs: HashMap::new(),
            refreshed_at: None,
        }
    }

    /// Works out each route's cut-off again, if it is time, and sweeps the
    /// attempts whose events are gone from every route. The routes are
    /// those configured and those with records in the log, whose route
    /// may have been removed or renamed since ([`UNCONFIGURED`]).
    pub fn refresh(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        if self
            .refreshed_at
            .is_some_and(|at| at.elapsed() < REFRESH_EVERY)
        {
            return Ok(());
        }
        self.refreshed_at = Some(Instant::now());
        let now = unix_ms(SystemTime::now());
        let mut bounds = (self.configured)();
        for route in routes_in_log(connection)? {
            bounds.entry(route).or_insert(UNCONFIGURED);
        }
        self.cutoffs.clear();
        for (route, bounds) in bounds {
            let cutoff = cutoff(connection, &route, now, bounds)?;
            self.cutoffs.insert(route, cutoff);
        }
        if let Some(lowest) = self.cutoffs.values().min() {
            // Below every route's cut-off, an attempt's event is gone or was
            // never logged (dropped): no route's prune would find it.
            connection
                .prepare_cached("DELETE FROM attempts WHERE event_id < ?1")?
                .execute(params![lowest])?;
        }
        self.check_size(connection)
    }

    /// Notes whether the file is past `max_bytes`, saying so when that changes.
    fn check_size(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        let used = used_bytes(connection)?;
        let over_size = used > self.max_bytes;
        if over_size && !self.over_size {
            tracing::warn!(
                used,
                log_max_bytes = self.max_bytes,
                "the event log is full: its oldest records go, whatever their route"
            );
        } else if !over_size && self.over_size {
            tracing::info!(used, "the event log is within log_max_bytes again");
        }
        self.over_size = over_size;
        Ok(())
    }

    /// Deletes at most `limit` expired records of each route, with their
    /// attempts.
    pub fn prune_some(&self, connection: &mut Connection, limit: usize) -> rusqlite::Result<()> {
        let transaction = connection.transaction()?;
        for (route, cutoff) in &self.cutoffs {
            // A route with no attempt among its expired records' ids skips
            // a second walk over them: a sync route's one call is in its
            // record's row; only queued routes and replays write attempts.
            let has_attempts: bool = transaction
                .prepare_cached(EXPIRED_HAVE_ATTEMPTS)?
                .query_row(params![route, cutoff], |row| row.get(0))?;
            let deletes: &[&str] = if has_attempts {
                &[DELETE_ATTEMPTS, DELETE_EVENTS]
            } else {
                &[DELETE_EVENTS]
            };
            for delete in deletes {
                transaction.prepare_cached(delete)?.execute(params![
                    route,
                    cutoff,
                    limit as i64
                ])?;
            }
        }
        if self.over_size {
            for delete in [DELETE_OLDEST_ATTEMPTS, DELETE_OLDEST_EVENTS] {
                transaction
                    .prepare_cached(delete)?
                    .execute(params![limit as i64])?;
            }
        }
        transaction.commit()
    }
}

/// The bytes the file's pages in use take (a deleted record's pages are
/// free, and reused, though the file does not shrink).
fn used_bytes(connection: &Connection) -> rusqlite::Result<u64> {
    let pragma = |name: &str| -> rusqlite::Result<u64> {
        connection.pragma_query_value(None, name, |row| row.get::<_, i64>(0).map(|n| n as u64))
    };
    let in_use = pragma("page_count")?.saturating_sub(pragma("freelist_count")?);
    Ok(in_use * pragma("page_size")?)
}

/// The id below which `route`'s records are older than its retention or
/// past its newest `max_events`.
///
/// Ids are UUIDv7, ordered by time, so both bounds become one id bound and
/// each delete is a range on an index, never a scan of the table (whose
/// rows hold the bodies).
fn cutoff(
    connection: &Connection,
    route: &str,
    now_ms: i64,
    bounds: Bounds,
) -> rusqlite::Result<String> {
    let oldest_kept: Option<String> = connection
        .prepare_cached(
            "SELECT id FROM events WHERE route = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2",
        )?
        .query_row(params![route, bounds.max_events as i64 - 1], |row| {
            row.get(0)
        })
        .ok();
    let by_age = first_id_at(now_ms - bounds.retention_ms as i64);
    Ok(match oldest_kept {
        Some(by_count) if by_count > by_age => by_count,
        _ => by_age,
    })
}

/// The smallest UUIDv7 (as text) of the millisecond `ms`: every id made at
/// or after `ms` sorts at or after it.
pub fn first_id_at(ms: i64) -> String {
    let ms = ms.max(0) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `routes`, each keeping a minute's records, in a file without a size bound.
    fn configured(routes: &[&str]) -> Limits {
        let routes: Vec<String> = routes.iter().map(|r| r.to_string()).collect();
        let bounds = Bounds {
            retention_ms: 60_000,
            max_events: 1_000,
        };
        Limits {
            routes: Box::new(move || routes.iter().map(|r| (r.clone(), bounds)).collect()),
            max_bytes: u64::MAX,
        }
    }

    /// A log with `n` records of `route` made `age_ms` ago, each with an attempt.
    fn log_with(connection: &Connection, route: &str, n: usize, age_ms: i64) {
        let at = unix_ms(SystemTime::now()) - age_ms;
        for i in 0..n {
            let id = format!("{}-{route}-{i:06}", first_id_at(at));
            connection
                .execute(
                    "INSERT INTO events (id, received_at, route, request_id, status, outcome, \
                     body_size, duration_ms) VALUES (?1, ?2, ?3, 'r', 200, 'forwarded', 0, 0)",
                    params![id, at, route],
                )
                .unwrap();
            connection
                .execute(
                    "INSERT INTO attempts (event_id, route, at, duration_ms, answer) \
                     VALUES (?1, ?2, ?3, 0, '')",
                    params![id, route, at],
                )
                .unwrap();
        }
    }

    fn count(connection: &Connection, table: &str, route: &str) -> i64 {
        connection
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE route = ?1"),
                [route],
                |row| row.get(0),
            )
            .unwrap()
    }

    #[test]
    fn expired_records_go_a_step_at_a_time_with_their_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = super::super::writer::open(&dir.path().join("log.db")).unwrap();
        log_with(&connection, "old", 30, 3_600_000);
        log_with(&connection, "kept", 30, 0);
        let mut pruner = Pruner::new(configured(&["old", "kept"]));
        pruner.refresh(&connection).unwrap();

        pruner.prune_some(&mut connection, 10).unwrap();
        assert_eq!(count(&connection, "events", "old"), 20);

        pruner.prune_some(&mut connection, 100).unwrap();
        assert_eq!(count(&connection, "events", "old"), 0);
        assert_eq!(count(&connection, "attempts", "old"), 0);
        assert_eq!(count(&connection, "events", "kept"), 30);
        assert_eq!(count(&connection, "attempts", "kept"), 30);
    }

    #[test]
    fn attempts_whose_event_was_never_logged_are_swept_past_every_cutoff() {
        let dir = tempfile::tempdir().unwrap();
        let connection = super::super::writer::open(&dir.path().join("log.db")).unwrap();
        log_with(&connection, "old", 5, 3_600_000);
        connection.execute("DELETE FROM events", []).unwrap();
        let mut pruner = Pruner::new(configured(&["other"]));
        pruner.refresh(&connection).unwrap();
        assert_eq!(count(&connection, "attempts", "old"), 0);
    }

    #[test]
    fn a_route_gone_from_the_config_keeps_its_records_for_the_default_retention_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = super::super::writer::open(&dir.path().join("log.db")).unwrap();
        let past_default = UNCONFIGURED.retention_ms as i64 + 3_600_000;
        log_with(&connection, "renamed", 5, past_default);
        log_with(&connection, "removed", 5, 3_600_000);
        let mut pruner = Pruner::new(configured(&[]));
        pruner.refresh(&connection).unwrap();

        pruner.prune_some(&mut connection, 100).unwrap();
        assert_eq!(count(&connection, "events", "renamed"), 0);
        assert_eq!(count(&connection, "events", "removed"), 5);
    }

    #[test]
    fn past_log_max_bytes_the_oldest_records_go_whatever_their_route() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = super::super::writer::open(&dir.path().join("log.db")).unwrap();
        let body = vec![b'x'; 32 * 1024];
        let at = unix_ms(SystemTime::now());
        for i in 0..64 {
            let route = if i % 2 == 0 { "busy" } else { "quiet" };
            connection
                .execute(
                    "INSERT INTO events (id, received_at, route, request_id, status, outcome, \
                     body_size, duration_ms, body) VALUES (?1, ?2, ?3, 'r', 200, 'forwarded', 0, 0, ?4)",
                    params![format!("{}-{i:06}", first_id_at(at)), at, route, body],
                )
                .unwrap();
        }
        let max_bytes = 1 << 20;
        assert!(used_bytes(&connection).unwrap() > 2 * max_bytes);
        let mut pruner = Pruner::new(Limits {
            max_bytes,
            ..configured(&["busy", "quiet"])
        });

        for _ in 0..64 {
            pruner.refreshed_at = None;
            pruner.refresh(&connection).unwrap();
            pruner.prune_some(&mut connection, 4).unwrap();
        }

        assert!(used_bytes(&connection).unwrap() <= max_bytes);
        let newest: String = connection
            .query_row("SELECT max(id) FROM events", [], |row| row.get(0))
            .unwrap();
        assert!(newest.ends_with("-000063"), "{newest}");
        let kept = count(&connection, "events", "busy") + count(&connection, "events", "quiet");
        assert!((16..32).contains(&kept), "{kept} of 64 kept");
    }

    #[test]
    fn the_first_id_of_a_millisecond_sorts_between_the_ids_around_it() {
        let before = uuid::Uuid::now_v7().to_string();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let bound = first_id_at(unix_ms(SystemTime::now()) - 1);
        let after = uuid::Uuid::now_v7().to_string();
        assert!(before < bound && bound < after, "{before} {bound} {after}");
    }
}
