//! The queue against a real SQLite file and a real Redis (each test runs on
//! both backends): group commit, the bound, retention, retries, reclaiming.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderValue};

use super::*;
use crate::config;
use crate::signature::{UnverifiedBody, Verifier};

/// A queued route `hook` with `extra` keys.
fn route(extra: &str) -> Arc<Route> {
    let text = format!(
        "[routes.hook]\npath = \"/hook\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
         delivery = \"queued\"\n{extra}\n[routes.hook.signature]\nscheme = \"none\"\n"
    );
    let config =
        config::from_text(&text, Path::new("test.toml"), &config::Vars::default()).unwrap();
    config.routes.by_name("hook").unwrap().clone()
}

async fn ingest(queue: &Queue, route: &Route) -> Result<String, QueueError> {
    let body = Verifier::None
        .verify(
            &HeaderMap::new(),
            UnverifiedBody::new(Bytes::from_static(b"{}")),
            SystemTime::now(),
        )
        .unwrap();
    let peer = Peer {
        ip: None,
        tls: false,
    };
    let request_id = HeaderValue::from_static("req-1");
    queue
        .ingest(route, &HeaderMap::new(), peer, &request_id, &body)
        .await
}

/// Each test body, run once per backend: `NAME::in_sqlite` and `NAME::on_redis`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn in_sqlite() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::sqlite_queue(dir.path())).await;
            }

            #[tokio::test]
            async fn on_redis() {
                if let Some(queue) = super::redis_queue(std::time::Duration::from_secs(60)) {
                    super::$name(queue).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    concurrent_ingests_each_get_their_own_stored_event,
    concurrent_ingests_stop_exactly_at_max_queued,
    dead_letters_count_towards_max_queued,
    delivered_events_are_kept_for_their_retention_then_swept,
    a_retried_event_is_not_due_before_its_wait_and_claimed_ones_are_skipped,
    a_dead_letter_replayed_is_attempted_again_from_its_first_attempt,
    an_attempt_ending_after_a_purge_records_nothing,
    a_purged_event_is_not_delivered,
    every_expired_delivered_event_is_swept_in_one_round,
);

fn sqlite_queue(dir: &Path) -> Queue {
    let settings = config::StoreSettings {
        path: dir.join("q.db"),
        ..Default::default()
    };
    Queue::open(&settings).unwrap()
}

/// A queue on the local Redis under a prefix of its own, or a skip (a
/// failure where Redis is required).
fn redis_queue(visibility_timeout: Duration) -> Option<Queue> {
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
    let settings = config::StoreSettings {
        backend: config::StoreBackend::Redis {
            url: format!("redis://{address}").into(),
            prefix: format!("test-{}:", uuid::Uuid::new_v4().simple()),
        },
        visibility_timeout,
        ..Default::default()
    };
    Some(Queue::open(&settings).unwrap())
}

/// The ticket of every event in `due`.
fn tickets(due: &Due) -> HashSet<Ticket> {
    due.events.iter().map(|e| e.ticket.clone()).collect()
}

async fn concurrent_ingests_each_get_their_own_stored_event(queue: Queue) {
    let queue = Arc::new(queue);
    let route = route("");

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (queue, route) = (queue.clone(), route.clone());
            tokio::spawn(async move { ingest(&queue, &route).await.unwrap() })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }

    assert_eq!(ids.len(), 200);
    assert_eq!(queue.stats("hook").await.unwrap().pending, 200);
}

async fn concurrent_ingests_stop_exactly_at_max_queued(queue: Queue) {
    let queue = Arc::new(queue);
    let route = route("max_queued = 50");

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (queue, route) = (queue.clone(), route.clone());
            tokio::spawn(async move { ingest(&queue, &route).await })
        })
        .collect();
    let (mut stored, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(QueueError::Full { .. }) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }

    assert_eq!((stored, refused), (50, 150));
    assert_eq!(queue.stats("hook").await.unwrap().pending, 50);
}

async fn dead_letters_count_towards_max_queued(queue: Queue) {
    let route = route("max_queued = 1");
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let error = "downstream answered 500".to_string();
    let dead = Finish::Dead { error };
    queue.finish("hook", &due.events[0], dead).await.unwrap();

    let refused = ingest(&queue, &route).await;

    assert!(
        matches!(refused, Err(QueueError::Full { max: 1, .. })),
        "{refused:?}"
    );
    assert_eq!(queue.stats("hook").await.unwrap().dead, 1);
    queue.purge("hook", Purge::DeadLetters, None).await.unwrap();
    assert!(ingest(&queue, &route).await.is_ok());
}

async fn delivered_events_are_kept_for_their_retention_then_swept(queue: Queue) {
    let route = route("retention = \"1h\"");
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let kept = Finish::Delivered { keep: true };
    queue.finish("hook", &due.events[0], kept).await.unwrap();
    assert_eq!(queue.stats("hook").await.unwrap().delivered, 1);

    let kept = queue.sweep("hook", route.queue.retention).await.unwrap();
    let expired = queue.sweep("hook", Some(Duration::ZERO)).await.unwrap();

    assert_eq!((kept, expired), (0, 1));
    let stats = queue.stats("hook").await.unwrap();
    assert_eq!((stats.pending, stats.delivered), (0, 0));
}

