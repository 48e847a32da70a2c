//! Deduplication: a delivery whose key was already handled is answered, not
//! forwarded again; a failed one stays retryable. Embedded store and Redis.

use std::time::Duration;

use serde_json::{Value, json};

use support::*;

const BY_DELIVERY: &str = r#"dedupe = { key = "header:X-Chatwoot-Delivery" }"#;

async fn body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn signed(body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    let mut headers = chatwoot_headers(SECRET, now_secs(), body);
    headers[2].1 = delivery.to_string();
    headers
}

#[tokio::test]
async fn a_redelivered_event_is_answered_as_a_duplicate_and_not_forwarded() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), BY_DELIVERY)).await;

    let first = body(app.post_event().await).await;
    let again = body(app.post_event().await).await;

    assert_eq!(first, (200, json!({"success": true, "processed": true})));
    let duplicate = json!({"success": true, "processed": false, "duplicate": true});
    assert_eq!(again, (200, duplicate));
    assert_eq!(downstream.received().len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_stays_retryable() {
    let downstream = Downstream::start().await;
    downstream.answer_with(500);
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), BY_DELIVERY)).await;

    assert_eq!(app.post_event().await.status(), 500);
    downstream.answer_with(200);
    let retried = body(app.post_event().await).await;

    assert_eq!(retried, (200, json!({"success": true, "processed": true})));
    assert_eq!(downstream.received().len(), 2);
}

#[tokio::test]
async fn a_json_pointer_key_dedupes_bodies_that_share_the_id() {
    let downstream = Downstream::start().await;
    let keys = r#"dedupe = { key = ["json:/conversation/id", "json:/id"] }"#;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), keys)).await;
    let first = br#"{"id": 7, "conversation": {"id": 3}, "content": "hi"}"#;
    let same_ids = br#"{"id": 7, "conversation": {"id": 3}, "content": "hi again"}"#;
    let other = br#"{"id": 8, "conversation": {"id": 3}}"#;

    for event in [&first[..], &same_ids[..], &other[..]] {
        let delivery = uuid::Uuid::new_v4().to_string();
        let response = app
            .post(CHATWOOT_PATH, &signed(event, &delivery), event)
            .await;
        assert_eq!(response.status(), 200);
    }

    let bodies: Vec<Vec<u8>> = downstream.received().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, vec![first.to_vec(), other.to_vec()]);
}

#[tokio::test]
async fn a_key_is_forgotten_after_its_ttl() {
    let downstream = Downstream::start().await;
    let keys = r#"dedupe = { key = "header:X-Chatwoot-Delivery", ttl = "1s" }"#;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), keys)).await;

    app.post_event().await;
    // The subject of the test: the 1 s TTL passes.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let later = body(app.post_event().await).await;

    assert_eq!(later.1["processed"], true);
    assert_eq!(downstream.received().len(), 2);
}

#[tokio::test]
async fn a_delivery_without_a_key_is_forwarded_and_counted() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), BY_DELIVERY)).await;
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers.truncate(2);

    app.post(CHATWOOT_PATH, &headers, EVENT).await;
    app.post(CHATWOOT_PATH, &headers, EVENT).await;

    assert_eq!(downstream.received().len(), 2);
    let metrics = app.get_text("/metrics").await;
    let line = r#"hookgate_dedupe_total{route="chatwoot",result="missing_key"} 2"#;
    assert!(metrics.contains(line), "{metrics}");
}

#[tokio::test]
async fn a_duplicate_arriving_while_the_first_is_in_flight_gets_429() {
    let downstream = Downstream::start().await;
    downstream.delay(Duration::from_millis(600));
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), BY_DELIVERY)).await;

    let first = app.post_event();
    let second = async {
        eventually("the first delivery reached the downstream", || async {
            downstream.received().len() == 1
        })
        .await;
        app.post_event().await
    };
    let (first, second) = tokio::join!(first, second);

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    assert_eq!(downstream.received().len(), 1);
}

