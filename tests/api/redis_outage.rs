//! A Redis outage (killed, or hanging): a sync route forwards without dedupe
//! and a queued route answers 503 at once, not after the Redis client's
//! reconnect attempts or a long timeout; both are back to normal soon after
//! Redis is, and the gateway still stops cleanly. Each test runs a Redis of
//! its own, which it kills and restarts.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinSet;

use support::*;

const BY_DELIVERY: &str = r#"dedupe = { key = "header:X-Chatwoot-Delivery" }"#;
/// The gateway aims at its usual latency plus 0.5 s; 2 s leaves room for a
/// loaded machine, and a request stalled on reconnects (9 s) fails it.
const AT_ONCE: Duration = Duration::from_secs(2);
/// The gateway tries Redis again a second after a failure.
const RECOVERY: Duration = Duration::from_secs(2);

/// A gateway whose chatwoot route dedupes on a Redis of the test's own.
struct OnOwnRedis {
    redis: ThrowawayRedis,
    app: TestApp,
    downstream: Downstream,
}

/// The gateway on a new Redis, with one delivery through it (the connection
/// made); `None` (a skip) without `redis-server`.
async fn on_own_redis(delivery: &str) -> Option<OnOwnRedis> {
    let redis = ThrowawayRedis::start().await?;
    let downstream = Downstream::start().await;
    let keys = format!("delivery = \"{delivery}\"\n{BY_DELIVERY}");
    let config = format!(
        "{}\n[store]\nbackend = \"redis\"\nurl = \"{}\"\nprefix = \"outage:\"\n",
        chatwoot_config(&downstream.url("/hook"), &keys),
        redis.url()
    );
    let app = spawn_app(&config).await;
    let first = post(&app, "before-the-outage").await;
    assert!(first.status().is_success(), "{}", first.status());
    Some(OnOwnRedis {
        redis,
        app,
        downstream,
    })
}

/// POSTs the sample event, validly signed, as delivery `delivery`.
async fn post(app: &TestApp, delivery: &str) -> reqwest::Response {
    let mut headers = chatwoot_headers(SECRET, now_secs(), EVENT);
    headers[2].1 = delivery.to_string();
    app.post(CHATWOOT_PATH, &headers, EVENT).await
}

/// [`post`], and how long the gateway took to answer.
async fn timed_post(app: &TestApp, delivery: &str) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = post(app, delivery).await;
    (response, started.elapsed())
}

fn new_delivery() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn a_sync_dedupe_route_forwards_every_request_at_once_while_redis_is_killed() {
    let Some(mut test) = on_own_redis("sync").await else {
        return;
    };

    test.redis.kill();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (response, took) = timed_post(&test.app, &new_delivery()).await;
        answers.push((response.status().as_u16(), took));
    }

    for (n, (status, took)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "request {n}: {answers:?}");
        assert!(*took < AT_ONCE, "request {n} took {took:?}: {answers:?}");
    }
    assert_eq!(test.downstream.received().len(), 6);
    test.app.stop().await;
}

#[tokio::test]
async fn under_load_a_sync_dedupe_route_answers_every_request_at_once_while_redis_is_killed() {
    let Some(mut test) = on_own_redis("sync").await else {
        return;
    };
    let app = std::sync::Arc::new(test.app);

    test.redis.kill();
    let mut requests = JoinSet::new();
    for _ in 0..20 {
        let app = app.clone();
        requests.spawn(async move {
            let (response, took) = timed_post(&app, &new_delivery()).await;
            (response.status().as_u16(), took)
        });
    }
    let answers = requests.join_all().await;

    for (status, took) in &answers {
        assert_eq!(*status, 200, "{answers:?}");
        assert!(*took < AT_ONCE, "{answers:?}");
    }
    let app = std::sync::Arc::into_inner(app).expect("every request has ended");
    app.stop().await;
}

#[tokio::test]
async fn a_queued_route_on_redis_answers_503_with_retry_after_at_once_while_redis_is_killed() {
    let Some(mut test) = on_own_redis("queued").await else {
        return;
    };

    test.redis.kill();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (response, took) = timed_post(&test.app, &new_delivery()).await;
        let retry_after = response.headers().get("retry-after").cloned();
        answers.push((response.status().as_u16(), retry_after, took));
    }

    for (n, (status, retry_after, took)) in answers.iter().enumerate() {
        assert_eq!(*status, 503, "request {n}: {answers:?}");
        assert!(retry_after.is_some(), "request {n}: {answers:?}");
        assert!(*took < AT_ONCE, "request {n} took {took:?}: {answers:?}");
    }
    test.app.stop().await;
}

#[tokio::test]
async fn a_queued_route_on_redis_answers_503_at_once_when_redis_stops_answering() {
    let Some(test) = on_own_redis("queued").await else {
        return;
    };

    test.redis.pause();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (response, took) = timed_post(&test.app, &new_delivery()).await;
        answers.push((response.status().as_u16(), took));
    }

    for (n, (status, took)) in answers.iter().enumerate() {
        assert_eq!(*status, 503, "request {n}: {answers:?}");
        assert!(*took < AT_ONCE, "request {n} took {took:?}: {answers:?}");
    }
    test.app.stop().await;
}

#[tokio::test]
async fn once_redis_is_back_a_sync_route_dedupes_again_within_two_seconds() {
    let Some(mut test) = on_own_redis("sync").await else {
        return;
    };
    test.redis.kill();
    assert_eq!(post(&test.app, &new_delivery()).await.status(), 200);

    test.redis.restart().await;
    let back = Instant::now();
    eventually("a redelivery is answered as a duplicate", || async {
        let delivery = new_delivery();
        post(&test.app, &delivery).await;
        let again: Value = post(&test.app, &delivery).await.json().await.unwrap();
        again["duplicate"] == true
    })
    .await;

    let took = back.elapsed();
    assert!(took < RECOVERY, "dedupe was back {took:?} after Redis");
    test.app.stop().await;
}

#[tokio::test]
async fn once_redis_is_back_a_queued_route_accepts_again_within_two_seconds() {
    let Some(mut test) = on_own_redis("queued").await else {
        return;
    };
    test.redis.kill();
    assert_eq!(post(&test.app, &new_delivery()).await.status(), 503);

    test.redis.restart().await;
    let back = Instant::now();
    eventually("an event is accepted", || async {
        post(&test.app, &new_delivery()).await.status() == 202
    })
    .await;

    let took = back.elapsed();
    assert!(took < RECOVERY, "queueing was back {took:?} after Redis");
    test.app.stop().await;
}
