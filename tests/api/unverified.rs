//! The budget of unverified bodies: stalled unauthenticated uploads neither
//! take a signed request's place nor hold unbounded memory.

use std::net::{IpAddr, Ipv4Addr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use support::*;

/// An upload from `from` that declares `declared` bytes, sends `sent`, and stalls.
async fn stalled_upload(app: &TestApp, from: Ipv4Addr, declared: usize, sent: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    let mut stream = socket.connect(app.addr).await.unwrap();
    let head = format!(
        "POST {CHATWOOT_PATH} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
         Content-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream
}

async fn unverified_bodies(app: &TestApp) -> u64 {
    app.metric("hookgate_unverified_bodies").await as u64
}

async fn wait_for_unverified(app: &TestApp, count: u64) {
    eventually(
        format!("{count} unverified bodies are being read"),
        || async { unverified_bodies(app).await == count },
    )
    .await;
}

/// The status line's code of the answer on `stream`.
async fn status_of(stream: &mut TcpStream) -> u16 {
    let mut answer = vec![0u8; 1024];
    let read = stream.read(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer[..read]).to_string();
    text.split(' ')
        .nth(1)
        .unwrap_or_default()
        .parse()
        .unwrap_or(0)
}

async fn signed_post_from(app: &TestApp, from: Ipv4Addr) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(from))
        .build()
        .unwrap();
    let mut request = client.post(app.url(CHATWOOT_PATH)).body(EVENT);
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const OTHER_CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[tokio::test]
async fn stalled_unauthenticated_uploads_do_not_take_a_signed_requests_place() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(
        &downstream.url("/hook"),
        "max_in_flight = 2",
    ))
    .await;
    let mut stalled = Vec::new();
    for _ in 0..10 {
        stalled.push(stalled_upload(&app, CLIENT, 1000, 10).await);
    }
    wait_for_unverified(&app, 10).await;

    let response = signed_post_from(&app, CLIENT).await;

    assert_eq!(response.status(), 200);
    assert_eq!(downstream.received().len(), 1);
}

#[tokio::test]
async fn one_address_uploading_too_many_bodies_at_once_is_shed_and_another_is_not() {
    let downstream = Downstream::start().await;
    let config = with_server_keys(
        &chatwoot_config(&downstream.url("/hook"), ""),
        "max_unverified_per_client = 3",
    );
    let app = spawn_app(&config).await;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(stalled_upload(&app, CLIENT, 1000, 10).await);
    }
    wait_for_unverified(&app, 3).await;

    let mut one_more = stalled_upload(&app, CLIENT, 1000, 10).await;
    assert_eq!(status_of(&mut one_more).await, 503);
    let response = signed_post_from(&app, OTHER_CLIENT).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unverified_bytes_past_the_budget_are_refused_at_once() {
    let downstream = Downstream::start().await;
    let config = with_server_keys(
        &chatwoot_config(&downstream.url("/hook"), ""),
        "max_body_bytes = 65536\nmax_unverified_bytes = 100000",
    );
    let app = spawn_app(&config).await;
    let _first = stalled_upload(&app, CLIENT, 65536, 60000).await;
    wait_for_unverified(&app, 1).await;

    let mut second = stalled_upload(&app, OTHER_CLIENT, 65536, 60000).await;

    assert_eq!(status_of(&mut second).await, 503);
    wait_for_unverified(&app, 1).await;
    let outcome = "hookgate_requests_total{route=\"chatwoot\",outcome=\"shed_unverified\"} 1";
    assert!(app.get_text("/metrics").await.contains(outcome));
}
