//! `POST /admin/routes/{name}/replay` with event log filters: every record
//! of the route they select delivered again through the queue, with its
//! original bytes and event id.

use serde_json::Value;

use support::*;

const TOKEN: &str = "admin-token-for-replay-tests";

fn config(downstream: &Downstream) -> String {
    let config = chatwoot_config(&downstream.url("/hook"), "");
    format!("{config}\n[admin]\ntoken = \"{TOKEN}\"\n")
}

/// `POST /admin/routes/chatwoot/replay?<query>`: its status and body.
async fn replay(app: &TestApp, query: &str) -> (u16, Value) {
    let url = app.admin_url(&format!("/admin/routes/chatwoot/replay?{query}"));
    let response = app
        .client
        .post(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The ids of the route's records with `outcome`, once there are `count`.
async fn logged(app: &TestApp, outcome: &str, count: usize) -> Vec<String> {
    let url = app.admin_url(&format!("/admin/events?route=chatwoot&outcome={outcome}"));
    let ids = || async {
        let request = app.client.get(&url).bearer_auth(TOKEN);
        let page: Value = request.send().await.unwrap().json().await.unwrap();
        let events = page["events"].as_array().unwrap().iter();
        events
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    eventually(format!("{count} records `{outcome}`"), || async {
        ids().await.len() == count
    })
    .await;
    ids().await
}

/// The event ids the downstream received, in order.
fn event_ids(downstream: &Downstream) -> Vec<String> {
    let received = downstream.received();
    let ids = received.iter().map(|r| &r.headers["x-hookgate-event-id"]);
    ids.map(|id| id.to_str().unwrap().to_string()).collect()
}

/// Waits until the newest attempt of each event `ids` in the log is delivered.
async fn each_delivered_in_log(app: &TestApp, ids: &[String]) {
    eventually("each replay's delivery is in the log", || async {
        let mut delivered = 0;
        for id in ids {
            let url = app.admin_url(&format!("/admin/events/{id}"));
            let request = app.client.get(url).bearer_auth(TOKEN);
            let record: Value = request.send().await.unwrap().json().await.unwrap();
            let attempts = record["attempts"].as_array().unwrap();
            delivered += usize::from(attempts.last().is_some_and(|a| a["status"] == 200));
        }
        delivered == ids.len()
    })
    .await;
}

/// Three events failed downstream, one forwarded, one refused.
async fn three_failed_one_forwarded_one_refused(app: &TestApp, downstream: &Downstream) {
    downstream.answer_with(500);
    for _ in 0..3 {
        assert_eq!(app.post_event().await.status(), 500);
    }
    downstream.answer_with(200);
    assert_eq!(app.post_event().await.status(), 200);
    let forged = chatwoot_headers("not-the-secret", now_secs(), EVENT);
    assert_eq!(app.post(CHATWOOT_PATH, &forged, EVENT).await.status(), 401);
}

#[tokio::test]
async fn replaying_by_outcome_redelivers_every_failed_event_byte_exact_with_its_id() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    three_failed_one_forwarded_one_refused(&app, &downstream).await;
    let mut failed = logged(&app, "downstream_error", 3).await;
    logged(&app, "unauthorized", 1).await;

    let (status, body) = replay(&app, "outcome=downstream_error").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 3, "{body}");
    assert_eq!(body["skipped"]["no_body"], 0, "{body}");
    eventually("the three replays reach the downstream", || async {
        downstream.received().len() == 4 + 3
    })
    .await;
    let mut replayed = event_ids(&downstream)[4..].to_vec();
    replayed.sort();
    failed.sort();
    assert_eq!(replayed, failed);
    assert!(downstream.received()[4..].iter().all(|r| r.body == EVENT));
}

#[tokio::test]
async fn a_second_replay_by_filter_does_not_deliver_again_what_the_first_delivered() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    three_failed_one_forwarded_one_refused(&app, &downstream).await;
    let failed = logged(&app, "downstream_error", 3).await;
    let first = replay(&app, "outcome=downstream_error").await;
    each_delivered_in_log(&app, &failed).await;

    let again = replay(&app, "outcome=downstream_error").await;

    assert_eq!(first.1["replayed"], 3, "{}", first.1);
    assert_eq!(again.1["replayed"], 0, "{}", again.1);
    assert_eq!(again.1["skipped"]["delivered"], 3, "{}", again.1);
    assert_eq!(downstream.received().len(), 4 + 3);
}

