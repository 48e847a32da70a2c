//! Destinations: fan-out with the exact bytes, filters, a sync primary with
//! queued mirrors, each destination's own queue and dead letters, added
//! headers, and the gateway's own Standard Webhooks signature.

use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-destination-tests";
const SIGNING_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MESSAGE: &[u8] = br#"{"event":"message_created","id":1,"content":"hi"}"#;
const CONVERSATION: &[u8] = br#"{"event":"conversation_created","id":2}"#;

/// A chatwoot route delivered `delivery`, with `destinations` tables.
fn config(delivery: &str, destinations: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
workers = 1

[routes.chatwoot]
path = "{CHATWOOT_PATH}"
delivery = "{delivery}"
timeout = "2s"
retry = {{ initial_backoff = "50ms", max_backoff = "200ms" }}
signature = {{ scheme = "chatwoot", secret = "{SECRET}" }}
{destinations}

[admin]
token = "{TOKEN}"
"#
    )
}

/// `[routes.chatwoot.destinations.NAME]` sending to `downstream`, with `keys`.
fn destination(name: &str, downstream: &Downstream, keys: &str) -> String {
    format!(
        "\n[routes.chatwoot.destinations.{name}]\nurl = \"{}\"\n{keys}\n",
        downstream.url(&format!("/{name}"))
    )
}

/// POSTs `body` to the chatwoot route, validly signed now.
async fn post(app: &TestApp, body: &[u8]) -> reqwest::Response {
    let headers = chatwoot_headers(SECRET, now_secs(), body);
    app.post(CHATWOOT_PATH, &headers, body).await
}

/// `GET /admin/routes/chatwoot/queue` with `query`.
async fn queue_view(app: &TestApp, query: &str) -> Value {
    let url = app.admin_url(&format!("/admin/routes/chatwoot/queue{query}"));
    let response = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `POST url` with the admin token.
async fn admin_post(app: &TestApp, url: String) -> reqwest::Response {
    let request = app.client.post(url).bearer_auth(TOKEN);
    request.send().await.unwrap()
}

fn event_id(recorded: &Recorded) -> String {
    let id = recorded
        .headers
        .get("x-hookgate-event-id")
        .expect("an event id");
    id.to_str().unwrap().to_string()
}

#[tokio::test]
async fn one_event_reaches_two_destinations_with_the_same_bytes_and_event_id() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    let tables = destination("agent", &agent, "") + &destination("archive", &archive, "");
    let app = spawn_app(&config("queued", &tables)).await;

    let response = post(&app, MESSAGE).await;

    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    eventually("both destinations received the event", || async {
        !agent.received().is_empty() && !archive.received().is_empty()
    })
    .await;
    let (a, b) = (&agent.received()[0], &archive.received()[0]);
    assert_eq!((a.path.as_str(), b.path.as_str()), ("/agent", "/archive"));
    assert_eq!((&a.body[..], &b.body[..]), (MESSAGE, MESSAGE));
    assert_eq!(event_id(a), answer["id"].as_str().unwrap());
    assert_eq!(event_id(a), event_id(b));
}

#[tokio::test]
async fn a_filter_sends_only_messages_to_the_agent_and_everything_to_the_archive() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    // One at a time, in order: once the message arrives, anything stored
    // before it for the agent would have arrived first.
    let filter = "filter = { \"json:/event\" = [\"message_created\", \"message_updated\"] }\nconcurrency = 1";
    let tables = destination("agent", &agent, filter) + &destination("archive", &archive, "");
    let app = spawn_app(&config("queued", &tables)).await;

    assert_eq!(post(&app, CONVERSATION).await.status(), 202);
    assert_eq!(post(&app, MESSAGE).await.status(), 202);

    eventually("the archive has both, the agent the message", || async {
        archive.received().len() == 2 && !agent.received().is_empty()
    })
    .await;
    let to_agent: Vec<Vec<u8>> = agent.received().into_iter().map(|r| r.body).collect();
    assert_eq!(to_agent, [MESSAGE.to_vec()]);
}

#[tokio::test]
async fn an_event_no_destination_wants_is_answered_filtered_and_reaches_nobody() {
    let agent = Downstream::start().await;
    let filter = "filter = { \"json:/event\" = \"message_created\" }";
    let app = spawn_app(&config("sync", &destination("agent", &agent, filter))).await;

    let filtered = post(&app, CONVERSATION).await;
    assert_eq!(filtered.status(), 200);
    let body: Value = filtered.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success": true, "processed": false, "filtered": true})
    );
    let processed = post(&app, MESSAGE).await;
    assert_eq!(processed.status(), 200);

    let bodies: Vec<Vec<u8>> = agent.received().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies, [MESSAGE.to_vec()]);
    let metrics = app.get_text("/metrics").await;
    let counted = metrics
        .lines()
        .any(|l| l.contains("outcome=\"filtered\"") && l.ends_with(" 1"));
    assert!(counted, "{metrics}");
}

