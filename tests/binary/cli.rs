//! The built binary as an operator runs it: serve, SIGTERM, check, sign.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

use crate::process::{Gateway, hookgate, serve, serve_with_logs, write_config};

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let downstream = Downstream::start().await;
    downstream.delay(Duration::from_millis(1500));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &chatwoot_config(&downstream.url("/hook"), ""));
    let (mut child, addr) = serve(&config);

    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://{addr}{CHATWOOT_PATH}"))
            .headers(to_header_map(&chatwoot_headers(SECRET, now_secs(), EVENT)))
            .body(EVENT)
            .send()
            .await
    });
    eventually("the request is in flight downstream", || async {
        downstream.received().len() == 1
    })
    .await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

fn to_header_map(headers: &[(&str, String)]) -> reqwest::header::HeaderMap {
    headers
        .iter()
        .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
        .collect()
}

/// `hookgate check --config CONFIG`, run to its end.
fn check(config: &std::path::Path) -> std::process::Output {
    let mut command = hookgate();
    command.arg("check").arg("--config").arg(config);
    command.output().unwrap()
}

#[test]
fn check_prints_the_routes_without_secrets_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let downstream = "http://127.0.0.1:9/hook?token=t0k3n";
    let config = write_config(&dir, &chatwoot_config(downstream, ""));

    let output = check(&config);

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("chatwoot: POST /api/webhooks/chatwoot"),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert!(!stdout.contains("t0k3n"), "{stdout}");
    assert!(stdout.contains("127.0.0.1:9/hook?redacted"), "{stdout}");
}

#[test]
fn check_prints_each_destination_without_its_headers_or_signing_key() {
    let dir = tempfile::tempdir().unwrap();
    let text = chatwoot_config("http://127.0.0.1:9/agent?token=t0k3n", "").replace(
        "downstream = ",
        "[routes.chatwoot.destinations.agent]\nprimary = true\n\
         headers = { Authorization = \"Bearer h3ad3r\" }\n\
         filter = { \"json:/event\" = \"message_created\" }\nurl = ",
    ) + "\n[routes.chatwoot.destinations.archive]\nurl = \"http://127.0.0.1:9/archive\"\n\
          sign = { scheme = \"standard-webhooks\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }\n\
          rate_limit = \"20/s\"\n";
    let config = write_config(&dir, &text);

    let output = check(&config);

    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("2 destinations"), "{stdout}");
    assert!(
        stdout.contains("agent -> http://127.0.0.1:9/agent?redacted [primary, filtered, 1 added header(s) <redacted>]"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("archive -> http://127.0.0.1:9/archive [queued, signed (standard-webhooks), at most 20/s]"),
        "{stdout}"
    );
    for secret in ["t0k3n", "h3ad3r", "whsec_", SECRET] {
        assert!(!stdout.contains(secret), "{secret} in {stdout}");
    }
}

/// Asserts that `hookgate check` refuses `text` (exit 1), saying each of `lines`.
fn assert_check_refuses(text: &str, lines: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, text);

    let output = check(&config);

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for line in lines {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
}

#[test]
fn check_lists_every_error_and_exits_1() {
    assert_check_refuses(
        &chatwoot_config("ftp://nowhere", "max_body_bytes = 0"),
        &[
            "route `chatwoot`, field `downstream`",
            "route `chatwoot`, field `max_body_bytes`",
        ],
    );
}

#[test]
fn check_prints_the_warnings_of_a_file_it_refuses_too() {
    let weak = "\n[routes.legacy]\npath = \"/legacy\"\ndownstream = \"http://127.0.0.1:9/x\"\n\
                signature = { scheme = \"hmac\", header = \"X-Sig\", algorithm = \"sha1\", secret = \"s\" }\n";
    assert_check_refuses(
        &(chatwoot_config("ftp://nowhere", "") + weak),
        &[
            "route `chatwoot`, field `downstream`",
            "warning: route `legacy`, field `signature.algorithm`",
        ],
    );
}

#[test]
fn check_refuses_a_missing_file_naming_it() {
    let output = hookgate()
        .args(["check", "--config", "/nonexistent/routes.toml"])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("/nonexistent/routes.toml: cannot read the config"),
        "{stderr}"
    );
}

