//! The queue against a real SQLite file: group commit, the bound, retention.

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
    let config = config::from_text(&text, Path::new("test.toml"), &|_| None).unwrap();
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

#[tokio::test]
async fn concurrent_ingests_each_get_their_own_stored_event() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(Queue::open(&dir.path().join("q.db")).unwrap());
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

#[tokio::test]
async fn dead_letters_count_towards_max_queued() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("q.db")).unwrap();
    let route = route("max_queued = 1");
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let error = "downstream answered 500".to_string();
    let seq = due.events[0].seq;
    queue.finish(seq, Finish::Dead { error }).await.unwrap();

    let refused = ingest(&queue, &route).await;

    assert!(
        matches!(refused, Err(QueueError::Full { max: 1, .. })),
        "{refused:?}"
    );
    queue.purge("hook", Purge::DeadLetters, None).await.unwrap();
    assert!(ingest(&queue, &route).await.is_ok());
}

#[tokio::test]
async fn delivered_events_are_kept_for_their_retention_then_swept() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("q.db")).unwrap();
    let route = route("retention = \"1h\"");
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let seq = due.events[0].seq;
    queue
        .finish(seq, Finish::Delivered { keep: true })
        .await
        .unwrap();

    let kept = queue.sweep("hook", route.queue.retention).await.unwrap();
    let expired = queue.sweep("hook", Some(Duration::ZERO)).await.unwrap();

    assert_eq!((kept, expired), (0, 1));
    let stats = queue.stats("hook").await.unwrap();
    assert_eq!((stats.pending, stats.delivered), (0, 0));
}

#[tokio::test]
async fn a_retried_event_is_not_due_before_its_wait_and_claimed_ones_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(&dir.path().join("q.db")).unwrap();
    let route = route("");
    let first = ingest(&queue, &route).await.unwrap();
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    assert_eq!(due.events[0].id, first, "oldest first");
    let (seq, wait) = (due.events[0].seq, Duration::from_secs(3600));
    let error = "downstream timed out".to_string();
    queue
        .finish(seq, Finish::Retry { error, wait })
        .await
        .unwrap();

    let after = queue.due("hook", 10, &HashSet::new()).await.unwrap();
    let claimed: HashSet<i64> = after.events.iter().map(|e| e.seq).collect();
    let none_left = queue.due("hook", 10, &claimed).await.unwrap();

    assert_eq!(after.events.len(), 1);
    assert_ne!(after.events[0].id, first);
    assert_eq!(
        after.events[0].headers["x-hookgate-event-id"],
        after.events[0].id.as_str()
    );
    assert!(none_left.events.is_empty());
    let next = none_left.next.expect("the retried event is due later");
    assert!(next > SystemTime::now() + Duration::from_secs(3000));
}