#[tokio::test]
async fn the_sync_answer_follows_the_primary_while_a_down_mirror_loses_nothing() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    archive.answer_with(503);
    let tables =
        destination("agent", &agent, "primary = true") + &destination("archive", &archive, "");
    let app = spawn_app(&config("sync", &tables)).await;

    let response = post(&app, MESSAGE).await;

    assert_eq!(
        response.status(),
        200,
        "the mirror's outage does not change the answer"
    );
    assert_eq!(
        agent.received().len(),
        1,
        "the primary was called while the source waited"
    );
    eventually("the mirror was tried", || async {
        !archive.received().is_empty()
    })
    .await;
    archive.answer_with(200);
    eventually("the mirror's copy is delivered", || async {
        let view = queue_view(&app, "?destination=archive").await;
        view["depth"] == 0 && view["dead_letters"] == 0
    })
    .await;
    let last = archive.received().pop().unwrap();
    assert_eq!(last.body, MESSAGE);
    assert_eq!(event_id(&last), event_id(&agent.received()[0]));
}

#[tokio::test]
async fn a_failing_primary_answers_500_but_its_mirror_still_gets_the_event() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    agent.answer_with(500);
    let tables =
        destination("agent", &agent, "primary = true") + &destination("archive", &archive, "");
    let app = spawn_app(&config("sync", &tables)).await;

    assert_eq!(post(&app, MESSAGE).await.status(), 500);

    eventually("the mirror got the event", || async {
        !archive.received().is_empty()
    })
    .await;
    assert_eq!(
        agent.received().len(),
        1,
        "the primary is not retried by the gateway"
    );
}

#[tokio::test]
async fn a_replay_reaches_the_recovered_primary_while_the_mirror_keeps_the_copy_it_had() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    agent.answer_with(500);
    let tables =
        destination("agent", &agent, "primary = true") + &destination("archive", &archive, "");
    // Delivered events are kept: the mirror's copy stays in its queue.
    let config = config("sync", &tables).replace(
        "timeout = \"2s\"\n",
        "timeout = \"2s\"\nretention = \"1h\"\n",
    );
    let app = spawn_app(&config).await;
    assert_eq!(post(&app, MESSAGE).await.status(), 500);
    eventually("the mirror got the event", || async {
        !archive.received().is_empty()
            && queue_view(&app, "?destination=archive").await["depth"] == 0
    })
    .await;
    agent.answer_with(200);
    let id = event_id(&archive.received()[0]);
    eventually("the event is in the log", || async {
        let url = app.admin_url(&format!("/admin/events/{id}"));
        let found = app.client.get(url).bearer_auth(TOKEN).send().await;
        found.unwrap().status() == 200
    })
    .await;

    eventually("the mirror's delivery is in the log", || async {
        let attempts = logged(&app, &id).await["attempts"].clone();
        attempts.as_array().unwrap().len() == 2
    })
    .await;
    let before = logged(&app, &id).await;
    assert_eq!(
        before["delivered_at"],
        Value::Null,
        "the mirror's copy alone: {before}"
    );

    let url = app.admin_url(&format!("/admin/events/{id}/replay"));
    let replayed = admin_post(&app, url).await;

    assert_eq!(replayed.status(), 200);
    assert_eq!(queue_view(&app, "?destination=archive").await["depth"], 0);
    eventually("the primary got the replay", || async {
        agent.received().len() == 2
    })
    .await;
    assert_eq!(event_id(&agent.received()[1]), id);
    eventually("the event is delivered to both", || async {
        logged(&app, &id).await["delivered_at"].is_string()
    })
    .await;
}

/// `GET /admin/events/{id}`.
async fn logged(app: &TestApp, id: &str) -> Value {
    let url = app.admin_url(&format!("/admin/events/{id}"));
    let found = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    found.json().await.unwrap()
}

#[tokio::test]
async fn one_destination_down_keeps_its_own_dead_letters_while_the_other_delivers() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    archive.answer_with(500);
    // A breaker that never opens here: opened, it would hold the events
    // back rather than let them become dead letters (see breaker.rs).
    let archive_keys = "retry = { max_attempts = 2, initial_backoff = \"50ms\", max_backoff = \"50ms\" }\n\
                        breaker = { failures = 100 }";
    let tables = destination("agent", &agent, "") + &destination("archive", &archive, archive_keys);
    let app = spawn_app(&config("queued", &tables)).await;

    for _ in 0..3 {
        assert_eq!(post(&app, MESSAGE).await.status(), 202);
    }

    eventually("the archive's three events are dead letters", || async {
        queue_view(&app, "?destination=archive").await["dead_letters"] == 3
    })
    .await;
    assert_eq!(
        agent.received().len(),
        3,
        "the agent got every event meanwhile"
    );
    assert_eq!(
        archive.received().len(),
        6,
        "two attempts each: the archive's own retry"
    );
    let view = queue_view(&app, "").await;
    let dead: Vec<&str> = (view["dead"].as_array().unwrap().iter())
        .map(|d| d["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dead, ["archive"; 3]);
    assert_eq!(view["destinations"][0]["dead_letters"], 0, "{view}");

    archive.answer_with(200);
    let url = app.admin_url("/admin/routes/chatwoot/replay?destination=archive");
    let replayed = admin_post(&app, url).await;
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["replayed"], 3, "{replayed}");
    eventually("the replayed dead letters are delivered", || async {
        queue_view(&app, "").await["dead_letters"] == 0 && queue_view(&app, "").await["depth"] == 0
    })
    .await;
    assert_eq!(
        agent.received().len(),
        3,
        "the agent's events were not replayed"
    );
}

