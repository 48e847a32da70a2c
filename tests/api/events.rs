//! The event log: every request leaves a record, found and replayed
//! through the admin API.

use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-event-tests";

fn config(downstream: &Downstream, route_keys: &str) -> String {
    let config = chatwoot_config(&downstream.url("/hook"), route_keys);
    format!("{config}\n[admin]\ntoken = \"{TOKEN}\"\n")
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(app.admin_url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn replay(app: &TestApp, id: &str) -> reqwest::Response {
    let url = app.admin_url(&format!("/admin/events/{id}/replay"));
    let request = app.client.post(url).bearer_auth(TOKEN);
    request.send().await.unwrap()
}

/// The route's records, newest first, once there are `count` of them.
async fn records(app: &TestApp, count: usize) -> Vec<Value> {
    eventually(format!("{count} records in the event log"), || async {
        list(app).await.len() == count
    })
    .await;
    list(app).await
}

async fn list(app: &TestApp) -> Vec<Value> {
    let page = admin_get(app, "/admin/events?route=chatwoot").await;
    page["events"].as_array().unwrap().clone()
}

/// `headers` with `id` as the source's delivery id.
fn with_delivery(headers: Vec<(&'static str, String)>, id: &str) -> Vec<(&'static str, String)> {
    let mut headers = headers;
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-chatwoot-delivery"));
    headers.push(("X-Chatwoot-Delivery", id.to_string()));
    headers
}

#[tokio::test]
async fn every_outcome_leaves_a_record_and_refused_bodies_are_not_kept() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream, "")).await;
    let signed = |id| with_delivery(chatwoot_headers(SECRET, now_secs(), EVENT), id);

    app.post(CHATWOOT_PATH, &signed("d-forwarded"), EVENT).await;
    let forged = with_delivery(chatwoot_headers("wrong", now_secs(), EVENT), "d-refused");
    app.post(CHATWOOT_PATH, &forged, EVENT).await;
    downstream.answer_with(500);
    app.post(CHATWOOT_PATH, &signed("d-failed"), EVENT).await;

    let found = records(&app, 3).await;
    let outcomes: Vec<&str> = found
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["downstream_error", "unauthorized", "forwarded"]);
    let statuses: Vec<u64> = found
        .iter()
        .map(|e| e["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 401, 200]);
    let delivered: Vec<bool> = found
        .iter()
        .map(|e| e["delivered_at"].is_string())
        .collect();
    assert_eq!(delivered, [false, false, true]);
    assert_eq!(found[1]["replayable"], false);
    assert_eq!(
        found[1]["reason"],
        "invalid signature: signature does not match"
    );
    assert_eq!(found[2]["replayable"], true);

    let by_delivery = admin_get(&app, "/admin/events?delivery_id=d-forwarded").await;
    let id = by_delivery["events"][0]["id"].as_str().unwrap().to_string();
    let forwarded = &downstream.received()[0];
    assert_eq!(forwarded.headers["x-hookgate-event-id"], id.as_str());
    let detail = admin_get(&app, &format!("/admin/events/{id}")).await;
    assert_eq!(detail["body"].as_str().unwrap().as_bytes(), EVENT);
    let headers = detail["headers"].as_array().unwrap();
    let value_of = |name: &str| {
        headers
            .iter()
            .find(|pair| pair[0].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|pair| pair[1].as_str().unwrap().to_string())
    };
    assert_eq!(
        value_of("x-chatwoot-signature").as_deref(),
        Some("<redacted>")
    );
    assert_eq!(
        value_of("x-chatwoot-delivery").as_deref(),
        Some("d-forwarded")
    );
    assert_eq!(detail["attempts"][0]["status"], 200);
}

#[tokio::test]
async fn a_failed_sync_event_is_replayed_byte_exact_with_its_id_once_the_downstream_is_back() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream, "")).await;
    downstream.answer_with(500);
    downstream.answer_body("agent service down");
    let failed = app.post_event().await;
    assert_eq!(failed.status(), 500);
    let failed = records(&app, 1).await.remove(0);
    assert_eq!(
        failed["delivered_at"],
        Value::Null,
        "not delivered: {failed}"
    );
    let id = failed["id"].as_str().unwrap().to_string();
    let detail = admin_get(&app, &format!("/admin/events/{id}")).await;
    assert_eq!(detail["attempts"][0]["answer"], "agent service down");

    downstream.answer_with(200);
    let replay = replay(&app, &id).await;
    assert_eq!(replay.status(), 200);

    eventually("the replay reaches the downstream", || async {
        downstream.received().len() == 2
    })
    .await;
    let replayed = &downstream.received()[1];
    assert_eq!(replayed.body, EVENT);
    assert_eq!(replayed.headers["x-hookgate-event-id"], id.as_str());
    assert!(!replayed.headers.contains_key("x-chatwoot-signature"));
    eventually("the replay's attempt is in the log", || async {
        let detail = admin_get(&app, &format!("/admin/events/{id}")).await;
        detail["attempts"].as_array().unwrap().len() == 2
    })
    .await;
    // The list tells the failure delivered since, and keeps what the source was answered.
    let listed = list(&app).await.remove(0);
    assert_eq!(
        (&listed["status"], &listed["outcome"]),
        (&500.into(), &"downstream_error".into())
    );
    let detail = admin_get(&app, &format!("/admin/events/{id}")).await;
    assert_eq!(
        listed["delivered_at"], detail["attempts"][1]["at"],
        "{listed}"
    );
}

