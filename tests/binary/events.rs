//! `hookgate events`: the event log read from its file beside a running
//! gateway, or from Redis.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::*;

use crate::process::{Gateway, hookgate, serve, write_config};

fn events(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = hookgate()
        .arg("events")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    (output.status.success(), format!("{stdout}{stderr}"))
}

/// A chatwoot route to `downstream`, its store (and event log) in `dir`.
fn config_in(dir: &tempfile::TempDir, downstream: &Downstream) -> std::path::PathBuf {
    let text = format!(
        "{}\n[store]\npath = {:?}\n",
        chatwoot_config(&downstream.url("/hook"), ""),
        dir.path().join("hookgate.db").display().to_string()
    );
    write_config(dir, &text)
}

#[tokio::test]
async fn events_ls_and_show_read_what_the_gateway_logged() {
    let downstream = Downstream::start().await;
    downstream.answer_with(502);
    downstream.answer_body("agent down");
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(&dir, &downstream);
    let (_gateway, addr) = serve(&config);
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("http://{addr}{CHATWOOT_PATH}"))
        .body(EVENT);
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 500);

    let mut listed = String::new();
    eventually("the record is on disk", || {
        let (ok, out) = events(&config, &["ls", "--route", "chatwoot"]);
        listed = out;
        let found = ok && listed.contains("downstream_error");
        async move { found }
    })
    .await;
    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (ok, shown) = events(&config, &["show", id]);

    assert!(ok, "{shown}");
    assert!(shown.contains("downstream answered 502"), "{shown}");
    assert!(
        shown.contains(std::str::from_utf8(EVENT).unwrap()),
        "{shown}"
    );
    assert!(
        shown.contains("502 in") && shown.contains("agent down"),
        "{shown}"
    );
    assert!(
        shown.contains("x-chatwoot-signature: <redacted>"),
        "{shown}"
    );
    let (ok, missing) = events(&config, &["show", "no-such-id"]);
    assert!(
        !ok && missing.contains("no event `no-such-id`"),
        "{missing}"
    );
}

/// `hookgate events tail ARGS`, its lines sent to the receiver as printed.
fn tail(config: &std::path::Path, args: &[&str]) -> (Gateway, mpsc::Receiver<String>) {
    let mut child = hookgate()
        .args(["events", "tail"])
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    (Gateway(child), lines)
}

#[tokio::test]
async fn events_tail_prints_a_slow_request_s_record_after_those_of_faster_ones_that_came_later() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(&dir, &downstream);
    let (_gateway, addr) = serve(&config);
    let (_tail, lines) = tail(&config, &["--route", "chatwoot"]);
    let post = |client: reqwest::Client| {
        let mut request = client
            .post(format!("http://{addr}{CHATWOOT_PATH}"))
            .body(EVENT);
        for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().status() }
    };
    let client = reqwest::Client::new();

    // Past the route's 2 s timeout: its record is written two seconds after
    // its id was made, and after the next request's.
    downstream.delay(Duration::from_secs(5));
    let slow = tokio::spawn(post(client.clone()));
    eventually("the slow request reached the downstream", || async {
        downstream.received().len() == 1
    })
    .await;
    downstream.delay(Duration::ZERO);
    assert_eq!(post(client).await, 200);
    let mut printed = Vec::new();
    eventually("tail printed the fast request", || {
        printed.extend(lines.try_iter());
        let found = printed.iter().any(|l| l.contains("forwarded"));
        async move { found }
    })
    .await;
    assert_eq!(slow.await.unwrap(), 500);

    eventually("tail printed the slow request too", || {
        printed.extend(lines.try_iter());
        let records = printed.iter().filter(|l| l.contains("chatwoot")).count();
        async move { records == 2 }
    })
    .await;
}