async fn a_retried_event_is_not_due_before_its_wait_and_claimed_ones_are_skipped(queue: Queue) {
    let route = route("");
    let first = ingest(&queue, &route).await.unwrap();
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    assert_eq!(due.events[0].id, first, "oldest first");
    let error = "downstream timed out".to_string();
    let retry = Finish::Retry {
        error,
        wait: Duration::from_secs(3600),
    };
    queue.finish("hook", &due.events[0], retry).await.unwrap();

    let after = queue.due("hook", 10, &HashSet::new()).await.unwrap();
    let none_left = queue.due("hook", 10, &tickets(&after)).await.unwrap();

    assert_eq!(after.events.len(), 1);
    assert_ne!(after.events[0].id, first);
    assert_eq!(
        after.events[0].headers["x-hookgate-event-id"],
        after.events[0].id.as_str()
    );
    assert!(none_left.events.is_empty());
    let next = none_left.next.expect("the retried event is due later");
    assert!(next > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(queue.stats("hook").await.unwrap().pending, 2);
}

async fn a_dead_letter_replayed_is_attempted_again_from_its_first_attempt(queue: Queue) {
    let route = route("");
    let id = ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let dead = Finish::Dead {
        error: "downstream answered 500".into(),
    };
    queue.finish("hook", &due.events[0], dead).await.unwrap();
    let listed = queue.list("hook", Some("dead"), 10).await.unwrap();
    assert_eq!((listed.len(), listed[0].attempts), (1, 1));

    let replayed = queue.replay("hook", Some(&id)).await.unwrap();
    let again = queue.due("hook", 1, &HashSet::new()).await.unwrap();

    assert_eq!(replayed, 1);
    assert_eq!(again.events[0].id, id);
    assert_eq!(again.events[0].attempts, 0);
    let missing = queue.replay("hook", Some(&id)).await;
    assert!(
        matches!(missing, Err(QueueError::NotFound(_))),
        "{missing:?}"
    );
}

async fn an_attempt_ending_after_a_purge_records_nothing(queue: Queue) {
    let route = route("");
    ingest(&queue, &route).await.unwrap();
    let taken = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    queue.purge("hook", Purge::Everything, None).await.unwrap();

    let dead = Finish::Dead {
        error: "downstream answered 500".into(),
    };
    queue.finish("hook", &taken.events[0], dead).await.unwrap();

    let stats = queue.stats("hook").await.unwrap();
    assert_eq!((stats.pending, stats.dead, stats.delivered), (0, 0, 0));
    assert!(queue.list("hook", None, 10).await.unwrap().is_empty());
}

async fn a_purged_event_is_not_delivered(queue: Queue) {
    let route = route("");
    let id = ingest(&queue, &route).await.unwrap();

    let purged = queue
        .purge("hook", Purge::Everything, Some(&id))
        .await
        .unwrap();
    let due = queue.due("hook", 10, &HashSet::new()).await.unwrap();

    assert_eq!(purged, 1);
    assert!(due.events.is_empty());
    assert_eq!(queue.stats("hook").await.unwrap().pending, 0);
}

async fn every_expired_delivered_event_is_swept_in_one_round(queue: Queue) {
    let route = route("retention = \"1h\"");
    for _ in 0..600 {
        ingest(&queue, &route).await.unwrap();
    }
    let due = queue.due("hook", 600, &HashSet::new()).await.unwrap();
    for event in &due.events {
        let kept = Finish::Delivered { keep: true };
        queue.finish("hook", event, kept).await.unwrap();
    }

    let swept = queue.sweep("hook", Some(Duration::ZERO)).await.unwrap();

    assert_eq!((due.events.len(), swept), (600, 600));
    assert_eq!(queue.stats("hook").await.unwrap().delivered, 0);
}

#[tokio::test]
async fn on_redis_an_event_left_mid_attempt_by_a_dead_instance_is_reclaimed_by_another() {
    let Some(dead) = redis_queue(Duration::from_millis(200)) else {
        return;
    };
    let route = route("");
    let id = ingest(&dead, &route).await.unwrap();
    let taken = dead.due("hook", 1, &HashSet::new()).await.unwrap();
    assert_eq!(taken.events.len(), 1);
    let survivor = redis_queue_sharing(&dead, Duration::from_millis(200));
    drop(dead); // dies mid-attempt: no outcome recorded

    let at_once = survivor.due("hook", 1, &HashSet::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_timeout = survivor.due("hook", 1, &HashSet::new()).await.unwrap();

    assert!(
        at_once.events.is_empty(),
        "taken before the visibility timeout"
    );
    assert_eq!(after_timeout.events.len(), 1);
    assert_eq!(after_timeout.events[0].id, id);
    let delivered = Finish::Delivered { keep: false };
    let event = &after_timeout.events[0];
    survivor.finish("hook", event, delivered).await.unwrap();
    assert_eq!(survivor.stats("hook").await.unwrap().pending, 0);
}

/// A second instance (its own consumer) on the keys of `queue`.
fn redis_queue_sharing(queue: &Queue, visibility_timeout: Duration) -> Queue {
    let Backend::Redis(streams) = &queue.backend else {
        unreachable!()
    };
    let settings = config::StoreSettings {
        backend: config::StoreBackend::Redis {
            url: "redis://127.0.0.1:6379".into(),
            prefix: streams.prefix().to_string(),
        },
        visibility_timeout,
        ..Default::default()
    };
    Queue::open(&settings).unwrap()
}
