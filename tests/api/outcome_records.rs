//! Every outcome a request can end with leaves its record in the event log,
//! with its status, and a body only where it was verified and kept.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::*;

const TOKEN: &str = "admin-token-for-outcome-tests";

/// Routes that each end a signed request with one outcome.
fn config(downstream: &Downstream) -> String {
    let url = downstream.url("/hook");
    let route = |name: &str, keys: &str| {
        format!(
            "[routes.{name}]\npath = \"/{name}\"\ndownstream = \"{url}\"\n{keys}\n\
             [routes.{name}.signature]\nscheme = \"chatwoot\"\nsecret = \"{SECRET}\"\n"
        )
    };
    let filtered = format!(
        "[routes.picky.destinations.default]\nurl = \"{url}\"\n\
         filter = {{ \"json:/event\" = \"conversation_resolved\" }}\n"
    );
    [
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n".to_string(),
        format!("[admin]\ntoken = \"{TOKEN}\"\n"),
        route("small", "max_body_bytes = 10"),
        route("off", "enabled = false"),
        route("once", "dedupe = { key = \"header:X-Chatwoot-Delivery\" }"),
        route("later", "delivery = \"queued\""),
        route("busy", "max_in_flight = 1"),
        route("slow", ""),
        route("picky", "").replace(&format!("downstream = \"{url}\"\n"), ""),
        filtered,
    ]
    .join("\n")
}

/// The record of `route` (its newest), once there is one.
async fn record_of(app: &TestApp, route: &str) -> Value {
    detail_of_first(app, &format!("/admin/events?route={route}")).await
}

/// Posts a signed event to `/route` with delivery id `delivery`.
async fn post(app: &TestApp, route: &str, delivery: &str) -> u16 {
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-chatwoot-delivery"));
    headers.push(("X-Chatwoot-Delivery", delivery.to_string()));
    let path = format!("/{route}");
    app.post(&path, &headers, EVENT).await.status().as_u16()
}

/// Sends signed headers announcing a body longer than what follows, then
/// waits for the gateway's answer: the status it gives a body that never
/// comes.
async fn post_half_a_body(app: &TestApp, route: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut head = format!(
        "POST /{route} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n",
        EVENT.len()
    );
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&EVENT[..5]).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await.unwrap() {
            0 => break,
            n => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let status = String::from_utf8_lossy(&answer);
    status
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Two requests to `busy`: the second arrives while the first holds its
/// only slot, and is shed.
async fn shed(app: &TestApp, downstream: &Downstream) -> (u16, u16) {
    let first = post(app, "busy", "d-admitted");
    let later = async {
        eventually("the first request reached the downstream", || async {
            downstream.received().len() == 1
        })
        .await;
        post(app, "busy", "d-shed").await
    };
    tokio::join!(first, later)
}

fn outcome_and_status(record: &Value) -> (&str, u64) {
    (
        record["outcome"].as_str().unwrap_or_default(),
        record["status"].as_u64().unwrap_or_default(),
    )
}

#[tokio::test]
async fn every_outcome_the_issue_names_leaves_its_record_with_a_body_only_when_verified() {
    let downstream = Downstream::start().await;
    // Long enough that the second request to `busy` surely comes while
    // the first holds its place; the body timeout's 10 s run alongside.
    downstream.delay(Duration::from_secs(5));
    let app = spawn_app(&config(&downstream)).await;

    // The body timeout takes its 10 s; everything else happens meanwhile.
    let timed_out = post_half_a_body(&app, "slow");
    let the_rest = async {
        let (admitted, shed) = shed(&app, &downstream).await;
        downstream.delay(Duration::ZERO);
        let first = post(&app, "once", "d-once").await;
        let again = post(&app, "once", "d-once").await;
        let statuses = [
            post(&app, "small", "d-small").await,
            post(&app, "off", "d-off").await,
            post(&app, "later", "d-later").await,
            post(&app, "picky", "d-picky").await,
        ];
        (admitted, shed, first, again, statuses)
    };
    let (timed_out, (admitted, shed, first, again, statuses)) = tokio::join!(timed_out, the_rest);
    assert_eq!(
        (timed_out, admitted, shed, first, again),
        (408, 200, 503, 200, 200)
    );
    assert_eq!(statuses, [413, 503, 202, 200]);

    let expected = [
        ("slow", "body_timeout", 408, false),
        ("small", "too_large", 413, false),
        ("off", "disabled", 503, false),
        ("later", "queued", 202, true),
        ("picky", "filtered", 200, true),
    ];
    for (route, outcome, status, body_kept) in expected {
        let record = record_of(&app, route).await;
        assert_eq!(
            outcome_and_status(&record),
            (outcome, status),
            "{route}: {record}"
        );
        assert_eq!(record["body"].is_string(), body_kept, "{route}: {record}");
    }
    let shed_record = find(&app, "busy", "d-shed").await;
    assert_eq!(outcome_and_status(&shed_record), ("shed", 503));
    // Shed after its signature was checked: kept, and replayable, since
    // a source that does not retry has lost it otherwise.
    assert_eq!(shed_record["replayable"], true, "{shed_record}");
    let duplicate = find_newest(&app, "once").await;
    assert_eq!(outcome_and_status(&duplicate), ("duplicate", 200));
    app.stop().await;
}

/// The record of `route` with delivery id `delivery`.
async fn find(app: &TestApp, route: &str, delivery: &str) -> Value {
    let url = format!("/admin/events?route={route}&delivery_id={delivery}");
    detail_of_first(app, &url).await
}

/// The newest record of `route`, once it has two.
async fn find_newest(app: &TestApp, route: &str) -> Value {
    let url = format!("/admin/events?route={route}");
    let count = || async {
        let response = app.client.get(app.admin_url(&url)).bearer_auth(TOKEN);
        let page: Value = response.send().await.unwrap().json().await.unwrap();
        page["events"].as_array().map_or(0, Vec::len)
    };
    eventually(format!("two records of `{route}`"), || async {
        count().await == 2
    })
    .await;
    detail_of_first(app, &url).await
}

/// The full record of the first event `list_path` lists, once it lists one.
async fn detail_of_first(app: &TestApp, list_path: &str) -> Value {
    let first_id = || async {
        let response = app.client.get(app.admin_url(list_path)).bearer_auth(TOKEN);
        let page: Value = response.send().await.unwrap().json().await.unwrap();
        page["events"][0]["id"].as_str().map(str::to_string)
    };
    eventually(format!("a record at {list_path}"), || async {
        first_id().await.is_some()
    })
    .await;
    let id = first_id().await.unwrap();
    let detail = app.admin_url(&format!("/admin/events/{id}"));
    let response = app.client.get(detail).bearer_auth(TOKEN).send().await;
    response.unwrap().json().await.unwrap()
}
