//! The answer the source gets: 200 on a downstream 2xx, 500 otherwise.

use std::time::Duration;

use serde_json::{Value, json};

use support::*;

#[tokio::test]
async fn a_downstream_ok_is_answered_200_processed() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.post_event().await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"success": true, "processed": true}));
    assert_eq!(downstream.received().len(), 1);
}

#[tokio::test]
async fn a_downstream_500_is_answered_500_so_the_source_can_retry() {
    let downstream = Downstream::start().await;
    downstream.answer_with(500);
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.post_event().await;

    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "error": "downstream answered 500"})
    );
}

#[tokio::test]
async fn a_downstream_4xx_is_answered_500_too() {
    let downstream = Downstream::start().await;
    downstream.answer_with(422);
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.post_event().await;

    assert_eq!(response.status(), 500);
}

#[tokio::test]
async fn a_downstream_slower_than_the_route_timeout_is_answered_500() {
    let downstream = Downstream::start().await;
    downstream.delay(Duration::from_secs(3));
    let config = chatwoot_config(&downstream.url("/hook"), "").replace("\"2s\"", "\"300ms\"");
    let app = spawn_app(&config).await;

    let response = app.post_event().await;

    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "downstream timed out");
}

#[tokio::test]
async fn a_refused_connection_is_answered_500() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app(&chatwoot_config(
        &format!("http://127.0.0.1:{port}/hook"),
        "",
    ))
    .await;

    let response = app.post_event().await;

    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "downstream unreachable");
}

#[tokio::test]
async fn healthz_answers_ok_with_the_config_generation() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.client.get(app.url("/healthz")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["config_generation"], 1);
}
