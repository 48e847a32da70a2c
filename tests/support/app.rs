//! The gateway in process on port 0, its config file, and how to stop it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use hookgate::server::Application;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::signing::{CHATWOOT_PATH, EVENT, SECRET, chatwoot_headers, now_secs};

/// Logs only when TEST_LOG is set, so failures stay readable.
fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("debug").init();
        }
    });
}

/// A running gateway on port 0 and its config file.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where the admin API listens; `None` when it is served on the public
    /// listener (`[admin] listen = "public"`).
    pub admin_addr: Option<SocketAddr>,
    /// Its config file, which the gateway watches.
    pub config_path: PathBuf,
    /// A client for it.
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    /// The task running `run_until_stopped`; taken by [`TestApp::stop`].
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://<admin address><path>`: the admin API's own listener, or the
    /// public one when the config serves it there.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr.unwrap_or(self.addr))
    }

    /// POSTs `body` to `path` with `headers`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await.expect("the gateway answers")
    }

    /// The body of `GET path`, as text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// The value of `series` on `/metrics`: a metric's name, with its labels
    /// when it has any (`hookgate_requests_total{route="a",outcome="b"}`);
    /// 0 while it is not shown.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.get_text("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |value| value.trim().parse().unwrap())
    }

    /// GETs `path` and parses the answer as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// The config generation `/healthz` reports.
    pub async fn config_generation(&self) -> u64 {
        let health = self.get_json("/healthz").await;
        health["config_generation"].as_u64().unwrap()
    }

    /// POSTs the sample event to the chatwoot route, validly signed now.
    pub async fn post_event(&self) -> reqwest::Response {
        let headers = chatwoot_headers(SECRET, now_secs(), EVENT);
        self.post(CHATWOOT_PATH, &headers, EVENT).await
    }

    /// Asks the gateway to stop and waits until `run_until_stopped` has
    /// returned: requests answered, delivery ended, listeners closed.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let server = self.server.take().expect("stop is called once");
        server
            .await
            .expect("the gateway's task does not panic")
            .expect("the gateway stops cleanly");
    }
}

impl Drop for TestApp {
    /// A test that does not call [`TestApp::stop`] still stops its gateway,
    /// without waiting for it.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A config with one chatwoot route at CHATWOOT_PATH forwarding to
/// `downstream`, served by one worker runtime.
pub fn chatwoot_config(downstream: &str, extra_route_keys: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
workers = 1

[routes.chatwoot]
path = "{CHATWOOT_PATH}"
downstream = "{downstream}"
timeout = "2s"
{extra_route_keys}

[routes.chatwoot.signature]
scheme = "chatwoot"
secrets = ["{SECRET}", "old-secret"]
"#
    )
}

/// `config` (a [`chatwoot_config`]) with `keys` added to its `[server]`.
pub fn with_server_keys(config: &str, keys: &str) -> String {
    config.replacen("workers = 1\n", &format!("workers = 1\n{keys}\n"), 1)
}

/// Writes `config` to a file of its own and runs the gateway on it.
pub async fn spawn_app(config: &str) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("routes.toml");
    let config = with_own_store(config, &dir.path().join("hookgate.db"));
    let config = with_admin_on_port_0(&config);
    std::fs::write(&config_path, config).unwrap();
    let app = Application::build(config_path.clone(), hookgate::config::Vars::default())
        .await
        .expect("the app builds");
    let addr = app.addr();
    let admin_addr = app.admin_addr();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        admin_addr,
        config_path,
        client: reqwest::Client::new(),
        shutdown,
        server: Some(server),
        _dir: dir,
    }
}

/// `config` with its store (and so its event log) at `path`, unless it
/// names one: tests running at once must not share the default
/// `data/hookgate.db` of the working directory.
fn with_own_store(config: &str, path: &std::path::Path) -> String {
    let line = format!("path = {:?}\n", path.display().to_string());
    match config.find("[store]\n") {
        None => format!("{config}\n[store]\n{line}"),
        Some(at) => {
            let table = &config[at..];
            let table = &table[..table[1..].find("\n[").map_or(table.len(), |end| end + 1)];
            if table.contains("\npath =") {
                config.to_string()
            } else {
                config.replacen("[store]\n", &format!("[store]\n{line}"), 1)
            }
        }
    }
}

/// `config` with the admin API on a port of its own picked by the system,
/// unless it names its `[admin] listen`: the default, 127.0.0.1:9180, would
/// be shared by the tests running at once.
pub fn with_admin_on_port_0(config: &str) -> String {
    let line = "listen = \"127.0.0.1:0\"\n";
    match config.find("[admin]\n") {
        None => format!("{config}\n[admin]\n{line}"),
        Some(at) => {
            let table = &config[at..];
            let table = &table[..table[1..].find("\n[").map_or(table.len(), |end| end + 1)];
            if table.contains("\nlisten =") {
                config.to_string()
            } else {
                config.replacen("[admin]\n", &format!("[admin]\n{line}"), 1)
            }
        }
    }
}

/// Redis on 127.0.0.1:6379, or a skip (a failure where it is required).
pub fn redis_url() -> Option<String> {
    if std::net::TcpStream::connect("127.0.0.1:6379").is_ok() {
        return Some("redis://127.0.0.1:6379".into());
    }
    let required = std::env::var_os("HOOKGATE_REQUIRE_REDIS").is_some();
    assert!(
        !required,
        "Redis is required here but 127.0.0.1:6379 does not answer"
    );
    eprintln!("skipping: no Redis on 127.0.0.1:6379 (.ci/run starts one)");
    None
}
