//! Queued delivery: 202 once the event is on disk, delivery in the
//! background with retries and backoff, pause and resume, dead letters and
//! replay, the ingest bound.

use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

mod to_sync;

const TOKEN: &str = "admin-token-for-queue-tests";
/// Short waits so that retries happen within a test.
const FAST_RETRY: &str = r#"retry = { initial_backoff = "50ms", max_backoff = "200ms" }"#;

/// A gateway whose chatwoot route is queued, with its store in its own directory.
struct Queued {
    app: TestApp,
    downstream: Downstream,
    _store: tempfile::TempDir,
}

/// `extra` route keys; `FAST_RETRY` unless they set `retry` themselves.
fn queued_config(downstream: &Downstream, store: &tempfile::TempDir, extra: &str) -> String {
    let retry = if extra.contains("retry") {
        ""
    } else {
        FAST_RETRY
    };
    let keys = format!("delivery = \"queued\"\n{retry}\n{extra}");
    format!(
        "{}\n[store]\npath = \"{}\"\n\n[admin]\ntoken = \"{TOKEN}\"\n",
        chatwoot_config(&downstream.url("/hook"), &keys),
        store.path().join("hookgate.db").display()
    )
}

async fn spawn_queued(extra: &str) -> Queued {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let app = spawn_app(&queued_config(&downstream, &store, extra)).await;
    Queued {
        app,
        downstream,
        _store: store,
    }
}

