//! What only the Redis backend does: reclaiming from a dead instance, and
//! reading a hash another writer left.

use std::collections::HashSet;
use std::time::Duration;

use super::{ingest, redis_queue_at, route, unique_prefix};
use crate::queue::{Finish, QueueError, UnknownState};

#[tokio::test]
async fn on_redis_an_event_left_mid_attempt_by_a_dead_instance_is_reclaimed_by_another() {
    let prefix = unique_prefix();
    let Some(dead) = redis_queue_at(&prefix, Duration::from_millis(200)) else {
        return;
    };
    let route = route("");
    let id = ingest(&dead, &route).await.unwrap();
    let taken = dead.due("hook", 1, &HashSet::new()).await.unwrap();
    assert_eq!(taken.events.len(), 1);
    let survivor = redis_queue_at(&prefix, Duration::from_millis(200)).unwrap();
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

#[tokio::test]
async fn on_redis_an_event_in_an_unknown_state_is_refused_not_listed_as_it_is() {
    let prefix = unique_prefix();
    let Some(queue) = redis_queue_at(&prefix, Duration::from_secs(60)) else {
        return;
    };
    let id = ingest(&queue, &route("")).await.unwrap();
    // As a newer hookgate, or a hand in redis-cli, could leave it.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let hash = format!("{prefix}queue:hook:event:{id}");
    let () = redis::AsyncCommands::hset(&mut connection, hash, "state", "archived")
        .await
        .unwrap();

    let listed = queue.list("hook", None, 10).await;

    assert!(
        matches!(&listed, Err(QueueError::UnknownState(UnknownState(s))) if s == "archived"),
        "{listed:?}"
    );
}
