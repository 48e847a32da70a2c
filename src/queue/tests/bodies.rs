//! The bodies of the tests run on both backends (see `on_both_backends!`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use poem::http::{HeaderMap, HeaderValue};

use super::{ingest, route, tickets, verified};
use crate::forward::{Outbound, Peer};
use crate::queue::{EVENT_ID, EventState, Finish, Purge, Queue, QueueError};

pub(super) async fn concurrent_ingests_each_get_their_own_stored_event(queue: Queue) {
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

pub(super) async fn concurrent_ingests_stop_exactly_at_max_queued(queue: Queue) {
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

pub(super) async fn dead_letters_count_towards_max_queued(queue: Queue) {
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

pub(super) async fn delivered_events_are_kept_for_their_retention_then_swept(queue: Queue) {
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

pub(super) async fn a_retried_event_is_not_due_before_its_wait_and_claimed_ones_are_skipped(
    queue: Queue,
) {
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
        after.events[0].outbound.headers()["x-hookgate-event-id"],
        after.events[0].id.as_str()
    );
    assert!(none_left.events.is_empty());
    let next = none_left.next.expect("the retried event is due later");
    assert!(next > SystemTime::now() + Duration::from_secs(3000));
    assert_eq!(queue.stats("hook").await.unwrap().pending, 2);
}

pub(super) async fn a_deferred_attempt_waits_like_a_retry_but_is_not_counted(queue: Queue) {
    let route = route("");
    ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let deferred = Finish::Deferred {
        error: "downstream answered 503".into(),
        wait: Duration::from_secs(3600),
    };

    queue
        .finish("hook", &due.events[0], deferred)
        .await
        .unwrap();

    let after = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    assert!(after.events.is_empty(), "due before its wait");
    let listed = queue.list("hook", None, 10).await.unwrap();
    assert_eq!(listed[0].attempts, 0, "not counted");
    assert_eq!(
        listed[0].last_error.as_deref(),
        Some("downstream answered 503")
    );
    assert!(listed[0].next_attempt_at > SystemTime::now() + Duration::from_secs(3000));
}

pub(super) async fn a_dead_letter_replayed_is_attempted_again_from_its_first_attempt(queue: Queue) {
    let route = route("");
    let id = ingest(&queue, &route).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();
    let dead = Finish::Dead {
        error: "downstream answered 500".into(),
    };
    queue.finish("hook", &due.events[0], dead).await.unwrap();
    let listed = queue
        .list("hook", Some(EventState::Dead), 10)
        .await
        .unwrap();
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

pub(super) async fn an_attempt_ending_after_a_purge_records_nothing(queue: Queue) {
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

pub(super) async fn a_purged_event_is_not_delivered(queue: Queue) {
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

pub(super) async fn every_expired_delivered_event_is_swept_in_one_round(queue: Queue) {
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

pub(super) async fn an_outbound_comes_back_from_the_store_byte_for_byte(queue: Queue) {
    let route = route("");
    let mut incoming = HeaderMap::new();
    incoming.append("x-a", HeaderValue::from_static("one: with colon"));
    incoming.append("x-a", HeaderValue::from_static("two"));
    incoming.append("x-latin", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    incoming.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    let peer = Peer {
        ip: Some([192, 0, 2, 7].into()),
        tls: true,
    };
    let request_id = HeaderValue::from_static("req-42");
    let body = verified(b"\x00\xff{\"a\": 1}\r\n\x80");
    let sent = Outbound::new(&route, &incoming, peer, &request_id, &body);

    let id = queue.store_outbound(&sent, 10).await.unwrap();
    let due = queue.due("hook", 1, &HashSet::new()).await.unwrap();

    let back = &due.events[0].outbound;
    assert_eq!(back.lane(), "hook");
    assert_eq!(back.request_id(), &request_id);
    assert_eq!(back.body().bytes(), body.bytes());
    let mut expected = sent.headers().clone();
    expected.insert(EVENT_ID.clone(), HeaderValue::try_from(id).unwrap());
    assert_eq!(back.headers(), &expected);
    // The peer's address was added at ingest, the only pass of the rules.
    assert_eq!(back.headers()["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
    assert_eq!(back.headers()["x-forwarded-proto"], "https");
}