#[tokio::test]
async fn a_replay_sends_a_header_value_that_was_not_utf8_byte_exact() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream, "")).await;
    downstream.answer_with(500);
    let mut request = app.client.post(app.url(CHATWOOT_PATH)).body(EVENT);
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        request = request.header(name, value);
    }
    let legacy = reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    let failed = request.header("x-legacy", legacy).send().await.unwrap();
    assert_eq!(failed.status(), 500);
    let id = records(&app, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = admin_get(&app, &format!("/admin/events/{id}")).await;
    let headers = detail["headers"].as_array().unwrap();
    let shown = headers.iter().find(|h| h[0] == "x-legacy").unwrap();
    assert_eq!(
        shown,
        &serde_json::json!(["x-legacy", "caf\u{FFFD}", "Y2Fm6Q=="])
    );

    downstream.answer_with(200);
    assert_eq!(replay(&app, &id).await.status(), 200);

    eventually("the replay reaches the downstream", || async {
        downstream.received().len() == 2
    })
    .await;
    let replayed = &downstream.received()[1];
    assert_eq!(replayed.headers["x-legacy"].as_bytes(), b"caf\xe9");
    assert_eq!(replayed.body, EVENT);
}

#[tokio::test]
async fn a_route_that_keeps_no_bodies_logs_metadata_only_and_cannot_replay() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream, "log = { bodies = false }")).await;
    app.post_event().await;

    let id = records(&app, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = admin_get(&app, &format!("/admin/events/{id}")).await;
    let replay = replay(&app, &id).await;

    assert!(
        detail["body"].is_null() && detail["headers"].is_null(),
        "{detail}"
    );
    assert_eq!(detail["body_size"], EVENT.len());
    assert_eq!(replay.status(), 409);
}

#[tokio::test]
async fn a_route_keeps_at_most_max_events_records() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream, "log = { max_events = 2 }")).await;
    for _ in 0..4 {
        app.post_event().await;
    }

    // Pruning runs every 10 s: the four records shrink to the newest two.
    let kept = records(&app, 2).await;
    let ids: Vec<&str> = kept.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids[0] > ids[1]);
}

#[tokio::test]
async fn after_a_restart_a_route_without_new_requests_is_still_kept_within_its_bounds() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let path = store.path().join("hookgate.db").display().to_string();
    let on_store = |route_keys: &str| {
        let config = config(&downstream, route_keys);
        format!("{config}\n[store]\npath = {path:?}\n")
    };
    let before = spawn_app(&on_store("log = { max_events = 100 }")).await;
    for _ in 0..4 {
        before.post_event().await;
    }
    records(&before, 4).await;
    before.stop().await;

    // No request reaches the route after the restart: its bounds come
    // from the config, not from a record written since.
    let after = spawn_app(&on_store("log = { max_events = 2 }")).await;
    records(&after, 2).await;
}

#[tokio::test]
async fn without_a_delivery_id_header_the_dedupe_key_finds_the_event() {
    let downstream = Downstream::start().await;
    let config = format!(
        r#"[server]
listen = "127.0.0.1:0"
workers = 1

[routes.payments]
path = "/payments"
downstream = "{}"
dedupe = {{ key = "json:/id" }}
signature = {{ scheme = "none" }}

[admin]
token = "{TOKEN}"
"#,
        downstream.url("/hook")
    );
    let app = spawn_app(&config).await;
    let response = (app.client.post(app.url("/payments")))
        .body(r#"{"id": "evt_4711", "type": "charge.failed"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let by_key = || async {
        let page = admin_get(&app, "/admin/events?delivery_id=evt_4711").await;
        page["events"].as_array().unwrap().clone()
    };
    eventually("the record is found by its key", || async {
        !by_key().await.is_empty()
    })
    .await;
    let found = by_key().await;
    assert_eq!(found[0]["route"], "payments");
    assert_eq!(found[0]["delivery_id"], "evt_4711");
}

#[tokio::test]
async fn the_event_log_needs_the_admin_token() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream, "")).await;
    let response = app
        .client
        .get(app.admin_url("/admin/events"))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