/// `GET /admin/routes/chatwoot/queue`.
async fn queue_view(app: &TestApp) -> Value {
    let url = app.admin_url("/admin/routes/chatwoot/queue");
    let response = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `POST /admin/routes/chatwoot/replay?id=ID`.
async fn replay(app: &TestApp, id: &str) -> reqwest::Response {
    let url = app.admin_url(&format!("/admin/routes/chatwoot/replay?id={id}"));
    app.client
        .post(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

/// POSTs the sample event and returns the event id of its 202.
async fn accepted(app: &TestApp) -> String {
    let response = app.post_event().await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["success"], &body["queued"]),
        (&true.into(), &true.into())
    );
    body["id"].as_str().unwrap().to_string()
}

fn event_ids(downstream: &Downstream) -> Vec<String> {
    downstream
        .received()
        .iter()
        .map(|r| {
            r.headers["x-hookgate-event-id"]
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_queued_route_answers_202_and_delivers_once_the_downstream_recovers() {
    let Queued {
        app, downstream, ..
    } = spawn_queued("").await;
    downstream.answer_with(500);
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers.push(("X-Hookgate-Event-Id", "forged-by-the-source".into()));

    let response = app.post(CHATWOOT_PATH, &headers, EVENT).await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_string();
    eventually("two failed attempts", || async {
        downstream.received().len() >= 2
    })
    .await;
    downstream.answer_with(200);
    eventually("the queue is empty", || async {
        queue_view(&app).await["depth"] == 0
    })
    .await;
    let received = downstream.received();
    assert!(event_ids(&downstream).iter().all(|seen| *seen == id));
    let last = received.last().unwrap();
    assert_eq!(last.body, EVENT);
    assert_eq!(last.headers["x-chatwoot-signature"], headers[0].1.as_str());
    assert_eq!(last.headers["x-hookgate-route"], "chatwoot");
    app.stop().await;
}

#[tokio::test]
async fn retries_wait_for_a_backoff_that_doubles_after_each_failure() {
    let retry = r#"retry = { max_attempts = 3, initial_backoff = "300ms", max_backoff = "10s" }"#;
    let Queued {
        app, downstream, ..
    } = spawn_queued(retry).await;
    downstream.answer_with(503);

    accepted(&app).await;

    eventually("a dead letter", || async {
        queue_view(&app).await["dead_letters"] == 1
    })
    .await;
    let at: Vec<Instant> = downstream.received().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 3, "max_attempts is 3");
    // Jitter keeps each wait between half and all of 300 ms, then of 600 ms.
    let (first, second) = (at[1] - at[0], at[2] - at[1]);
    assert!(first >= Duration::from_millis(150), "{first:?}");
    assert!(second >= Duration::from_millis(300), "{second:?}");
}

#[tokio::test]
async fn a_downstream_retry_after_on_429_replaces_the_backoff() {
    // A backoff of 20 s (10 s at least, with jitter): a second attempt
    // within 10 s can only follow the 1 s Retry-After.
    let retry = r#"retry = { initial_backoff = "20s", max_backoff = "1m" }"#;
    let Queued {
        app, downstream, ..
    } = spawn_queued(retry).await;
    downstream.answer_with(429);
    downstream.retry_after(Some("1"));

    accepted(&app).await;
    eventually("a first, throttled attempt", || async {
        !downstream.received().is_empty()
    })
    .await;
    downstream.answer_with(200);
    downstream.retry_after(None);
    eventually("the queue is empty", || async {
        queue_view(&app).await["depth"] == 0
    })
    .await;

    let at: Vec<Instant> = downstream.received().iter().map(|r| r.at).collect();
    let gap = at[1] - at[0];
    assert!(gap >= Duration::from_millis(900), "{gap:?}");
    assert!(
        gap < Duration::from_secs(10),
        "the backoff, not Retry-After: {gap:?}"
    );
}

#[tokio::test]
async fn a_disabled_queued_route_keeps_storing_and_delivers_once_enabled_again() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let paused = queued_config(&downstream, &store, "enabled = false");
    let app = spawn_app(&paused).await;

    let ids = [accepted(&app).await, accepted(&app).await];

    let view = queue_view(&app).await;
    assert_eq!((&view["depth"], &view["paused"]), (&2.into(), &true.into()));
    // Time for a delivery that should not happen: no event proves that a
    // paused worker has decided not to deliver, so this wait stays.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(downstream.received().is_empty(), "paused, yet delivered");
    let resumed = paused.replace("enabled = false", "enabled = true");
    std::fs::write(&app.config_path, resumed).unwrap();
    eventually("both events delivered", || async {
        downstream.received().len() == 2
    })
    .await;
    assert_eq!(event_ids(&downstream), ids, "oldest first");
}

#[tokio::test]
async fn an_event_failing_every_attempt_becomes_a_dead_letter_that_replay_delivers() {
    let Queued {
        app, downstream, ..
    } = spawn_queued(r#"retry = { max_attempts = 2, initial_backoff = "50ms" }"#).await;
    downstream.answer_with(500);
    let id = accepted(&app).await;
    eventually("a dead letter", || async {
        queue_view(&app).await["dead_letters"] == 1
    })
    .await;
    let dead = &queue_view(&app).await["dead"][0];
    assert_eq!(
        (&dead["id"], &dead["attempts"]),
        (&id.clone().into(), &2.into())
    );
    assert!(
        dead["last_error"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    downstream.answer_with(200);

    let replay = replay(&app, &id).await;

    assert_eq!(replay.status(), 200);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["replayed"], 1);
    eventually("delivered after the replay", || async {
        let view = queue_view(&app).await;
        view["depth"] == 0 && view["dead_letters"] == 0 && downstream.received().len() == 3
    })
    .await;
    assert_eq!(event_ids(&downstream), [id.clone(), id.clone(), id]);
    app.stop().await;
}

#[tokio::test]
async fn replaying_an_unknown_dead_letter_is_a_404() {
    let Queued { app, .. } = spawn_queued("").await;

    let replay = app
        .client
        .post(app.admin_url("/admin/routes/chatwoot/replay?id=no-such-event"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(replay.status(), 404);
}

#[tokio::test]
async fn past_max_queued_the_route_answers_503_with_retry_after() {
    let Queued { app, .. } = spawn_queued("enabled = false\nmax_queued = 2").await;
    accepted(&app).await;
    accepted(&app).await;

    let refused = app.post_event().await;

    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "30");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "queue is full");
    assert_eq!(queue_view(&app).await["depth"], 2);
}

#[tokio::test]
async fn queue_metrics_follow_ingest_attempts_and_dead_letters() {
    let Queued {
        app, downstream, ..
    } = spawn_queued(r#"retry = { max_attempts = 2, initial_backoff = "50ms" }"#).await;
    downstream.answer_with(500);
    accepted(&app).await;

    let expected = [
        r#"hookgate_requests_total{route="chatwoot",outcome="queued"} 1"#,
        r#"hookgate_delivery_attempts_total{route="chatwoot",result="failed"} 2"#,
        r#"hookgate_dead_letters_total{route="chatwoot"} 1"#,
        r#"hookgate_queue_dead_letters{route="chatwoot"} 1"#,
        r#"hookgate_queue_depth{route="chatwoot"} 0"#,
    ];
    let metrics = || async {
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    };
    eventually("the queue metrics", || async {
        let text = metrics().await;
        expected.iter().all(|line| text.contains(line))
    })
    .await;
}

#[tokio::test]
async fn the_admin_queue_endpoints_need_the_token_a_known_route_and_their_method() {
    let Queued { app, .. } = spawn_queued("").await;
    let get = |path: &str, token: &str| {
        let request = app.client.get(app.admin_url(path)).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };

    let wrong = get("/admin/routes/chatwoot/queue", "guess").await;
    let unknown = get("/admin/routes/nope/queue", TOKEN).await;
    let method = get("/admin/routes/chatwoot/replay", TOKEN).await;
    let purge = app
        .client
        .get(app.admin_url("/admin/routes/chatwoot/dead-letters"));
    let purge = purge.bearer_auth(TOKEN).send().await.unwrap();
    let allow = purge.headers().get("allow").cloned();
    let body: Value = purge.json().await.unwrap();

    assert_eq!((wrong, unknown, method), (401, 404, 405));
    assert_eq!(
        allow.unwrap(),
        "DELETE",
        "the methods the spec lists for the path"
    );
    assert_eq!(
        body,
        serde_json::json!({"success": false, "error": "only DELETE is allowed"})
    );
}

#[tokio::test]
async fn the_spec_documents_202_for_a_queued_route() {
    let Queued { app, .. } = spawn_queued("").await;

    let spec: Value = app.get_json("/openapi.json").await;

    let responses = &spec["paths"][CHATWOOT_PATH]["post"]["responses"];
    assert!(responses["202"].is_object(), "{responses}");
    assert!(
        responses["200"].is_null(),
        "a queued route never answers 200"
    );
    for path in ["/admin/routes/{name}/queue", "/admin/routes/{name}/replay"] {
        assert!(spec["paths"][path].is_object(), "no {path}");
    }
}

#[tokio::test]
async fn a_reload_that_makes_a_route_queued_opens_the_store_and_answers_202() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let queued = queued_config(&downstream, &store, "");
    let app = spawn_app(&queued.replace("delivery = \"queued\"", "")).await;
    assert_eq!(app.post_event().await.status(), 200);

    std::fs::write(&app.config_path, &queued).unwrap();

    eventually("the route answers 202", || async {
        app.post_event().await.status() == 202
    })
    .await;
    assert!(store.path().join("hookgate.db").exists());
    eventually("every event delivered", || async {
        queue_view(&app).await["depth"] == 0
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn events_read_ahead_are_let_go_on_pause_so_a_purge_meanwhile_holds() {
    let downstream = Downstream::start().await;
    downstream.delay(Duration::from_millis(1500));
    let store = tempfile::tempdir().unwrap();
    let paused = queued_config(&downstream, &store, "enabled = false\nconcurrency = 1");
    let running = paused.replace("enabled = false", "enabled = true");
    let app = spawn_app(&paused).await;
    let ids = [
        accepted(&app).await,
        accepted(&app).await,
        accepted(&app).await,
    ];
    // Resumed, the worker starts the first event and reads the second ahead.
    std::fs::write(&app.config_path, &running).unwrap();
    eventually("the first attempt started", || async {
        downstream.received().len() == 1
    })
    .await;

    std::fs::write(&app.config_path, &paused).unwrap();
    eventually("paused", || async {
        queue_view(&app).await["paused"] == true
    })
    .await;
    let sqlite = rusqlite::Connection::open(store.path().join("hookgate.db")).unwrap();
    sqlite
        .execute(
            "DELETE FROM events WHERE id IN (?1, ?2)",
            [&ids[1], &ids[2]],
        )
        .unwrap();
    std::fs::write(&app.config_path, &running).unwrap();
    // Past the first attempt's end (the 1.5 s delay), when a slot frees for
    // the second: the window in which a purged event read ahead would go
    // out. Nothing the gateway shows proves it went idle, so this wait stays.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert_eq!(
        event_ids(&downstream),
        ids[..1],
        "a purged event was delivered"
    );
}

#[tokio::test]
async fn with_redis_unreachable_the_admin_queue_answers_503_like_the_webhook() {
    let downstream = Downstream::start().await;
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let config = format!(
        "{}\n[store]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n\n[admin]\ntoken = \"{TOKEN}\"\n",
        chatwoot_config(&downstream.url("/hook"), "delivery = \"queued\"")
    );
    let app = spawn_app(&config).await;

    let webhook = app.post_event().await;
    let url = app.admin_url("/admin/routes/chatwoot/queue");
    let admin = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();

    assert_eq!(webhook.status(), 503);
    assert_eq!(admin.status(), 503);
    let body: Value = admin.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
}
