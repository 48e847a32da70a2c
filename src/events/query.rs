//! Reading the log: a filtered, paged list, and one record with its attempts.
//! Used by the admin API and `hookgate events`, each on a connection of its own.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Row, params, params_from_iter};
use sha2::{Digest, Sha256};

use super::{LoggedHeader, upgrade, writer};

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this route's.
    pub route: Option<String>,
    /// Only this outcome (`downstream_error`, `unauthorized`, ...).
    pub outcome: Option<String>,
    /// Only answers of this status class (`5` for 5xx).
    pub status_class: Option<u16>,
    /// Received at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Received before (Unix ms).
    pub until_ms: Option<i64>,
    /// The source's delivery id.
    pub delivery_id: Option<String>,
    /// Text in the kept body.
    pub text: Option<String>,
    /// The page after this id (the previous page's `next`).
    pub before: Option<String>,
    /// Only records after this id; with `oldest_first`, the previous page's `next`.
    pub after: Option<String>,
    /// Oldest first, rather than newest first: what a replay takes.
    pub oldest_first: bool,
    /// At most this many.
    pub limit: usize,
}

impl Filter {
    /// Whether a record filter is set (outcome, status, time, delivery id):
    /// what a replay by filter needs, so that none replays a route's whole log.
    pub fn narrows(&self) -> bool {
        self.outcome.is_some()
            || self.status_class.is_some()
            || self.since_ms.is_some()
            || self.until_ms.is_some()
            || self.delivery_id.is_some()
    }
}

/// One record without its headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The event id.
    pub id: String,
    /// Unix ms.
    pub received_at: i64,
    /// The route.
    pub route: String,
    /// The request's id.
    pub request_id: String,
    /// The source's delivery id.
    pub delivery_id: Option<String>,
    /// The answer's status.
    pub status: u16,
    /// The outcome.
    pub outcome: String,
    /// Why it was refused or failed.
    pub reason: Option<String>,
    /// The body's size.
    pub body_size: u64,
    /// The answer's time.
    pub duration_ms: u64,
    /// Whether the verified body was kept (it can be replayed).
    pub body_kept: bool,
    /// When the event was delivered (Unix ms): see [`delivered_at`]. An
    /// event that failed and was replayed since shows it here, while
    /// `status` and `outcome` stay what the source was answered.
    pub delivered_at: Option<i64>,
}

/// A page of a list, newest first (or oldest first, as its filter asks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The records selected.
    pub records: Vec<Summary>,
    /// Where the next page starts (its filter's `before`, or `after` oldest
    /// first); `None` on the last. A page may hold fewer than `limit` records and still have a
    /// next one: a list on Redis looks at a bounded number of ids per page.
    pub next: Option<String>,
}

impl Page {
    /// A page cut at `limit` records: a full one continues after its last.
    pub fn of(records: Vec<Summary>, limit: usize) -> Self {
        let next = (records.len() >= limit)
            .then(|| records.last().map(|s| s.id.clone()))
            .flatten();
        Self { records, next }
    }
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Unix ms.
    pub at: i64,
    /// The downstream's status, if it answered.
    pub status: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// The first KiB of the answer, or the error.
    pub answer: String,
    /// The destination called; `None` in logs older than destinations.
    pub destination: Option<String>,
}

/// One record in full.
#[derive(Debug, Clone)]
pub struct Record {
    /// What a list shows.
    pub summary: Summary,
    /// The headers as received, secrets redacted.
    pub headers: Option<Vec<LoggedHeader>>,
    /// The verified body, when kept.
    pub body: Option<Vec<u8>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

/// The log at `path`, for reading; `None` when there is none yet. A log
/// written by a version without the columns read here (the CLI of a new
/// install, before the gateway restarts) is upgraded first, as the
/// gateway would; one of a newer hookgate is refused.
pub fn open(path: &Path) -> rusqlite::Result<Option<Connection>> {
    if !path.exists() {
        return Ok(None);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    if upgrade::is_readable(&connection)? {
        return Ok(Some(connection));
    }
    drop(connection);
    drop(writer::open(path)?);
    Connection::open_with_flags(path, flags).map(Some)
}

/// What a list reads of each record ([`summary`]'s columns): no headers,
/// no body.
const SUMMARY_COLUMNS: &str = "id, received_at, route, request_id, delivery_id, status, \
     outcome, reason, body_size, duration_ms, body IS NOT NULL";

/// The records `filter` selects, newest first (or oldest first).
///
/// Ids have no index of their own, only the route index (schema.sql): a
/// list across routes is each route's page, read from that index, merged.
/// Once `limit` records are in hand, the next route's are read only up to
/// the last of them (as far as one walk over every route's ids would go).
pub fn list(connection: &Connection, filter: &Filter) -> rusqlite::Result<Page> {
    let routes = match &filter.route {
        Some(route) => vec![route.clone()],
        None => routes_in_log(connection)?,
    };
    let mut records: Vec<Summary> = Vec::new();
    for route in &routes {
        let full = filter
            .limit
            .checked_sub(1)
            .and_then(|last| records.get(last));
        let bounded = bounded_by(filter, full);
        let (sql, values) = select(route, &bounded);
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), summary)?;
        for row in rows {
            records.push(row?);
        }
        if filter.oldest_first {
            records.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        } else {
            records.sort_unstable_by(|a, b| b.id.cmp(&a.id));
        }
        records.truncate(filter.limit);
    }
    for record in &mut records {
        record.delivered_at = delivered_at(&attempts(connection, &record.route, &record.id)?);
    }
    Ok(Page::of(records, filter.limit))
}

