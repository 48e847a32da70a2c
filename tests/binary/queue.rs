//! Queued delivery with the built binary: SIGKILL under load then a restart
//! loses no event answered 202, and `hookgate queue` works on the store.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

use crate::process::{Gateway, hookgate, serve};
/// Concurrent clients posting while the gateway is killed.
const CLIENTS: usize = 8;
/// Events answered 202 before the kill.
const ACCEPTED_BEFORE_KILL: usize = 150;

/// A queued chatwoot route with short backoffs unless `extra` sets `retry`.
fn queued_config(downstream: &Downstream, dir: &Path, extra: &str) -> String {
    let retry = match extra.contains("retry") {
        true => "",
        false => r#"retry = { initial_backoff = "100ms", max_backoff = "500ms" }"#,
    };
    let keys = format!("delivery = \"queued\"\nconcurrency = 2\n{retry}\n{extra}");
    format!(
        "{}\n[store]\npath = \"{}\"\n",
        chatwoot_config(&downstream.url("/hook"), &keys),
        dir.join("hookgate.db").display()
    )
}

/// Posts signed events until `stop`; records the id of every 202.
async fn post_until(addr: String, stop: Arc<AtomicBool>, accepted: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}{CHATWOOT_PATH}");
    for _ in 0..200 {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut request = client.post(&url).body(EVENT);
        for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
            request = request.header(name, value);
        }
        let Ok(response) = request.send().await else {
            return; // killed
        };
        if response.status() == 202 {
            if let Ok(body) = response.json::<Value>().await {
                let id = body["id"].as_str().unwrap().to_string();
                accepted.lock().unwrap().push(id);
            }
        }
    }
}

/// Posts from `CLIENTS` clients until `ACCEPTED_BEFORE_KILL` events were
/// answered 202, SIGKILLs the gateway with requests and attempts in flight,
/// and returns the ids of every event answered 202.
async fn accept_then_kill((mut gateway, addr): (Gateway, String)) -> HashSet<String> {
    let (stop, accepted) = (Arc::new(AtomicBool::new(false)), Arc::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(post_until(
                addr.clone(),
                stop.clone(),
                Arc::clone(&accepted),
            ))
        })
        .collect();
    eventually(
        format!("{ACCEPTED_BEFORE_KILL} events answered 202"),
        || async { accepted.lock().unwrap().len() >= ACCEPTED_BEFORE_KILL },
    )
    .await;
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    accepted.lock().unwrap().iter().cloned().collect()
}

