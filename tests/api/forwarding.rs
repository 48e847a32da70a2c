//! What the downstream receives: the exact bytes and the header rules.

use support::*;

#[tokio::test]
async fn the_downstream_receives_the_exact_bytes_even_when_not_utf8() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let body: Vec<u8> = (0..=255u8)
        .chain([0xff, 0xfe, 0x00, b'\r', b'\n'])
        .collect();

    let response = app
        .post(
            CHATWOOT_PATH,
            &chatwoot_headers(SECRET, now_secs(), &body),
            &body,
        )
        .await;

    assert_eq!(response.status(), 200);
    let received = downstream.received();
    assert_eq!(received[0].body, body);
    assert_eq!(received[0].path, "/hook");
}

#[tokio::test]
async fn end_to_end_headers_are_forwarded_and_gateway_headers_added() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers.push(("Content-Type", "application/json".into()));
    headers.push(("X-Request-Id", "req-123".into()));
    headers.push(("X-Forwarded-For", "203.0.113.9".into()));

    let response = app.post(CHATWOOT_PATH, &headers, EVENT).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let seen = &downstream.received()[0].headers;
    assert_eq!(seen["content-type"], "application/json");
    assert_eq!(seen["x-chatwoot-signature"], headers[0].1.as_str());
    assert_eq!(seen["x-chatwoot-timestamp"], headers[1].1.as_str());
    assert_eq!(seen["x-chatwoot-delivery"], headers[2].1.as_str());
    assert_eq!(seen["x-request-id"], "req-123");
    assert_eq!(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-hookgate-route"], "chatwoot");
}

#[tokio::test]
async fn a_request_id_is_generated_when_the_source_sends_none() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let response = app.post_event().await;

    let answered = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(answered.len(), 36, "a UUID: {answered}");
    assert_eq!(
        downstream.received()[0].headers["x-request-id"],
        answered.as_str()
    );
}

#[tokio::test]
async fn the_gateways_own_endpoints_and_unknown_paths_answer_with_a_request_id_too() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let client = reqwest::Client::new();

    let health = client.get(app.url("/healthz")).send().await.unwrap();
    let missing = client
        .get(app.url("/nowhere"))
        .header("X-Request-Id", "req-404")
        .send()
        .await
        .unwrap();

    assert_eq!(health.headers()["x-request-id"].len(), 36);
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-request-id"], "req-404");
}

#[tokio::test]
async fn hop_by_hop_headers_and_those_named_by_connection_are_dropped() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers.push(("Connection", "keep-alive, X-Hop-Secret".into()));
    headers.push(("X-Hop-Secret", "per-hop".into()));
    headers.push(("Proxy-Authorization", "Basic Zm9vOmJhcg==".into()));
    headers.push(("X-End-To-End", "kept".into()));

    app.post(CHATWOOT_PATH, &headers, EVENT).await;

    let seen = &downstream.received()[0].headers;
    assert!(!seen.contains_key("x-hop-secret"));
    assert!(!seen.contains_key("proxy-authorization"));
    assert_eq!(seen["x-end-to-end"], "kept");
    assert_eq!(seen["host"], downstream.addr.to_string().as_str());
}

#[tokio::test]
async fn headers_the_gateway_owns_are_set_by_the_gateway_whatever_the_client_sends() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers.push(("X-Forwarded-Proto", "https".into()));
    headers.push(("X-Hookgate-Event-Id", "forged-by-the-client".into()));
    headers.push(("X-Hookgate-Route", "another-route".into()));
    headers.push(("Expect", "100-continue".into()));
    let claims = [
        ("Forwarded", "proto=https;host=evil.example"),
        ("X-Forwarded-Ssl", "on"),
        ("X-Forwarded-Scheme", "https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "443"),
        ("X-Real-Ip", "10.0.0.1"),
        ("X-Url-Scheme", "https"),
        ("Front-End-Https", "on"),
    ];
    headers.extend(
        claims
            .iter()
            .map(|(name, value)| (*name, value.to_string())),
    );

    let response = app.post(CHATWOOT_PATH, &headers, EVENT).await;

    assert_eq!(response.status(), 200);
    let seen = &downstream.received()[0].headers;
    assert_eq!(seen["x-forwarded-proto"], "http");
    for (name, _) in claims {
        assert!(
            !seen.contains_key(name),
            "{name} reached the downstream: {seen:?}"
        );
    }
    let event_id = seen["x-hookgate-event-id"].to_str().unwrap();
    assert_ne!(event_id, "forged-by-the-client");
    assert!(uuid::Uuid::parse_str(event_id).is_ok(), "{event_id}");
    assert_eq!(seen["x-hookgate-route"], "chatwoot");
    assert!(!seen.contains_key("expect"), "{seen:?}");
}