fn on_redis(downstream: &Downstream, url: &str, prefix: &str) -> String {
    format!(
        "{}\n[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n",
        chatwoot_config(&downstream.url("/hook"), BY_DELIVERY)
    )
}

#[tokio::test]
async fn two_instances_on_one_redis_forward_a_redelivery_only_once() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("test-{}:", uuid::Uuid::new_v4());
    let downstream = Downstream::start().await;
    let one = spawn_app(&on_redis(&downstream, &url, &prefix)).await;
    let two = spawn_app(&on_redis(&downstream, &url, &prefix)).await;

    let first = body(one.post_event().await).await;
    let again = body(two.post_event().await).await;

    assert_eq!(first.1["processed"], true);
    assert_eq!(again.1["duplicate"], true);
    assert_eq!(downstream.received().len(), 1);
}

#[tokio::test]
async fn on_redis_a_delivery_that_failed_on_one_instance_succeeds_on_the_other() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("test-{}:", uuid::Uuid::new_v4());
    let downstream = Downstream::start().await;
    let one = spawn_app(&on_redis(&downstream, &url, &prefix)).await;
    let two = spawn_app(&on_redis(&downstream, &url, &prefix)).await;

    downstream.answer_with(500);
    assert_eq!(one.post_event().await.status(), 500);
    downstream.answer_with(200);
    let retried = body(two.post_event().await).await;

    assert_eq!(retried.1["processed"], true);
    assert_eq!(downstream.received().len(), 2);
}

/// A Redis URL nothing answers at.
fn redis_down() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("redis://{}", listener.local_addr().unwrap())
}

#[tokio::test]
async fn with_redis_down_a_sync_route_keeps_forwarding_and_counts_it() {
    let downstream = Downstream::start().await;
    let config = on_redis(&downstream, &redis_down(), "down:");
    let app = spawn_app(&config).await;

    assert_eq!(app.post_event().await.status(), 200);
    assert_eq!(app.post_event().await.status(), 200);

    assert_eq!(downstream.received().len(), 2);
    let metrics = app.get_text("/metrics").await;
    assert!(metrics.contains(r#"result="unavailable"} 2"#), "{metrics}");
}

#[tokio::test]
async fn with_redis_down_a_queued_route_answers_503_rather_than_accept_what_it_cannot_store() {
    let downstream = Downstream::start().await;
    let config = on_redis(&downstream, &redis_down(), "down:").replace(
        "[routes.chatwoot.signature]",
        "delivery = \"queued\"\n[routes.chatwoot.signature]",
    );
    let app = spawn_app(&config).await;

    let refused = app.post_event().await;

    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(downstream.received().is_empty());
}

#[tokio::test]
async fn on_a_queued_route_a_redelivery_of_an_accepted_event_is_a_duplicate() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let keys = format!("delivery = \"queued\"\n{BY_DELIVERY}");
    let config = format!(
        "{}\n[store]\npath = \"{}\"\n",
        chatwoot_config(&downstream.url("/hook"), &keys),
        store.path().join("q.db").display()
    );
    let app = spawn_app(&config).await;

    let first = body(app.post_event().await).await;
    let again = body(app.post_event().await).await;

    assert_eq!(first.0, 202);
    assert_eq!(
        again,
        (
            200,
            json!({"success": true, "processed": false, "duplicate": true})
        )
    );
}

#[tokio::test]
async fn every_worker_of_an_instance_shares_the_in_process_keys() {
    let downstream = Downstream::start().await;
    let config = chatwoot_config(&downstream.url("/hook"), BY_DELIVERY);
    let app = spawn_app(&config.replace("workers = 1", "workers = 2")).await;

    // Each on a connection of its own, so the kernel spreads them over both
    // workers' listeners (all eight on one worker: 1 chance in 128).
    for _ in 0..8 {
        let client = reqwest::Client::new();
        let mut request = client.post(app.url(CHATWOOT_PATH)).body(EVENT.to_vec());
        for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
    }

    assert_eq!(downstream.received().len(), 1);
}