#[tokio::test]
async fn headers_from_sign_are_accepted_by_the_gateway() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &chatwoot_config(&downstream.url("/hook"), ""));
    let body_file = dir.path().join("event.json");
    std::fs::write(&body_file, EVENT).unwrap();
    let output = hookgate()
        .args(["sign", "--route", "chatwoot", "--config"])
        .arg(&config)
        .arg(&body_file)
        .output()
        .unwrap();
    assert!(output.status.success());
    let signed: Vec<(String, String)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            l.split_once(": ")
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .unwrap()
        })
        .collect();
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let headers: Vec<(&str, String)> = signed
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    let response = app.post(CHATWOOT_PATH, &headers, EVENT).await;

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn what_sign_prints_for_a_token_route_is_accepted_by_the_gateway() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_route = |name: &str, place: &str| {
        format!(
            "[routes.{name}]\npath = \"/{name}\"\ndownstream = \"{}\"\n\
             signature = {{ scheme = \"token\", {place}, secret = \"a+b token/1\" }}\n",
            downstream.url("/hook")
        )
    };
    let text = [
        chatwoot_config(&downstream.url("/hook"), ""),
        token_route("in-query", "query = \"token\""),
        token_route("in-header", "header = \"X-Webhook-Token\""),
    ]
    .concat();
    let config = write_config(&dir, &text);
    let sign = |route: &str| {
        let output = hookgate()
            .args(["sign", "--route", route, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        (
            stdout.trim_end().to_string(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let app = spawn_app(&text).await;

    let (query, note) = sign("in-query");
    assert_eq!(query, "?token=a%2Bb%20token%2F1");
    assert!(note.contains("takes its token in the query"), "{note}");
    let response = app.post(&format!("/in-query{query}"), &[], EVENT).await;
    assert_eq!(response.status(), 200);

    let (header, _) = sign("in-header");
    let (name, value) = header.split_once(": ").unwrap();
    assert_eq!(name, "x-webhook-token");
    let response = app.post("/in-header", &[(name, value.into())], EVENT).await;
    assert_eq!(response.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn sighup_reloads_even_an_unchanged_file() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &chatwoot_config(&downstream.url("/hook"), ""));
    let (mut child, addr) = serve(&config);
    let health = || async {
        let url = format!("http://{addr}/healthz");
        let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        body["config_generation"].as_u64().unwrap()
    };
    assert_eq!(health().await, 1);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );

    eventually("config generation 2", || async { health().await == 2 }).await;
    let generation = health().await;
    child.kill().unwrap();
    assert_eq!(generation, 2);
}

#[tokio::test]
async fn a_route_failing_longer_than_alert_after_logs_one_escalation() {
    let downstream = Downstream::start().await;
    downstream.answer_with(500);
    let dir = tempfile::tempdir().unwrap();
    let text = chatwoot_config(&downstream.url("/hook"), "alert_after = \"300ms\"");
    let config = write_config(&dir, &text);
    let (mut child, addr, logs) = serve_with_logs(&config);
    let client = reqwest::Client::new();
    for _ in 0..3 {
        client
            .post(format!("http://{addr}{CHATWOOT_PATH}"))
            .headers(to_header_map(&chatwoot_headers(SECRET, now_secs(), EVENT)))
            .body(EVENT)
            .send()
            .await
            .unwrap();
        // The subject of the test: failures spread over longer than
        // alert_after (300 ms).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let is_escalation = |e: &Value| {
        e["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("escalate")
    };
    // Logs are written by a thread of their own, which a kill would stop
    // before it wrote the line: wait for it first.
    let mut escalations: Vec<Value> = Vec::new();
    eventually("the escalation is logged", || {
        escalations.extend(logs.try_iter().filter(is_escalation));
        let logged = !escalations.is_empty();
        async move { logged }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    escalations.extend(logs.iter().filter(is_escalation));
    assert_eq!(escalations.len(), 1, "{escalations:?}");
    assert_eq!(escalations[0]["level"], "WARN");
    assert_eq!(escalations[0]["fields"]["route"], "chatwoot");
    assert_eq!(escalations[0]["fields"]["last_status"], "Some(500)");
}

#[test]
fn hookgate_environment_variables_override_keys_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &chatwoot_config("http://127.0.0.1:9/hook", ""));

    let output = hookgate()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("HOOKGATE_ROUTES__CHATWOOT__ENABLED", "false")
        .env("HOOKGATE_SERVER__LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("listen 127.0.0.1:9999"), "{stdout}");
    assert!(stdout.contains("DISABLED"), "{stdout}");
}

#[tokio::test]
async fn a_downstream_answer_cannot_forge_a_text_log_line() {
    let downstream = Downstream::start().await;
    downstream.answer_with(500);
    downstream.answer_body("no\n2026-01-01T00:00:00Z  INFO forged: all good\u{1b}[2J");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &chatwoot_config(&downstream.url("/hook"), ""));
    let mut child = Gateway(
        hookgate()
            .args(["serve", "--log-format", "text", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let next = || lines.recv_timeout(PATIENCE).expect("a log line in time");
    let addr = loop {
        if let Some((_, rest)) = next().split_once("hookgate::server: listening addr=") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let post = |secret: &str| {
        reqwest::Client::new()
            .post(format!("http://{addr}{CHATWOOT_PATH}"))
            .headers(to_header_map(&chatwoot_headers(secret, now_secs(), EVENT)))
            .body(EVENT)
            .send()
    };

    let failed = post(SECRET).await.unwrap();
    // A second request, refused, whose log line marks the end of the first's.
    let refused = post("not-the-secret").await.unwrap();
    let mut logged = vec![next()];
    while !logged.last().unwrap().contains("signature rejected") {
        logged.push(next());
    }

    let statuses = (failed.status().as_u16(), refused.status().as_u16());
    assert_eq!(statuses, (500, 401));
    let forged = |line: &String| line.starts_with("2026-01-01T00:00:00Z");
    assert!(!logged.iter().any(forged), "{logged:?}");
    assert!(
        !logged.iter().any(|line| line.contains('\u{1b}')),
        "{logged:?}"
    );
}