#[tokio::test]
async fn a_replay_by_filter_stops_at_its_limit_oldest_first_and_goes_on_after_the_id_it_gives() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    three_failed_one_forwarded_one_refused(&app, &downstream).await;
    // Newest first: the last two are the oldest.
    let failed = logged(&app, "downstream_error", 3).await;

    let (status, first) = replay(&app, "outcome=downstream_error&limit=2").await;
    // At once: the two it queued may be delivered, not yet logged as such.
    let next = first["next"].as_str().unwrap_or_default().to_string();
    let (_, rest) = replay(
        &app,
        &format!("outcome=downstream_error&limit=2&after={next}"),
    )
    .await;

    assert_eq!((status, &first["replayed"]), (200, &2.into()), "{first}");
    assert_eq!(next, failed[1], "{first}");
    assert_eq!(rest["replayed"], 1, "{rest}");
    let skipped =
        serde_json::json!({"no_body": 0, "already_queued": 0, "filtered": 0, "delivered": 0});
    assert_eq!(rest["skipped"], skipped, "looked only after `next`: {rest}");
    assert!(rest["next"].is_null(), "{rest}");
    eventually("the three replays reach the downstream", || async {
        downstream.received().len() == 4 + 3
    })
    .await;
    let mut replayed = event_ids(&downstream)[4..].to_vec();
    replayed.sort();
    let mut expected = failed.clone();
    expected.sort();
    assert_eq!(replayed, expected, "each once");
    app.stop().await;
}

#[tokio::test]
async fn a_replay_by_filter_skips_records_without_a_body_and_events_still_queued() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    three_failed_one_forwarded_one_refused(&app, &downstream).await;
    logged(&app, "downstream_error", 3).await;
    logged(&app, "unauthorized", 1).await;
    // Replays that fail wait for their retry in the queue.
    downstream.answer_with(503);

    let refused = replay(&app, "status=4xx").await;
    let first = replay(&app, "status=5xx").await;
    let again = replay(&app, "status=5xx").await;

    assert_eq!(refused.1["replayed"], 0, "{}", refused.1);
    assert_eq!(refused.1["skipped"]["no_body"], 1, "{}", refused.1);
    assert_eq!(first.1["replayed"], 3, "{}", first.1);
    assert_eq!(again.1["replayed"], 0, "{}", again.1);
    assert_eq!(again.1["skipped"]["already_queued"], 3, "{}", again.1);
}

#[tokio::test]
async fn time_and_delivery_filters_narrow_the_replay_and_no_filter_replays_dead_letters_as_before()
{
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    three_failed_one_forwarded_one_refused(&app, &downstream).await;
    logged(&app, "downstream_error", 3).await;

    let long_ago = replay(&app, "outcome=downstream_error&until_ms=1").await;
    let unknown = replay(&app, "delivery_id=no-such-delivery").await;
    let unfiltered = replay(&app, "").await;
    let empty = replay(&app, "outcome=&delivery_id=").await;
    let both = replay(&app, "id=x&outcome=downstream_error").await;

    assert_eq!(long_ago.1["replayed"], 0, "{}", long_ago.1);
    assert_eq!(unknown.1["replayed"], 0, "{}", unknown.1);
    assert_eq!(
        unfiltered,
        (200, serde_json::json!({"success": true, "replayed": 0}))
    );
    assert_eq!(empty, unfiltered, "empty filters are no filters");
    assert_eq!(both.0, 400, "{}", both.1);
    assert_eq!(downstream.received().len(), 4);
}
