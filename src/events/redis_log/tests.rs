//! The writer and the reader against the local Redis: trimming by age, a
//! list past its scan bound, and an attempt that reaches Redis before its
//! record.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::super::budget::Budget;
use super::super::prune::first_id_at;
use super::super::query::Filter;
use super::super::reader::Reader;
use super::super::record::unix_ms;
use super::super::{AttemptRecord, Entry, RequestRecord};
use super::read::MAX_SCAN;
use super::write::write;
use super::{Keys, RedisReader, WRITE_TIMEOUT};
use crate::config;
use crate::redis_link::Link;
use crate::routes::Route;

const URL: &str = "redis://127.0.0.1:6379";

/// A writer's link, its keys under a prefix of the test's own, and a
/// reader of them; or a skip (a failure where Redis is required).
fn local() -> Option<(Link, Keys, RedisReader)> {
    let address = "127.0.0.1:6379".parse().unwrap();
    if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_err() {
        let required = std::env::var_os("HOOKGATE_REQUIRE_REDIS").is_some();
        assert!(
            !required,
            "Redis is required here but {address} does not answer"
        );
        eprintln!("skipping: no Redis on {address} (.ci/run starts one)");
        return None;
    }
    let prefix = format!("test-log-{}:", uuid::Uuid::new_v4().simple());
    let link = Link::new(URL, WRITE_TIMEOUT).unwrap();
    Some((
        link,
        Keys::new(&prefix),
        RedisReader::new(URL, &prefix).unwrap(),
    ))
}

/// A route `hook` whose records are kept for two hours (longer than an
/// orphan attempt list's hour).
fn route() -> Arc<Route> {
    let text = "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
                log = { retention = \"2h\" }\n[routes.hook.signature]\nscheme = \"none\"\n";
    let config = config::from_text(text, Path::new("test.toml"), &config::Vars::default()).unwrap();
    config.routes.by_name("hook").unwrap().clone()
}

/// A queued record of `route` with the event id `id`.
fn record(id: &str) -> Entry {
    record_of(&route(), id, "queued")
}

fn record_of(route: &Arc<Route>, id: &str, outcome: &'static str) -> Entry {
    Entry::Request {
        record: Box::new(RequestRecord {
            id: id.to_string(),
            received_at: SystemTime::now(),
            route: route.clone(),
            request_id: "req-1".into(),
            delivery_id: None,
            status: 202,
            outcome,
            reason: None,
            body_size: 2,
            duration_ms: 1,
            headers: None,
            body: Some("{}".into()),
            attempt: None,
        }),
        _claim: Budget::new(usize::MAX, Default::default())
            .claim(0)
            .expect("an empty claim"),
    }
}

fn attempt(id: &str) -> Entry {
    Entry::Attempt {
        event_id: id.to_string(),
        route: "hook".into(),
        attempt: AttemptRecord {
            at: SystemTime::now(),
            status: Some(200),
            duration_ms: 3,
            answer: "ok".into(),
            destination: "archive".into(),
        },
    }
}

fn listing() -> Filter {
    Filter {
        limit: 10,
        ..Default::default()
    }
}

#[tokio::test]
async fn records_past_their_routes_retention_leave_its_index() {
    let Some((link, keys, reader)) = local() else {
        return;
    };
    let three_hours_ago = first_id_at(unix_ms(SystemTime::now()) - 10_800_000);
    let fresh = uuid::Uuid::now_v7().to_string();

    write(&link, &keys, &[record(&three_hours_ago), record(&fresh)])
        .await
        .unwrap();

    let listed: Vec<String> = (reader.list(&listing()).await.unwrap().records)
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [fresh]);
}

#[tokio::test]
async fn a_filter_matching_only_past_the_scan_bound_gets_a_next_page_and_a_walk_finds_it() {
    let Some((link, keys, reader)) = local() else {
        return;
    };
    let route = route();
    let mut ids: Vec<String> = (0..=MAX_SCAN)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    ids.sort();
    let (oldest, newer) = ids.split_first().unwrap();
    write(
        &link,
        &keys,
        &[record_of(&route, oldest, "downstream_error")],
    )
    .await
    .unwrap();
    for chunk in newer.chunks(2_000) {
        let batch: Vec<Entry> = chunk
            .iter()
            .map(|id| record_of(&route, id, "queued"))
            .collect();
        write(&link, &keys, &batch).await.unwrap();
    }
    let failed = Filter {
        outcome: Some("downstream_error".into()),
        ..listing()
    };

    let first = reader.list(&failed).await.unwrap();
    let walked = Reader::Redis(Box::new(reader)).walk(&failed).await.unwrap();

    assert!(first.records.is_empty(), "{:?}", first.records);
    assert_eq!(first.next.as_deref(), newer.first().map(String::as_str));
    let found: Vec<&str> = walked.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(found, [oldest.as_str()]);
}

#[tokio::test]
async fn an_attempt_that_reaches_redis_before_its_record_is_kept_with_it() {
    let Some((link, keys, reader)) = local() else {
        return;
    };
    let id = uuid::Uuid::now_v7().to_string();

    write(&link, &keys, &[attempt(&id)]).await.unwrap();
    write(&link, &keys, &[record(&id)]).await.unwrap();

    let shown = reader.get(&id).await.unwrap().expect("the record is there");
    assert_eq!(shown.attempts.len(), 1);
    assert_eq!(shown.attempts[0].answer, "ok");
    assert_eq!(shown.attempts[0].destination.as_deref(), Some("archive"));
    let mut connection = link.connection().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(keys.attempts(&id))
        .query_async(&mut connection)
        .await
        .unwrap();
    // The route's two hours, not an orphan's hour: the record's write gave it its own.
    assert!(ttl > 7_100_000 && ttl <= 7_200_000, "{ttl}");
}

#[tokio::test]
async fn an_oldest_first_list_starts_after_its_cursor() {
    let Some((link, keys, reader)) = local() else {
        return;
    };
    let route = route();
    let mut ids: Vec<String> = (0..5).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    ids.sort();
    let records: Vec<Entry> = (ids.iter())
        .map(|id| record_of(&route, id, "downstream_error"))
        .collect();
    write(&link, &keys, &records).await.unwrap();
    let from = |after: &str| Filter {
        after: Some(after.into()),
        oldest_first: true,
        limit: 2,
        ..listing()
    };

    let first = reader.list(&from(&ids[0])).await.unwrap();
    let last = reader.list(&from(&ids[2])).await.unwrap();

    let listed = |records: &[super::super::query::Summary]| -> Vec<String> {
        records.iter().map(|s| s.id.clone()).collect()
    };
    assert_eq!(listed(&first.records), ids[1..3]);
    assert_eq!(first.next.as_ref(), Some(&ids[2]));
    assert_eq!(listed(&last.records), ids[3..5]);
}