/// `filter`, narrowed to the ids that come before `last` in its order:
/// past the last of a full page, another route's records cannot be on it.
fn bounded_by(filter: &Filter, last: Option<&Summary>) -> Filter {
    let mut bounded = filter.clone();
    let Some(last) = last else {
        return bounded;
    };
    let (bound, tighter) = if filter.oldest_first {
        (&mut bounded.before, std::cmp::Ordering::Less)
    } else {
        (&mut bounded.after, std::cmp::Ordering::Greater)
    };
    if bound.as_ref().is_none_or(|b| last.id.cmp(b) == tighter) {
        *bound = Some(last.id.clone());
    }
    bounded
}

/// The query of [`list`] for one route's records, and its values.
fn select(route: &str, filter: &Filter) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: Value| {
        values.push(value);
        condition.replace('?', &format!("?{}", values.len()))
    };
    // What the route index (route, id, delivery_key) answers without a row.
    let on_route = bind("route = ?", route.to_string().into());
    let mut range = Vec::new();
    if let Some(before) = &filter.before {
        range.push(bind("id < ?", before.clone().into()));
    }
    if let Some(after) = &filter.after {
        range.push(bind("id > ?", after.clone().into()));
    }
    if let Some(since) = filter.since_ms {
        // An id is made when its request arrives or later: a range on the
        // index, where `received_at` alone would read every older row.
        range.push(bind("id >= ?", super::first_id_at(since).into()));
    }
    let mut conditions = vec![on_route.clone()];
    if let Some(outcome) = &filter.outcome {
        conditions.push(bind("outcome = ?", outcome.clone().into()));
    }
    if let Some(class) = filter.status_class {
        conditions.push(bind("status / 100 = ?", i64::from(class).into()));
    }
    if let Some(since) = filter.since_ms {
        conditions.push(bind("received_at >= ?", since.into()));
    }
    if let Some(until) = filter.until_ms {
        conditions.push(bind("received_at < ?", until.into()));
    }
    if let Some(text) = &filter.text {
        conditions.push(bind(
            "instr(CAST(body AS TEXT), ?) > 0",
            text.clone().into(),
        ));
    }
    if let Some(id) = &filter.delivery_id {
        let mut indexed = vec![on_route];
        indexed.extend(range);
        indexed.push(bind("delivery_key = ?", delivery_key(id).into()));
        conditions.push(bind("delivery_id = ?", id.clone().into()));
        // A delivery's few ids from a scan of the index, then their rows by
        // route and id. In one query SQLite walked every row newest first
        // instead.
        conditions.push(format!(
            "id IN (SELECT id FROM events WHERE {})",
            indexed.join(" AND ")
        ));
    } else {
        conditions.extend(range);
    }
    let order = if filter.oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM events WHERE {} ORDER BY id {order} LIMIT {}",
        conditions.join(" AND "),
        filter.limit
    );
    (sql, values)
}

/// The record `id`, with its headers, body and attempts: looked for in
/// each route's part of the route index (ids have no index of their own).
pub fn get(connection: &Connection, id: &str) -> rusqlite::Result<Option<Record>> {
    // The summary, then the headers and the body.
    let sql =
        format!("SELECT {SUMMARY_COLUMNS}, headers, body FROM events WHERE route = ?1 AND id = ?2");
    let mut statement = connection.prepare_cached(&sql)?;
    for route in routes_in_log(connection)? {
        let found = statement.query_row(params![route, id], |row| {
            let headers: Option<String> = row.get(11)?;
            Ok((summary(row)?, headers, row.get::<_, Option<Vec<u8>>>(12)?))
        });
        let (summary, headers, body) = match found {
            Ok(found) => found,
            Err(rusqlite::Error::QueryReturnedNoRows) => continue,
            Err(error) => return Err(error),
        };
        let headers = headers.and_then(|text| LoggedHeader::parse_all(text.as_bytes()));
        let attempts = attempts(connection, &route, id)?;
        return Ok(Some(Record {
            summary: Summary {
                delivered_at: delivered_at(&attempts),
                ..summary
            },
            headers,
            body,
            attempts,
        }));
    }
    Ok(None)
}

