//! The event log on Redis (`[store] backend = "redis"`): every instance on
//! one Redis lists, shows and replays every instance's records; the log
//! keeps within `max_events`; a Redis that is down costs records, counted,
//! never a request.

use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-redis-log-tests";

/// A gateway config on the Redis at `url` under `prefix`, with `log` keys
/// added to the route's; records expire after 10 minutes, so that test runs
/// leave little behind on the shared Redis.
fn on_redis(downstream: &Downstream, url: &str, prefix: &str, log: &str) -> String {
    let route_keys = format!("log = {{ retention = \"10m\"{log} }}");
    format!(
        "{}\n[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n\n\
         [admin]\ntoken = \"{TOKEN}\"\n",
        chatwoot_config(&downstream.url("/hook"), &route_keys)
    )
}

/// A key prefix of this test's own.
fn own_prefix() -> String {
    format!("test-log-{}:", uuid::Uuid::new_v4().simple())
}

async fn admin(app: &TestApp, path: &str) -> reqwest::Response {
    let request = app.client.get(app.admin_url(path)).bearer_auth(TOKEN);
    request.send().await.unwrap()
}

async fn admin_json(app: &TestApp, path: &str) -> Value {
    let response = admin(app, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The records of `GET path`, newest first.
async fn listed(app: &TestApp, path: &str) -> Vec<Value> {
    admin_json(app, path).await["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// The delivery ids of `GET path`'s records, newest first.
async fn deliveries(app: &TestApp, path: &str) -> Vec<String> {
    let records = listed(app, path).await;
    records
        .iter()
        .map(|e| e["delivery_id"].as_str().unwrap().to_string())
        .collect()
}

/// POSTs the sample event with the delivery id `id`, signed with `secret`.
async fn post(app: &TestApp, secret: &str, id: &str) -> reqwest::Response {
    let mut headers = chatwoot_headers(secret, now_secs(), EVENT);
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-chatwoot-delivery"));
    headers.push(("X-Chatwoot-Delivery", id.to_string()));
    app.post(CHATWOOT_PATH, &headers, EVENT).await
}

#[tokio::test]
async fn the_redis_backend_shows_events_recorded_by_another_instance() {
    let Some(url) = redis_url() else { return };
    let prefix = own_prefix();
    let downstream = Downstream::start().await;
    let a = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;
    let b = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;

    assert_eq!(post(&a, SECRET, "d-on-a").await.status(), 200);

    eventually("B lists the event A received", || async {
        deliveries(&b, "/admin/events").await == ["d-on-a"]
    })
    .await;
    let by_route = listed(&b, "/admin/events?route=chatwoot").await;
    let id = by_route[0]["id"].as_str().unwrap().to_string();
    assert_eq!(downstream.received()[0].headers["x-hookgate-event-id"], id);
    let detail = admin_json(&b, &format!("/admin/events/{id}")).await;
    assert_eq!(detail["body"].as_str().unwrap().as_bytes(), EVENT);
    assert_eq!(detail["outcome"], "forwarded");
    assert_eq!(detail["attempts"][0]["status"], 200);
    let signature = detail["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "x-chatwoot-signature")
        .map(|pair| pair[1].clone());
    assert_eq!(signature, Some("<redacted>".into()), "{detail}");

    let replay = b.admin_url(&format!("/admin/events/{id}/replay"));
    let replayed = b.client.post(replay).bearer_auth(TOKEN).send().await;
    assert_eq!(replayed.unwrap().status(), 200);
    eventually("the replay reaches the downstream", || async {
        downstream.received().len() == 2
    })
    .await;
    assert_eq!(downstream.received()[1].body, EVENT);
    assert_eq!(downstream.received()[1].headers["x-hookgate-event-id"], id);
    eventually("A shows the replay's attempt", || async {
        let detail = admin_json(&a, &format!("/admin/events/{id}")).await;
        detail["attempts"].as_array().unwrap().len() == 2
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn on_redis_an_event_still_queued_from_a_replay_is_not_replayed_again() {
    let Some(url) = redis_url() else { return };
    let prefix = own_prefix();
    let downstream = Downstream::start().await;
    let app = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;
    downstream.answer_with(500);
    post(&app, SECRET, "d-failed").await;
    eventually("the failure is logged", || async {
        !listed(&app, "/admin/events").await.is_empty()
    })
    .await;
    let records = listed(&app, "/admin/events").await;
    let id = records[0]["id"].as_str().unwrap();
    // The replay's delivery fails too: it waits in the queue for its retry.
    let replay = || {
        let url = app.admin_url(&format!("/admin/events/{id}/replay"));
        app.client.post(url).bearer_auth(TOKEN).send()
    };

    let first = replay().await.unwrap().status();
    let again = replay().await.unwrap();

    assert_eq!(first, 200);
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("already"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn on_redis_a_replay_by_filter_on_one_instance_redelivers_another_instances_failures() {
    let Some(url) = redis_url() else { return };
    let prefix = own_prefix();
    let downstream = Downstream::start().await;
    let a = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;
    let b = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;
    downstream.answer_with(500);
    post(&a, SECRET, "d-failed-1").await;
    post(&a, SECRET, "d-failed-2").await;
    downstream.answer_with(200);
    post(&a, SECRET, "d-forwarded").await;
    eventually("B lists A's three records", || async {
        listed(&b, "/admin/events").await.len() == 3
    })
    .await;

    let replay = b.admin_url("/admin/routes/chatwoot/replay?outcome=downstream_error");
    let response = b.client.post(replay).bearer_auth(TOKEN).send().await;
    let tally: Value = response.unwrap().json().await.unwrap();

    assert_eq!(tally["replayed"], 2, "{tally}");
    eventually("both failures are delivered again", || async {
        downstream.received().len() == 5
    })
    .await;
    let again: Vec<String> = downstream.received()[3..]
        .iter()
        .map(|r| {
            r.headers["x-chatwoot-delivery"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(again.iter().all(|d| d.starts_with("d-failed")), "{again:?}");
    eventually("A lists every record delivered", || async {
        let records = listed(&a, "/admin/events").await;
        records.iter().all(|r| r["delivered_at"].is_string())
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn on_redis_the_event_list_filters_and_pages_like_on_sqlite() {
    let Some(url) = redis_url() else { return };
    let prefix = own_prefix();
    let downstream = Downstream::start().await;
    let a = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;
    let b = spawn_app(&on_redis(&downstream, &url, &prefix, "")).await;
    post(&a, SECRET, "d-forwarded").await;
    post(&a, "not-the-secret", "d-refused").await;
    downstream.answer_with(500);
    post(&a, SECRET, "d-failed").await;

    eventually("B lists the three records", || async {
        listed(&b, "/admin/events").await.len() == 3
    })
    .await;

    let all = deliveries(&b, "/admin/events").await;
    assert_eq!(all, ["d-failed", "d-refused", "d-forwarded"]);
    let refused = deliveries(&b, "/admin/events?outcome=unauthorized").await;
    assert_eq!(refused, ["d-refused"]);
    let failed = deliveries(&b, "/admin/events?route=chatwoot&status=5xx").await;
    assert_eq!(failed, ["d-failed"]);
    let one = deliveries(&b, "/admin/events?delivery_id=d-forwarded").await;
    assert_eq!(one, ["d-forwarded"]);
    // A refused body is never kept, so the text is in two records only.
    let with_text = deliveries(&b, "/admin/events?q=message_created").await;
    assert_eq!(with_text, ["d-failed", "d-forwarded"]);
    let later = deliveries(&b, &format!("/admin/events?since_ms={}", now_ms() + 60_000)).await;
    assert!(later.is_empty(), "{later:?}");

    let first = admin_json(&b, "/admin/events?limit=2").await;
    let next = first["next"].as_str().unwrap();
    let rest = deliveries(&b, &format!("/admin/events?limit=2&before={next}")).await;
    assert_eq!(rest, ["d-forwarded"]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn on_redis_a_route_keeps_at_most_max_events_records() {
    let Some(url) = redis_url() else { return };
    let prefix = own_prefix();
    let downstream = Downstream::start().await;
    let config = on_redis(&downstream, &url, &prefix, ", max_events = 2");
    let app = spawn_app(&config).await;
    post(&app, SECRET, "d-1").await;
    eventually("the first record is listed", || async {
        deliveries(&app, "/admin/events").await == ["d-1"]
    })
    .await;
    let oldest = listed(&app, "/admin/events").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    for id in ["d-2", "d-3", "d-4"] {
        post(&app, SECRET, id).await;
    }

    eventually("the newest two records are kept", || async {
        deliveries(&app, "/admin/events").await == ["d-4", "d-3"]
    })
    .await;
    let gone = admin(&app, &format!("/admin/events/{oldest}")).await;
    assert_eq!(
        gone.status(),
        404,
        "a trimmed record is deleted, not only unlisted"
    );
    app.stop().await;
}

#[tokio::test]
async fn with_redis_down_the_event_log_drops_and_counts_records_and_requests_are_served() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("redis://{}", listener.local_addr().unwrap());
    drop(listener);
    let downstream = Downstream::start().await;
    let app = spawn_app(&on_redis(&downstream, &down, &own_prefix(), "")).await;

    assert_eq!(post(&app, SECRET, "d-while-down").await.status(), 200);

    eventually("the record Redis could not take is counted", || async {
        dropped(&app).await > 0.0
    })
    .await;
    let listing = admin(&app, "/admin/events").await;
    assert_eq!(
        listing.status(),
        503,
        "the log cannot be read for now, and says so as the queue's endpoints do"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_redis_that_hangs_costs_records_counted_and_the_log_is_written_again_once_it_is_back() {
    let Some(mut redis) = ThrowawayRedis::start().await else {
        return;
    };
    let downstream = Downstream::start().await;
    let app = spawn_app(&on_redis(&downstream, &redis.url(), &own_prefix(), "")).await;
    post(&app, SECRET, "d-before").await;
    eventually("the first record is listed", || async {
        deliveries(&app, "/admin/events").await == ["d-before"]
    })
    .await;

    redis.pause();
    assert_eq!(post(&app, SECRET, "d-while-hung").await.status(), 200);
    eventually("the record Redis did not answer for is counted", || async {
        dropped(&app).await > 0.0
    })
    .await;

    redis.restart().await;
    eventually("records are written again", || async {
        post(&app, SECRET, "d-after").await;
        let listing = admin(&app, "/admin/events?delivery_id=d-after").await;
        listing.status() == 200 && {
            let page: Value = listing.json().await.unwrap();
            !page["events"].as_array().unwrap().is_empty()
        }
    })
    .await;
    app.stop().await;
}

/// `hookgate_event_log_dropped_total`.
async fn dropped(app: &TestApp) -> f64 {
    app.metric("hookgate_event_log_dropped_total").await
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}