fn delivered_ids(downstream: &Downstream) -> HashSet<String> {
    downstream
        .received()
        .iter()
        .filter_map(|r| r.headers.get("x-hookgate-event-id"))
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_event_answered_202_is_delivered_after_a_sigkill_and_a_restart() {
    let downstream = Downstream::start().await;
    // Slow enough that a backlog is stored when the gateway is killed.
    downstream.delay(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    std::fs::write(&config, queued_config(&downstream, dir.path(), "")).unwrap();
    let accepted = accept_then_kill(serve(&config)).await;
    let delivered_before_restart = delivered_ids(&downstream).len();
    let (mut restarted, _) = serve(&config);

    let missing = missing_after(&downstream, &accepted).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    assert!(accepted.len() >= ACCEPTED_BEFORE_KILL, "{}", accepted.len());
    assert!(
        delivered_before_restart < accepted.len(),
        "no backlog at the kill: the restart proved nothing"
    );
    assert!(
        missing.is_empty(),
        "{} of {} events answered 202 never arrived: {missing:?}",
        missing.len(),
        accepted.len()
    );
}

#[tokio::test]
async fn every_event_answered_202_reaches_each_of_two_destinations_after_a_sigkill() {
    let (agent, archive) = (Downstream::start().await, Downstream::start().await);
    // Slow enough that both queues hold a backlog when the gateway is killed.
    agent.delay(Duration::from_millis(30));
    archive.delay(Duration::from_millis(60));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let routes = queued_config(&agent, dir.path(), "")
        .replace(&format!("downstream = \"{}\"\n", agent.url("/hook")), "");
    let tables = format!(
        "\n[routes.chatwoot.destinations.agent]\nurl = \"{}\"\n\
         \n[routes.chatwoot.destinations.archive]\nurl = \"{}\"\n",
        agent.url("/agent"),
        archive.url("/archive")
    );
    std::fs::write(
        &config,
        routes.replacen("\n[store]", &format!("{tables}\n[store]"), 1),
    )
    .unwrap();
    let accepted = accept_then_kill(serve(&config)).await;
    let before = (delivered_ids(&agent).len(), delivered_ids(&archive).len());
    let (mut restarted, _) = serve(&config);

    let missing_at_agent = missing_after(&agent, &accepted).await;
    let missing_at_archive = missing_after(&archive, &accepted).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
    assert!(
        before.0 < accepted.len() && before.1 < accepted.len(),
        "no backlog at the kill: the restart proved nothing ({before:?} of {})",
        accepted.len()
    );
    assert!(missing_at_agent.is_empty() && missing_at_archive.is_empty());
}

/// Waits until every id in `accepted` reached the downstream; the ids missing.
async fn missing_after(downstream: &Downstream, accepted: &HashSet<String>) -> Vec<String> {
    let missing = || {
        let delivered = delivered_ids(downstream);
        accepted.difference(&delivered).cloned().collect::<Vec<_>>()
    };
    eventually(
        format!("all {} events answered 202 delivered", accepted.len()),
        || async { missing().is_empty() },
    )
    .await;
    missing()
}

/// The ids of events taken by a consumer of the route's group and not
/// acknowledged: attempts the kill interrupted.
async fn abandoned(url: &str, prefix: &str) -> HashSet<String> {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let stream = format!("{prefix}queue:chatwoot:stream");
    let taken: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(&stream)
        .arg("hookgate")
        .arg("-")
        .arg("+")
        .arg(1000)
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut ids = HashSet::new();
    for (entry, ..) in taken {
        let range: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&stream)
            .arg(&entry)
            .arg(&entry)
            .query_async(&mut connection)
            .await
            .unwrap();
        ids.extend(range.ids.iter().filter_map(|e| e.get::<String>("id")));
    }
    ids
}

/// Ids of the events the downstream received since `since`.
fn delivered_since(downstream: &Downstream, since: Instant) -> HashSet<String> {
    downstream
        .received()
        .iter()
        .filter(|r| r.at >= since)
        .filter_map(|r| r.headers.get("x-hookgate-event-id"))
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn on_redis_events_queued_by_a_killed_instance_are_delivered_by_another() {
    let Some(url) = redis_url() else { return };
    let downstream = Downstream::start().await;
    // Slow enough that attempts are in flight and a backlog waits at the kill.
    downstream.delay(Duration::from_millis(50));
    let prefix = format!("kill-{}:", uuid::Uuid::new_v4().simple());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let keys = "delivery = \"queued\"\nconcurrency = 2";
    let text = format!(
        "{}\n[store]\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n\
         visibility_timeout = \"3s\"\n",
        chatwoot_config(&downstream.url("/hook"), keys)
    );
    std::fs::write(&config, text).unwrap();
    let accepted = accept_then_kill(serve(&config)).await;
    let delivered_by_the_first = delivered_ids(&downstream).len();
    let abandoned = abandoned(&url, &prefix).await;

    let second_started = Instant::now();
    let (mut second, _) = serve(&config);
    let missing = missing_after(&downstream, &accepted).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let reclaimed = delivered_since(&downstream, second_started);

    assert!(accepted.len() >= ACCEPTED_BEFORE_KILL, "{}", accepted.len());
    assert!(
        delivered_by_the_first < accepted.len(),
        "no backlog at the kill: the other instance proved nothing"
    );
    assert!(
        !abandoned.is_empty(),
        "no attempt in flight at the kill: nothing to reclaim"
    );
    let lost: Vec<_> = abandoned.difference(&reclaimed).collect();
    assert!(
        lost.is_empty(),
        "attempts cut by the kill, never made again: {lost:?}"
    );
    assert!(
        missing.is_empty(),
        "{} of {} events answered 202 never arrived: {missing:?}",
        missing.len(),
        accepted.len()
    );
}

fn hookgate_queue(config: &Path, args: &[&str]) -> String {
    let output = hookgate()
        .arg("queue")
        .args(args)
        .args(["--route", "chatwoot", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stdout}{stderr}");
    stdout
}

#[tokio::test]
async fn hookgate_queue_lists_replays_and_purges_a_routes_events() {
    let downstream = Downstream::start().await;
    downstream.answer_with(500);
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(&downstream, dir.path(), "retry = { max_attempts = 1 }");
    let app = spawn_app(&text).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body: Value = app.post_event().await.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    eventually("both events attempted", || async {
        downstream.received().len() >= 2
    })
    .await;
    // Stop the gateway's delivery so that only the command changes the store.
    app.stop().await;
    // The same config, in a file that outlives the stopped app's.
    let config = &dir.path().join("routes.toml");
    std::fs::write(config, &text).unwrap();

    let listed = hookgate_queue(config, &["ls"]);
    let replayed = hookgate_queue(config, &["replay", "--id", &ids[0]]);
    let after_replay = hookgate_queue(config, &["ls"]);
    let purged = hookgate_queue(config, &["purge"]);
    let purged_all = hookgate_queue(config, &["purge", "--all"]);
    let emptied = hookgate_queue(config, &["ls"]);

    assert!(listed.contains("0 pending, 2 dead letters"), "{listed}");
    assert!(
        listed.contains(&ids[0]) && listed.contains(&ids[1]),
        "{listed}"
    );
    assert!(listed.contains("downstream answered 500"), "{listed}");
    assert!(replayed.contains("replayed 1 dead letters"), "{replayed}");
    assert!(after_replay.contains("1 pending"), "{after_replay}");
    assert!(after_replay.contains("1 dead letters"), "{after_replay}");
    assert!(purged.contains("purged 1 events"), "{purged}");
    assert!(purged_all.contains("purged 1 events"), "{purged_all}");
    assert!(emptied.contains("0 pending, 0 dead letters"), "{emptied}");
}

#[test]
fn hookgate_queue_refuses_a_store_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.toml");
    let text = format!(
        "{}\n[store]\npath = \"{}\"\n",
        chatwoot_config("http://127.0.0.1:9/hook", "delivery = \"queued\""),
        dir.path().join("absent.db").display()
    );
    std::fs::write(&config, text).unwrap();

    let output = hookgate()
        .args(["queue", "ls", "--route", "chatwoot", "--config"])
        .arg(&config)
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("absent.db: no store there"), "{stderr}");
    assert!(!dir.path().join("absent.db").exists());
}