#[tokio::test]
async fn the_gateways_signature_verifies_with_the_standard_webhooks_library() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    let sign = format!("sign = {{ scheme = \"standard-webhooks\", secret = \"{SIGNING_KEY}\" }}");
    let tables = destination(
        "agent",
        &agent,
        "primary = true\nheaders = { Authorization = \"Bearer agent-token\" }",
    ) + &destination("archive", &archive, &sign);
    let app = spawn_app(&config("sync", &tables)).await;

    assert_eq!(post(&app, MESSAGE).await.status(), 200);

    eventually("the archive received the event", || async {
        !archive.received().is_empty()
    })
    .await;
    let signed = &archive.received()[0];
    let webhook = standardwebhooks::Webhook::new(SIGNING_KEY).unwrap();
    webhook
        .verify(&signed.body, &signed.headers)
        .expect("the reference library accepts the gateway's signature");
    assert_eq!(
        signed.headers["webhook-id"].to_str().unwrap(),
        event_id(signed)
    );
    assert!(
        signed.headers.get("authorization").is_none(),
        "headers are per destination"
    );
    let plain = &agent.received()[0];
    assert_eq!(plain.headers["authorization"], "Bearer agent-token");
    assert!(plain.headers.get("webhook-signature").is_none());
    let status = app
        .client
        .get(app.admin_url("/admin/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("\"signed\":true"), "{status}");
    assert!(
        !status.contains("agent-token") && !status.contains("whsec_"),
        "{status}"
    );
}

/// Writes `text` as the config and waits until it is served.
async fn reload(app: &TestApp, text: &str) {
    let before = app.config_generation().await;
    std::fs::write(&app.config_path, text).unwrap();
    eventually("the edit is served", || async {
        app.config_generation().await > before
    })
    .await;
}

#[tokio::test]
async fn a_removed_destinations_stored_events_are_kept_until_it_is_back() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    archive.answer_with(503);
    let archive_table = destination("archive", &archive, "");
    let tables = destination("agent", &agent, "") + &archive_table;
    let app = spawn_app(&config("queued", &tables)).await;
    let events: [&[u8]; 2] = [MESSAGE, CONVERSATION];
    for event in events {
        assert_eq!(post(&app, event).await.status(), 202);
    }
    eventually("the archive was tried", || async {
        !archive.received().is_empty()
    })
    .await;
    let with_archive = std::fs::read_to_string(&app.config_path).unwrap();

    reload(&app, &with_archive.replace(&archive_table, "")).await;
    assert_eq!(post(&app, MESSAGE).await.status(), 202);
    eventually("the agent has all three", || async {
        agent.received().len() == 3
    })
    .await;
    let removed_view = queue_view(&app, "").await;
    assert_eq!(removed_view["destinations"].as_array().unwrap().len(), 1);
    reload(&app, &with_archive).await;
    let before = archive.received().len();
    archive.answer_with(200);

    eventually("the archive's two kept events are delivered", || async {
        let view = queue_view(&app, "?destination=archive").await;
        view["depth"] == 0 && view["dead_letters"] == 0
    })
    .await;
    let since_back = archive.received().split_off(before);
    let ids: std::collections::BTreeSet<String> = since_back.iter().map(event_id).collect();
    assert_eq!(
        ids.len(),
        2,
        "the two kept events, not the one posted meanwhile"
    );
    let bodies: Vec<&[u8]> = since_back.iter().map(|r| &r.body[..]).collect();
    assert!(bodies.contains(&CONVERSATION) && bodies.contains(&MESSAGE));
}

#[tokio::test]
async fn on_redis_each_destination_has_its_own_queue_and_dead_letters() {
    let Some(url) = redis_url() else { return };
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    archive.answer_with(500);
    let prefix = format!("dest-{}:", uuid::Uuid::new_v4().simple());
    let archive_keys = "retry = { max_attempts = 1 }";
    let tables = destination("agent", &agent, "") + &destination("archive", &archive, archive_keys);
    let store = format!("\n[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n");
    let app = spawn_app(&(config("queued", &tables) + &store)).await;

    assert_eq!(post(&app, MESSAGE).await.status(), 202);

    eventually("the archive's copy is a dead letter", || async {
        queue_view(&app, "?destination=archive").await["dead_letters"] == 1
    })
    .await;
    eventually("the agent got its copy", || async {
        agent.received().len() == 1
    })
    .await;
    assert_eq!(
        event_id(&agent.received()[0]),
        event_id(&archive.received()[0])
    );
    assert_eq!(
        queue_view(&app, "?destination=agent").await["dead_letters"],
        0
    );
}
