//! Requests refused before the downstream is called: 404, 405, 413, 503.

use std::io::{Read, Write};

use serde_json::{Value, json};

use support::*;

#[tokio::test]
async fn an_unknown_path_is_404_and_nothing_is_forwarded() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.post("/api/webhooks/unknown", &[], EVENT).await;

    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "error": "no route at this path"})
    );
    assert!(downstream.received().is_empty());
}

#[tokio::test]
async fn a_get_on_a_route_is_405_with_allow_post() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.client.get(app.url(CHATWOOT_PATH)).send().await.unwrap();

    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert!(downstream.received().is_empty());
}

#[tokio::test]
async fn a_disabled_route_is_503_with_retry_after() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(
        &downstream.url("/hook"),
        "enabled = false",
    ))
    .await;

    let response = app.post_event().await;

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(downstream.received().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_nothing_is_forwarded() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(
        &downstream.url("/hook"),
        "max_body_bytes = 100",
    ))
    .await;
    let body = vec![b'a'; 101];

    let response = app
        .post(
            CHATWOOT_PATH,
            &chatwoot_headers(SECRET, now_secs(), &body),
            &body,
        )
        .await;

    assert_eq!(response.status(), 413);
    assert!(downstream.received().is_empty());
}

#[tokio::test]
async fn a_body_at_the_limit_is_accepted() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(
        &downstream.url("/hook"),
        "max_body_bytes = 100",
    ))
    .await;
    let body = vec![b'a'; 100];

    let response = app
        .post(
            CHATWOOT_PATH,
            &chatwoot_headers(SECRET, now_secs(), &body),
            &body,
        )
        .await;

    assert_eq!(response.status(), 200);
}

/// Sends a raw HTTP/1.1 request and returns the status line's code.
fn raw_status(app: &TestApp, request: &[u8]) -> u16 {
    let mut stream = std::net::TcpStream::connect(app.addr).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    std::str::from_utf8(&answer[9..12])
        .unwrap()
        .parse()
        .unwrap()
}

fn chunked_request(body: &[u8], content_type: bool) -> Vec<u8> {
    let mut head =
        format!("POST {CHATWOOT_PATH} HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n");
    for (name, value) in chatwoot_headers(SECRET, now_secs(), body) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if content_type {
        head.push_str("Content-Type: application/json\r\n");
    }
    let mut request = format!("{head}Connection: close\r\n\r\n").into_bytes();
    for chunk in body.chunks(40) {
        request.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    request
}

#[tokio::test]
async fn a_chunked_body_without_content_type_is_read_and_forwarded() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let status = tokio::task::spawn_blocking({
        let request = chunked_request(EVENT, false);
        move || raw_status(&app, &request)
    })
    .await
    .unwrap();

    assert_eq!(status, 200);
    assert_eq!(downstream.received()[0].body, EVENT);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_not_411() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(
        &downstream.url("/hook"),
        "max_body_bytes = 100",
    ))
    .await;

    let status = tokio::task::spawn_blocking({
        let request = chunked_request(&[b'x'; 300], true);
        move || raw_status(&app, &request)
    })
    .await
    .unwrap();

    assert_eq!(status, 413);
    assert!(downstream.received().is_empty());
}