fn attempts(connection: &Connection, route: &str, id: &str) -> rusqlite::Result<Vec<Attempt>> {
    let mut statement = connection.prepare_cached(
        "SELECT attempt_at, attempt_status, attempt_duration_ms, attempt_answer, \
         attempt_destination FROM events WHERE route = ?2 AND id = ?1 AND attempt_at IS NOT NULL \
         UNION ALL \
         SELECT at, status, duration_ms, answer, destination FROM attempts WHERE event_id = ?1 \
         ORDER BY 1",
    )?;
    let rows = statement.query_map(params![id, route], |row| {
        Ok(Attempt {
            at: row.get(0)?,
            status: row.get(1)?,
            duration_ms: row.get::<_, i64>(2)? as u64,
            answer: row.get(3)?,
            destination: row.get(4)?,
        })
    })?;
    rows.collect()
}

/// The routes with records in the log, in order: one step of the route
/// index per route, never a scan of its records.
pub(super) fn routes_in_log(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut next = connection.prepare_cached("SELECT min(route) FROM events WHERE route > ?1")?;
    let mut routes: Vec<String> = Vec::new();
    loop {
        let after = routes.last().map_or("", String::as_str);
        match next.query_row(params![after], |row| row.get::<_, Option<String>>(0))? {
            Some(route) => routes.push(route),
            None => return Ok(routes),
        }
    }
}

fn summary(row: &Row<'_>) -> rusqlite::Result<Summary> {
    Ok(Summary {
        id: row.get(0)?,
        received_at: row.get(1)?,
        route: row.get(2)?,
        request_id: row.get(3)?,
        delivery_id: row.get(4)?,
        status: row.get(5)?,
        outcome: row.get(6)?,
        reason: row.get(7)?,
        body_size: row.get::<_, i64>(8)? as u64,
        duration_ms: row.get::<_, i64>(9)? as u64,
        body_kept: row.get(10)?,
        delivered_at: None,
    })
}