/// What `hookgate queue ls --route chatwoot` prints.
fn queue_ls(config: &std::path::Path) -> String {
    let output = hookgate()
        .args(["queue", "ls", "--route", "chatwoot", "--config"])
        .arg(config)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// `hookgate events replay ARGS`: success and what it printed.
fn replay(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    events(config, &[&["replay"], args].concat())
}

#[tokio::test]
async fn events_replay_works_with_the_gateway_stopped_and_beside_a_running_one() {
    let downstream = Downstream::start().await;
    downstream.answer_with(502);
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(&dir, &downstream);
    let (gateway, addr) = serve(&config);
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("http://{addr}{CHATWOOT_PATH}"))
        .body(EVENT);
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 500);
    let id = downstream.received()[0].headers["x-hookgate-event-id"]
        .to_str()
        .unwrap()
        .to_string();
    eventually("the record is on disk", || {
        let (ok, out) = events(&config, &["ls", "--outcome", "downstream_error"]);
        async move { ok && out.contains("downstream_error") }
    })
    .await;
    drop(gateway);
    downstream.answer_with(200);

    let (stopped_ok, stopped) = replay(&config, &[&id]);
    let (_gateway, _) = serve(&config);
    eventually("the restarted gateway delivers the replay", || async {
        downstream.received().len() == 2
    })
    .await;
    // The delivery is recorded (its row deleted) just after the downstream
    // answers: a replay before that finds the event still queued.
    eventually("the delivered replay has left the queue", || {
        let left = {
            let queued = queue_ls(&config);
            queued.contains("0 pending") && !queued.contains(id.as_str())
        };
        async move { left }
    })
    .await;
    eventually("the replay's delivery is in the log", || {
        let (_, shown) = events(&config, &["show", &id]);
        async move { shown.matches("attempt at").count() == 2 }
    })
    .await;
    // Every failure of the route, again: this one was delivered since.
    let (skipped_ok, skipped) = replay(&config, &["--route", "chatwoot", "--status", "5xx"]);
    let (running_ok, running) = replay(&config, &[&id]);
    eventually("the running gateway delivers the second replay", || async {
        downstream.received().len() == 3
    })
    .await;
    let (unfiltered_ok, unfiltered) = replay(&config, &["--route", "chatwoot"]);

    assert!(
        stopped_ok && stopped.contains("replayed event"),
        "{stopped}"
    );
    assert!(
        skipped_ok
            && skipped.contains("replayed 0 events")
            && skipped.contains("1 delivered since"),
        "{skipped}"
    );
    assert!(
        running_ok && running.contains("replayed event"),
        "{running}"
    );
    assert!(
        !unfiltered_ok && unfiltered.contains("at least one filter"),
        "{unfiltered}"
    );
    for replayed in &downstream.received()[1..] {
        assert_eq!(replayed.headers["x-hookgate-event-id"], id.as_str());
        assert_eq!(replayed.body, EVENT);
    }
}

#[tokio::test]
async fn events_ls_show_and_replay_read_the_log_on_redis_and_an_all_sync_gateway_delivers_the_replay()
 {
    let Some(url) = redis_url() else { return };
    let prefix = format!("test-log-cli-{}:", uuid::Uuid::new_v4().simple());
    let downstream = Downstream::start().await;
    downstream.answer_with(502);
    let dir = tempfile::tempdir().unwrap();
    // Every route is sync: the running gateway still delivers what the CLI
    // replays into Redis.
    let text = format!(
        "{}\n[store]\npath = {:?}\nbackend = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"\n",
        chatwoot_config(&downstream.url("/hook"), "log = { retention = \"10m\" }"),
        dir.path().join("hookgate.db").display().to_string()
    );
    let config = write_config(&dir, &text);
    let (_gateway, addr) = serve(&config);
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("http://{addr}{CHATWOOT_PATH}"))
        .body(EVENT);
    for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 500);
    let id = downstream.received()[0].headers["x-hookgate-event-id"]
        .to_str()
        .unwrap()
        .to_string();

    eventually("the record is on Redis", || {
        let (ok, out) = events(&config, &["ls", "--outcome", "downstream_error"]);
        let id = id.clone();
        async move { ok && out.contains(&id) }
    })
    .await;
    let (shown_ok, shown) = events(&config, &["show", &id]);
    downstream.answer_with(200);
    let (replayed_ok, replayed) = replay(&config, &[&id]);
    eventually("the gateway delivers the replay", || async {
        downstream.received().len() == 2
    })
    .await;

    assert!(
        shown_ok && shown.contains("downstream answered 502"),
        "{shown}"
    );
    assert!(
        replayed_ok && replayed.contains("replayed event"),
        "{replayed}"
    );
    assert!(
        !dir.path().join("hookgate-events.db").exists(),
        "no SQLite log beside a Redis one"
    );
    assert_eq!(downstream.received()[1].body, EVENT);
}
