//! Reload as the operator reads it in the log: a bad file is told once.

use std::path::Path;

use serde_json::Value;
use support::*;

use crate::process::{serve_with_logs, write_config};

/// Every `hookgate_config_reloads_total`, whatever its result.
async fn reloads(addr: &str) -> u64 {
    let url = format!("http://{addr}/metrics");
    let metrics = reqwest::get(url).await.unwrap().text().await.unwrap();
    (metrics.lines())
        .filter(|line| line.starts_with("hookgate_config_reloads_total{"))
        .filter_map(|line| line.rsplit(' ').next())
        .map(|count| count.parse::<u64>().unwrap())
        .sum()
}

/// Writes `bytes` to `path` (in place), then waits until the gateway has
/// read the file since: one more reload counted, whatever its result.
async fn write_and_wait(addr: &str, path: &Path, bytes: &[u8]) {
    let before = reloads(addr).await;
    std::fs::write(path, bytes).unwrap();
    eventually("the file read again", || async {
        reloads(addr).await > before
    })
    .await;
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_logged_once_until_it_changes() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let valid = chatwoot_config(&downstream.url("/hook"), "");
    let config = write_config(&dir, &valid);
    let (mut child, addr, logs) = serve_with_logs(&config);
    let not_utf8 = b"[routes.chatwoot]\npath = \"/\xff\xfe\"\n";

    // The same bad bytes, written three times: each write is read.
    for _ in 0..3 {
        write_and_wait(&addr, &config, not_utf8).await;
    }
    write_and_wait(&addr, &config, format!("{valid}# fixed\n").as_bytes()).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let unreadable: Vec<Value> = logs
        .iter()
        .filter(|e| e["level"] == "WARN")
        .filter(|e| {
            e["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("unreadable")
        })
        .collect();
    assert_eq!(unreadable.len(), 1, "{unreadable:#?}");
}