impl Attempt {
    /// Whether the destination took the event (answered 2xx).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Each destination's newest attempt (`None`: attempts logged before
/// destinations were).
pub fn newest_attempts(attempts: &[Attempt]) -> HashMap<Option<&str>, &Attempt> {
    let mut newest: HashMap<Option<&str>, &Attempt> = HashMap::new();
    for attempt in attempts {
        let seen = newest
            .entry(attempt.destination.as_deref())
            .or_insert(attempt);
        if seen.at <= attempt.at {
            *seen = attempt;
        }
    }
    newest
}

/// When the event was delivered: once every destination called took it
/// (its newest attempt answered 2xx), the newest of those attempts; `None`
/// while one has not, or none was called. A mirror that took a copy does
/// not make a failed primary's event delivered.
pub fn delivered_at(attempts: &[Attempt]) -> Option<i64> {
    let newest = newest_attempts(attempts);
    let all_delivered = !newest.is_empty() && newest.values().all(|a| a.delivered());
    all_delivered
        .then(|| newest.values().map(|a| a.at).max())
        .flatten()
}

/// What the log indexes a delivery id by: the first 8 bytes of its SHA-256.
pub(super) fn delivery_key(delivery_id: &str) -> i64 {
    let digest = Sha256::digest(delivery_id.as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 8 bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` records in id order, the `i`th of `route_of(i)`, each with
    /// `outcome` (status 500 unless forwarded); their ids.
    fn log_with(
        connection: &Connection,
        n: usize,
        route_of: impl Fn(usize) -> &'static str,
        outcome: &str,
    ) -> Vec<String> {
        let status = if outcome == "forwarded" { 200 } else { 500 };
        let ids: Vec<String> = (1..=n)
            .map(|i| format!("0193a6f2-0000-7000-8000-{i:012}"))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            connection
                .execute(
                    "INSERT INTO events (id, received_at, route, request_id, status, outcome, \
                     body_size, duration_ms) VALUES (?1, 0, ?2, 'r', ?3, ?4, 0, 0)",
                    params![id, route_of(i), status, outcome],
                )
                .unwrap();
        }
        ids
    }

    /// What SQLite plans for `filter`'s list, a line per step.
    fn plan(connection: &Connection, filter: &Filter) -> Vec<String> {
        let (sql, values) = select(filter.route.as_deref().unwrap_or("chatwoot"), filter);
        let mut explain = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let steps = explain
            .query_map(params_from_iter(values), |row| row.get(3))
            .unwrap();
        steps.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn a_search_by_delivery_id_scans_the_route_index_and_reads_only_the_rows_it_finds() {
        let dir = tempfile::tempdir().unwrap();
        let connection = writer::open(&dir.path().join("log.db")).unwrap();
        let by_delivery = Filter {
            delivery_id: Some("a-delivery".into()),
            limit: 50,
            ..Filter::default()
        };
        let paged = Filter {
            before: Some("0193a6f2-0000-7000-8000-000000000001".into()),
            ..by_delivery.clone()
        };
        let narrowed = Filter {
            route: Some("chatwoot".into()),
            before: Some("0193a6f2-0000-7000-8000-000000000001".into()),
            outcome: Some("forwarded".into()),
            ..by_delivery.clone()
        };
        for filter in [by_delivery, paged, narrowed] {
            let steps = plan(&connection, &filter);
            assert!(
                steps
                    .iter()
                    .any(|s| s.contains("COVERING INDEX events_by_route_key")),
                "{steps:?}"
            );
            assert!(
                steps
                    .iter()
                    .all(|s| !s.starts_with("SCAN events") || s.contains("COVERING")),
                "a walk over the rows: {steps:?}"
            );
        }
    }

    #[test]
    fn an_oldest_first_page_starts_after_its_cursor_on_the_route_index_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let connection = writer::open(&dir.path().join("log.db")).unwrap();
        let ids = log_with(&connection, 5, |_| "hook", "downstream_error");
        let from = |after: &str| Filter {
            route: Some("hook".into()),
            outcome: Some("downstream_error".into()),
            after: Some(after.into()),
            oldest_first: true,
            limit: 2,
            ..Filter::default()
        };

        let first = list(&connection, &from(&ids[0])).unwrap();
        let last = list(&connection, &from(&ids[2])).unwrap();

        let listed = |page: &Page| {
            page.records
                .iter()
                .map(|s| s.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(listed(&first), ids[1..3]);
        assert_eq!(first.next.as_ref(), Some(&ids[2]));
        assert_eq!(listed(&last), ids[3..5]);
        let steps = plan(&connection, &from(&ids[0]));
        assert!(
            steps
                .iter()
                .any(|s| s.contains("INDEX events_by_route_key (route=? AND id>?)")),
            "{steps:?}"
        );
        assert!(
            steps.iter().all(|s| !s.contains("TEMP B-TREE")),
            "a sort: {steps:?}"
        );
    }

    #[test]
    fn a_list_across_routes_merges_each_routes_page_and_a_record_is_found_by_id_in_any_route() {
        let dir = tempfile::tempdir().unwrap();
        let connection = writer::open(&dir.path().join("log.db")).unwrap();
        let route_of = |n: usize| ["github", "chatwoot", "stripe"][n % 3];
        let ids = log_with(&connection, 6, route_of, "forwarded");
        let newest = Filter {
            limit: 4,
            ..Filter::default()
        };

        let page = list(&connection, &newest).unwrap();
        let next = list(
            &connection,
            &Filter {
                before: page.next.clone(),
                ..newest.clone()
            },
        )
        .unwrap();

        let listed =
            |page: &Page| -> Vec<String> { page.records.iter().map(|s| s.id.clone()).collect() };
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(listed(&page), newest_first[..4]);
        assert_eq!(listed(&next), newest_first[4..]);
        for (n, id) in ids.iter().enumerate() {
            let record = get(&connection, id).unwrap().expect("found");
            assert_eq!(record.summary.route, route_of(n));
        }
        assert!(
            get(&connection, "0193a6f2-0000-7000-8000-000000000009")
                .unwrap()
                .is_none()
        );
        let steps: Vec<String> = connection
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT {SUMMARY_COLUMNS}, headers, body FROM events \
                 WHERE route = ?1 AND id = ?2"
            ))
            .unwrap()
            .query_map(params!["github", &ids[0]], |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            steps
                .iter()
                .any(|s| s.contains("INDEX events_by_route_key (route=? AND id=?)")),
            "{steps:?}"
        );
    }

    #[test]
    fn an_event_is_delivered_once_each_destination_called_last_answered_2xx() {
        let attempt = |destination: &str, at: i64, status: Option<u16>| Attempt {
            at,
            status,
            duration_ms: 1,
            answer: String::new(),
            destination: Some(destination.into()),
        };
        let failed_then_replayed = [
            attempt("agent", 1, Some(500)),
            attempt("archive", 2, Some(200)),
            attempt("agent", 3, Some(200)),
        ];
        let mirror_only = &failed_then_replayed[..2];
        let unanswered = [attempt("agent", 1, Some(200)), attempt("agent", 2, None)];

        assert_eq!(delivered_at(&failed_then_replayed), Some(3));
        assert_eq!(delivered_at(mirror_only), None);
        assert_eq!(delivered_at(&unanswered), None);
        assert_eq!(delivered_at(&[]), None);
    }
}
