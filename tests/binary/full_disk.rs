//! A store that refuses writes, for real: the SQLite file on a small tmpfs
//! filled to the last byte while events wait for delivery. Delivery must not
//! turn into a flood (an event sent again at once because its outcome could
//! not be recorded), nor the log; once space is freed, every event is
//! delivered and recorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

use crate::process::{hookgate, serve_listening};

const TOKEN: &str = "admin-token-for-full-disk-tests";
/// Events waiting for delivery when the disk fills.
const EVENTS: usize = 8;

/// A 2 MB tmpfs mounted on a directory of its own, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one; `None`, with a message, where this process may not mount
    /// (not root, or a container without `CAP_SYS_ADMIN`).
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|output| output.status.success());
        if !mounted {
            eprintln!("skipping: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Writes a file until the disk refuses another byte.
    fn fill(&self) {
        let mut filler = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 4096];
        while filler.write_all(&chunk).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a gateway killed a moment ago may still hold the store open.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A queued chatwoot route, enabled or paused, storing on `store`.
fn config(downstream: &Downstream, store: &Path, enabled: bool) -> String {
    let keys = format!(
        "delivery = \"queued\"\nconcurrency = 2\nenabled = {enabled}\n\
         retry = {{ initial_backoff = \"50ms\", max_backoff = \"200ms\" }}"
    );
    format!(
        "{}\n[store]\npath = \"{}\"\n\n[admin]\ntoken = \"{TOKEN}\"\n",
        chatwoot_config(&downstream.url("/hook"), &keys),
        store.join("hookgate.db").display()
    )
}

/// The gateway as a client sees it.
struct Client {
    http: reqwest::Client,
    addr: String,
    admin_addr: String,
}

impl Client {
    async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("http://{}{path}", self.addr);
        let request = self.http.get(url).bearer_auth(TOKEN);
        request.send().await.unwrap()
    }

    async fn post_event(&self) -> u16 {
        let url = format!("http://{}{CHATWOOT_PATH}", self.addr);
        let mut request = self.http.post(url).body(EVENT);
        for (name, value) in chatwoot_headers(SECRET, now_secs(), EVENT) {
            request = request.header(name, value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    async fn generation(&self) -> u64 {
        let health: Value = self.get("/healthz").await.json().await.unwrap();
        health["config_generation"].as_u64().unwrap()
    }

    /// `hookgate_store_errors_total{operation="<operation>"}`, 0 when absent.
    async fn store_errors(&self, operation: &str) -> u64 {
        let metrics = self.get("/metrics").await.text().await.unwrap();
        let prefix = format!("hookgate_store_errors_total{{operation=\"{operation}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map_or(0, |count| count.parse().unwrap())
    }

    async fn queue_depth(&self) -> u64 {
        let url = format!("http://{}/admin/routes/chatwoot/queue", self.admin_addr);
        let request = self.http.get(url).bearer_auth(TOKEN);
        let view: Value = request.send().await.unwrap().json().await.unwrap();
        view["depth"].as_u64().unwrap()
    }
}

fn write_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.swp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Log lines at ERROR among `logs`.
fn errors(logs: &[Value]) -> Vec<&Value> {
    logs.iter().filter(|e| e["level"] == "ERROR").collect()
}

#[tokio::test]
async fn a_full_disk_under_the_store_floods_neither_the_downstream_nor_the_log() {
    let Some(disk) = Tmpfs::mount() else { return };
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.toml");
    std::fs::write(&path, config(&downstream, disk.path(), false)).unwrap();
    let (_gateway, listening, logs) = serve_listening(hookgate(), &path);
    let client = Client {
        http: reqwest::Client::new(),
        addr: listening.addr,
        admin_addr: listening.admin_addr,
    };
    for _ in 0..EVENTS {
        assert_eq!(client.post_event().await, 202);
    }
    disk.fill();

    write_by_rename(&path, &config(&downstream, disk.path(), true));
    eventually("the route enabled", || async {
        client.generation().await >= 2
    })
    .await;
    // Proof that the worker met the full disk several times (on a store
    // that answers again after each refusal, the flood shows first).
    eventually("the store refused several outcomes", || async {
        client.store_errors("record").await >= 5 || downstream.received().len() > 2 * EVENTS
    })
    .await;
    let sent_while_full = downstream.received().len();
    let logged_while_full: Vec<Value> = logs.try_iter().collect();
    disk.free();
    eventually("every event delivered and recorded", || async {
        client.queue_depth().await == 0
    })
    .await;

    assert!(
        sent_while_full <= 2 * EVENTS,
        "{sent_while_full} deliveries of {EVENTS} events while the disk was full"
    );
    let errors = errors(&logged_while_full);
    assert!(
        errors.len() <= 3,
        "{} ERROR lines while the disk was full: {errors:?}",
        errors.len()
    );
    let received = downstream.received();
    let ids: std::collections::HashSet<_> = (received.iter())
        .map(|r| r.headers["x-hookgate-event-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), EVENTS, "every event delivered");
    assert!(
        received.len() <= 2 * EVENTS,
        "{} deliveries of {EVENTS} events in all",
        received.len()
    );
}
