//! A destination's pace: a backlog drains at no more than its `rate_limit`
//! (on SQLite, which reads ahead, and on Redis, which does not), and a
//! downstream's `Retry-After` holds back every event of the destination.

use std::time::{Duration, Instant};

use support::*;

/// Events stored while the route is paused.
const BACKLOG: usize = 30;
/// The limit under test, with room for the backlog to go faster.
const LIMITED: &str = "rate_limit = \"5/s\"\nconcurrency = 8";
/// Starts are at least 200 ms apart (a burst of one), so a second of
/// arrivals holds 5; plus 1 when it begins and ends on an arrival, plus 1
/// for a request held up on its way by less than one interval (a loaded CI
/// machine). Without the limit the 30 arrive within a few milliseconds.
const MOST_IN_A_SECOND: usize = 5 + 2;

/// The chatwoot route, queued and paused, with `keys`.
fn paused(downstream: &Downstream, keys: &str) -> String {
    let keys = format!("delivery = \"queued\"\nenabled = false\n{keys}");
    chatwoot_config(&downstream.url("/hook"), &keys)
}

/// The most arrivals within one second of any arrival.
fn busiest_second(received: &[Recorded]) -> usize {
    let mut at: Vec<Instant> = received.iter().map(|r| r.at).collect();
    at.sort();
    let within_a_second = |i: usize| {
        let start = at[i];
        let after = at[i..].iter();
        after
            .take_while(|t| **t - start < Duration::from_secs(1))
            .count()
    };
    (0..at.len()).map(within_a_second).max().unwrap_or(0)
}

/// Stores [`BACKLOG`] events while the route is paused, resumes it, and
/// returns what `downstream` received once every event is delivered.
async fn drain_backlog(config: &str, downstream: &Downstream) -> Vec<Recorded> {
    let app = spawn_app(config).await;
    for _ in 0..BACKLOG {
        assert_eq!(app.post_event().await.status(), 202);
    }
    let resumed = config.replace("enabled = false", "enabled = true");
    std::fs::write(&app.config_path, resumed).unwrap();
    eventually("the backlog delivered", || async {
        downstream.received().len() >= BACKLOG
    })
    .await;
    app.stop().await;
    downstream.received()
}

#[tokio::test]
async fn a_backlog_drains_at_no_more_than_the_rate_limit() {
    let downstream = Downstream::start().await;

    let received = drain_backlog(&paused(&downstream, LIMITED), &downstream).await;

    assert_eq!(received.len(), BACKLOG);
    let busiest = busiest_second(&received);
    assert!(busiest <= MOST_IN_A_SECOND, "{busiest} in one second");
}

#[tokio::test]
async fn on_redis_a_backlog_drains_at_no_more_than_the_rate_limit() {
    let Some(url) = redis_url() else { return };
    let downstream = Downstream::start().await;
    let prefix = format!("test-rate-{}:", uuid::Uuid::new_v4().simple());
    let config = format!(
        "{}\n[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n",
        paused(&downstream, LIMITED)
    );

    let received = drain_backlog(&config, &downstream).await;

    assert_eq!(received.len(), BACKLOG);
    let busiest = busiest_second(&received);
    assert!(busiest <= MOST_IN_A_SECOND, "{busiest} in one second");
}

#[tokio::test]
async fn a_retry_after_on_one_event_holds_back_the_destinations_other_events() {
    // One at a time, so that the throttled attempt ends before another
    // starts (an attempt in flight is not called back).
    let keys = "concurrency = 1";
    let downstream = Downstream::start().await;
    downstream.answer_with(429);
    downstream.retry_after(Some("2"));
    let config = paused(&downstream, keys);
    let app = spawn_app(&config).await;
    for _ in 0..3 {
        assert_eq!(app.post_event().await.status(), 202);
    }

    std::fs::write(
        &app.config_path,
        config.replace("enabled = false", "enabled = true"),
    )
    .unwrap();
    eventually("the first attempt", || async {
        !downstream.received().is_empty()
    })
    .await;
    downstream.answer_with(200);
    downstream.retry_after(None);

    eventually(
        "the throttled event and the two others delivered",
        || async { downstream.received().len() >= 4 },
    )
    .await;
    let at: Vec<Instant> = downstream.received().iter().map(|r| r.at).collect();
    // The pause began when the 429 came back, after it was recorded here.
    let held = at[1] - at[0];
    assert!(
        held >= Duration::from_secs(2),
        "the next event after {held:?}"
    );
    assert_eq!(at.len(), 4, "each event delivered once, after the pause");
    app.stop().await;
}
