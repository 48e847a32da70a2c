//! A stalled event log: its writer blocked on a lock held by another
//! connection drops and counts records, never slows a request, and writes
//! again once the lock is released.

use std::time::{Duration, Instant};

use serde_json::Value;

use hookgate::events::{BACKLOG, BUSY_TIMEOUT};
use support::*;

const TOKEN: &str = "admin-token-for-stall-tests";

/// More requests than the writer's batch (1,024) and its channel hold.
const REQUESTS: usize = BACKLOG + 2048;
/// Requests in flight at once.
const CLIENTS: usize = 16;

fn config(downstream: &Downstream) -> String {
    let config = chatwoot_config(&downstream.url("/hook"), "");
    format!("{config}\n[admin]\ntoken = \"{TOKEN}\"\n")
}

/// The event log's file: beside the store `spawn_app` puts in the config's directory.
fn log_file(app: &TestApp) -> std::path::PathBuf {
    app.config_path.with_file_name("hookgate-events.db")
}

/// The listed records carrying the source's delivery id `id`.
async fn listing(app: &TestApp, id: &str) -> Value {
    let url = app.admin_url(&format!("/admin/events?delivery_id={id}"));
    let response = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    let page: Value = response.json().await.unwrap();
    page["events"].clone()
}

/// How many records carry the source's delivery id `id`.
async fn logged(app: &TestApp, id: &str) -> usize {
    listing(app, id).await.as_array().map_or(0, Vec::len)
}

/// `hookgate_event_log_dropped_total`.
async fn dropped(app: &TestApp) -> f64 {
    app.metric("hookgate_event_log_dropped_total").await
}

/// `hookgate_event_log_waiting_bytes`.
async fn waiting_bytes(app: &TestApp) -> f64 {
    app.metric("hookgate_event_log_waiting_bytes").await
}

/// Posts a signed event whose delivery id is `id`.
async fn post_with_delivery_id(app: &TestApp, id: &str) {
    post_body_with_delivery_id(app, id, EVENT).await;
}

/// Posts `body`, signed, with the delivery id `id`.
async fn post_body_with_delivery_id(app: &TestApp, id: &str, body: &[u8]) {
    let mut headers = chatwoot_headers(SECRET, now_secs(), body);
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-chatwoot-delivery"));
    headers.push(("X-Chatwoot-Delivery", id.to_string()));
    assert_eq!(app.post(CHATWOOT_PATH, &headers, body).await.status(), 200);
}

/// The listed record carrying the delivery id `id`.
async fn listed(app: &TestApp, id: &str) -> Value {
    listing(app, id).await[0].clone()
}

/// Posts events with the delivery id `id` until one is in the log: one
/// posted while the channel is still full is dropped, as it should be.
async fn post_until_logged(app: &TestApp, id: &str) {
    eventually(format!("an event `{id}` in the log"), || async {
        post_with_delivery_id(app, id).await;
        logged(app, id).await > 0
    })
    .await;
}

/// Logs a first record, then takes the log's write lock, on which the
/// writer waits as long as the returned connection holds it.
async fn stall(app: &TestApp) -> rusqlite::Connection {
    post_until_logged(app, "before-the-stall").await;
    let holder = rusqlite::Connection::open(log_file(app)).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    holder
}

/// Sends [`REQUESTS`] refused (wrongly signed) events, [`CLIENTS`] at a
/// time, and returns the longest any took to be answered.
async fn flood(app: &TestApp) -> Duration {
    let forged = chatwoot_headers("not-the-secret", now_secs(), EVENT);
    let clients = (0..CLIENTS).map(|_| {
        let (client, url, forged) = (app.client.clone(), app.url(CHATWOOT_PATH), forged.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for _ in 0..REQUESTS / CLIENTS {
                let mut request = client.post(&url).body(EVENT);
                for (name, value) in &forged {
                    request = request.header(*name, value);
                }
                let started = Instant::now();
                let status = request.send().await.unwrap().status();
                slowest = slowest.max(started.elapsed());
                assert_eq!(status, 401);
            }
            slowest
        })
    });
    let mut slowest = Duration::ZERO;
    for client in clients.collect::<Vec<_>>() {
        slowest = slowest.max(client.await.unwrap());
    }
    slowest
}

#[tokio::test]
async fn a_stalled_event_log_drops_and_counts_records_without_slowing_a_request() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    let holder = stall(&app).await;

    let slowest = flood(&app).await;

    // The writer waits BUSY_TIMEOUT per batch; a request waiting on it
    // would take at least that long.
    assert!(
        slowest < BUSY_TIMEOUT / 2,
        "a request took {slowest:?} while the log was stalled"
    );
    eventually("the records that did not fit are counted", || async {
        dropped(&app).await > 0.0
    })
    .await;
    assert!(
        waiting_bytes(&app).await > 0.0,
        "the records held for the stalled writer are shown"
    );
    post_with_delivery_id(&app, "during-the-stall").await;
    assert_eq!(
        logged(&app, "during-the-stall").await,
        0,
        "the log is stalled"
    );

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    post_until_logged(&app, "after-the-stall").await;
    eventually("no record waits once the writer is through", || async {
        waiting_bytes(&app).await == 0.0
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn once_8_mib_of_records_wait_a_record_is_logged_without_its_body_rather_than_dropped() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&config(&downstream)).await;
    let holder = stall(&app).await;
    // JSON of 1,000 KiB: nine such records wait with their bodies (the
    // eight before the ninth hold less than 8 MiB), the tenth without.
    let mut body = br#"{"event":"message_created","padding":""#.to_vec();
    body.resize(1000 * 1024 - 2, b'x');
    body.extend_from_slice(b"\"}");

    let mut posted = 0;
    while app.metric("hookgate_event_log_bodies_shed_total").await == 0.0 {
        assert!(
            posted < 12,
            "no body shed after {posted} records of 1,000 KiB"
        );
        post_body_with_delivery_id(&app, &format!("big-{posted}"), &body).await;
        posted += 1;
    }
    // Released well within the writer's BUSY_TIMEOUT: none of its batches is given up.
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    assert_eq!(posted, 10);
    let last = format!("big-{}", posted - 1);
    eventually(
        "the records are written once the lock is released",
        || async { logged(&app, &last).await == 1 },
    )
    .await;
    assert_eq!(listed(&app, "big-0").await["replayable"], true);
    let shed = listed(&app, &last).await;
    assert_eq!(
        (&shed["replayable"], &shed["status"]),
        (&false.into(), &200.into()),
        "{shed}"
    );
    assert_eq!(dropped(&app).await, 0.0);
    app.stop().await;
}
