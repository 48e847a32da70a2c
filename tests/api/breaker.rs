//! A destination's circuit breaker: a downstream down for longer than every
//! event's whole retry schedule makes no dead letter and costs few
//! attempts, shows in `/admin/status` and the metrics, and every event is
//! delivered once it is back.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-breaker-tests";
/// Three attempts over about 300 ms per event; the breaker opens at three
/// failures in a row and probes every 200 ms, then every 400 ms.
const KEYS: &str = r#"delivery = "queued"
concurrency = 4
retry = { max_attempts = 3, initial_backoff = "100ms", max_backoff = "200ms" }
breaker = { failures = 3, cooldown = "200ms", max_cooldown = "400ms" }"#;
const FAILURES: usize = 3;
const CONCURRENCY: usize = 4;
const MAX_ATTEMPTS: usize = 3;
const COOLDOWN: Duration = Duration::from_millis(200);
const EVENTS: usize = 4;
const OPEN: &str = r#"hookgate_destination_breaker_open{route="chatwoot",destination="default"}"#;

async fn admin_json(app: &TestApp, path: &str) -> Value {
    let request = app.client.get(app.admin_url(path)).bearer_auth(TOKEN);
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The route's only destination in `/admin/status`.
async fn destination(app: &TestApp) -> Value {
    let status = admin_json(app, "/admin/status").await;
    status["routes"][0]["destinations"][0].clone()
}

async fn metrics(app: &TestApp) -> String {
    app.get_text("/metrics").await
}

/// POSTs the sample event and returns the id of its 202.
async fn accepted(app: &TestApp) -> String {
    let response = app.post_event().await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

fn delivered_ids(received: &[Recorded]) -> HashSet<String> {
    let id = |r: &Recorded| {
        r.headers["x-hookgate-event-id"]
            .to_str()
            .unwrap()
            .to_string()
    };
    received.iter().map(id).collect()
}

#[tokio::test]
async fn an_outage_longer_than_the_retry_schedule_makes_no_dead_letter_and_few_attempts() {
    let downstream = Downstream::start().await;
    downstream.answer_with(503);
    let config = format!(
        "{}\n[admin]\ntoken = \"{TOKEN}\"\n",
        chatwoot_config(&downstream.url("/hook"), KEYS)
    );
    let app = spawn_app(&config).await;
    let mut ids = HashSet::new();
    for _ in 0..EVENTS {
        ids.insert(accepted(&app).await);
    }

    eventually("the breaker opens", || async {
        destination(&app).await["breaker"]["state"] == "open"
    })
    .await;
    let open = destination(&app).await["breaker"].clone();
    assert!(
        open["open_since"].is_string() && open["next_probe_at"].is_string(),
        "{open}"
    );
    assert!(metrics(&app).await.contains(&format!("{OPEN} 1")));
    // As many requests as every event's whole retry schedule allows: past
    // this, without the breaker, every event would be a dead letter.
    eventually("every event's schedule spent on probes", || async {
        downstream.received().len() >= EVENTS * MAX_ATTEMPTS
    })
    .await;
    let queue = admin_json(&app, "/admin/routes/chatwoot/queue").await;
    assert_eq!(
        (&queue["depth"], &queue["dead_letters"]),
        (&EVENTS.into(), &0.into())
    );

    downstream.answer_with(200);
    let recovered_at = Instant::now();

    eventually("every event delivered", || async {
        let queue = admin_json(&app, "/admin/routes/chatwoot/queue").await;
        queue["depth"] == 0 && delivered_ids(&downstream.received()) == ids
    })
    .await;
    let received = downstream.received();
    let failing: Vec<&Recorded> = received.iter().filter(|r| r.at < recovered_at).collect();
    let outage = recovered_at - failing[0].at;
    // Before it opens: the failures in a row, and attempts already in
    // flight then; once open, one probe per cool-down at most.
    let probes = 1 + (outage.as_millis() / COOLDOWN.as_millis()) as usize;
    let bound = FAILURES + (CONCURRENCY - 1) + probes;
    assert!(
        failing.len() <= bound,
        "{} attempts in {outage:?}",
        failing.len()
    );
    let queue = admin_json(&app, "/admin/routes/chatwoot/queue").await;
    assert_eq!(queue["dead_letters"], 0);
    assert_eq!(destination(&app).await["breaker"]["state"], "closed");
    assert!(metrics(&app).await.contains(&format!("{OPEN} 0")));
    app.stop().await;
}

#[tokio::test]
async fn a_bad_event_answered_400_does_not_open_the_breaker() {
    let downstream = Downstream::start().await;
    downstream.answer_with(400);
    let config = format!(
        "{}\n[admin]\ntoken = \"{TOKEN}\"\n",
        chatwoot_config(&downstream.url("/hook"), KEYS)
    );
    let app = spawn_app(&config).await;
    for _ in 0..EVENTS {
        accepted(&app).await;
    }

    eventually("every event a dead letter", || async {
        let queue = admin_json(&app, "/admin/routes/chatwoot/queue").await;
        queue["dead_letters"] == EVENTS
    })
    .await;

    assert_eq!(downstream.received().len(), EVENTS * MAX_ATTEMPTS);
    let breaker = destination(&app).await["breaker"].clone();
    assert_eq!(
        (&breaker["state"], &breaker["consecutive_failures"]),
        (&"closed".into(), &0.into())
    );
    app.stop().await;
}
