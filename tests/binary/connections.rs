//! The gateway near its file-descriptor limit: a connection cap below it,
//! an admin listener that still answers, and accept errors backed off.

use std::net::TcpStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::*;

use crate::process::{Gateway, Listening, hookgate_with_fd_limit, serve_listening, write_config};

const TOKEN: &str = "admin-token-for-connection-tests";
const FD_LIMIT: u32 = 512;
const IDLE_CLIENTS: usize = 600;

/// The admin API on its own listener (port 0 from [`crate::process::hookgate`]).
fn config(downstream: &str, server_keys: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
workers = 1
{server_keys}

[admin]
token = "{TOKEN}"

[routes.open]
path = "/hook"
downstream = "{downstream}"
signature = {{ scheme = "none" }}
"#
    )
}

/// `hookgate serve` under `ulimit -n FD_LIMIT`.
fn serve_near_the_limit(config: &Path) -> (Gateway, Listening, mpsc::Receiver<Value>) {
    serve_listening(hookgate_with_fd_limit(FD_LIMIT), config)
}

/// More idle connections than the process has descriptors.
fn open_idle_connections(addr: &str) -> Vec<TcpStream> {
    (0..IDLE_CLIENTS)
        .map(|_| TcpStream::connect(addr).expect("the listen backlog takes them"))
        .collect()
}

/// CPU seconds `pid` used over `window`.
fn cpu_over(pid: u32, window: Duration) -> f64 {
    let ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Fields after the command name: utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks();
    std::thread::sleep(window);
    (ticks() - before) as f64 / 100.0
}

fn messages(logs: &mpsc::Receiver<Value>) -> Vec<String> {
    logs.try_iter()
        .filter_map(|entry| entry["fields"]["message"].as_str().map(str::to_string))
        .collect()
}

async fn post_webhook(addr: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let response = client
        .post(format!("http://{addr}/hook"))
        .body("{}")
        .send()
        .await;
    response.ok().map(|r| r.status().as_u16())
}

#[tokio::test]
async fn near_its_descriptor_limit_the_gateway_caps_connections_and_the_admin_api_still_answers() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, &config(&downstream.url("/in"), ""));
    let (gateway, listening, logs) = serve_near_the_limit(&path);
    let addr = listening.addr;

    let idle = open_idle_connections(&addr);

    let admin = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .get(format!("http://{}/admin/status", listening.admin_addr))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the admin listener answers");
    assert_eq!(admin.status(), 200);
    let cpu = cpu_over(gateway.id(), Duration::from_secs(1));
    assert!(
        cpu < 0.3,
        "the gateway used {cpu} s of CPU in 1 s while full"
    );
    eventually("the cap is logged", || {
        let seen = messages(&logs);
        async move { seen.iter().any(|m| m.starts_with("connection cap reached")) }
    })
    .await;

    drop(idle);
    eventually("a webhook is served once the idle clients left", || {
        let addr = addr.clone();
        async move { post_webhook(&addr).await == Some(200) }
    })
    .await;
}

#[tokio::test]
async fn out_of_descriptors_the_accept_loop_backs_off_and_logs_the_burst_once() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A cap above what the limit allows, so that accepts do fail.
    let too_many = "max_connections = 5000";
    let path = write_config(&dir, &config(&downstream.url("/in"), too_many));
    let (gateway, Listening { addr, .. }, logs) = serve_near_the_limit(&path);

    let idle = open_idle_connections(&addr);
    let mut seen = Vec::new();
    eventually("the failing accepts are logged", || {
        seen.extend(messages(&logs));
        let logged = seen
            .iter()
            .any(|m| m.starts_with("cannot accept connections"));
        async move { logged }
    })
    .await;
    let cpu = cpu_over(gateway.id(), Duration::from_secs(1));
    assert!(
        cpu < 0.3,
        "the gateway used {cpu} s of CPU in 1 s while out of descriptors"
    );

    drop(idle);
    eventually("a webhook is served once descriptors are free", || {
        let addr = addr.clone();
        async move { post_webhook(&addr).await == Some(200) }
    })
    .await;
    // Logs are written by a thread of their own: the line may follow the
    // answer.
    eventually("the recovery is logged", || {
        seen.extend(messages(&logs));
        let logged = seen.iter().any(|m| m == "accepting connections again");
        async move { logged }
    })
    .await;
    let bursts = seen
        .iter()
        .filter(|m| m.starts_with("cannot accept connections"))
        .count();
    assert_eq!(bursts, 1, "one line per burst: {seen:?}");
}
