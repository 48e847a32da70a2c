//! spawn_app() on port 0, a recording downstream on port 0, and signing helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use hookgate::server::Application;
use poem::http::{HeaderMap, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Request, Response};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "test-secret";
pub const CHATWOOT_PATH: &str = "/api/webhooks/chatwoot";

/// Logs only when TEST_LOG is set, so failures stay readable.
fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("debug").init();
        }
    });
}

/// One request as the downstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

/// A downstream that records every request and answers as told.
#[derive(Clone)]
pub struct Downstream {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    retry_after: Arc<Mutex<Option<String>>>,
}

struct Recorder(Downstream);

impl Endpoint for Recorder {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let body = request.take_body().into_vec().await.unwrap_or_default();
        // The answer is decided before the request is recorded: a test that
        // changes it once it sees a request changes only the next answers.
        let status = StatusCode::from_u16(self.0.status.load(Ordering::SeqCst)).unwrap();
        let retry_after = self.0.retry_after.lock().unwrap().clone();
        self.0.requests.lock().unwrap().push(Recorded {
            path: request.uri().path().to_string(),
            headers: request.headers().clone(),
            body,
            at: Instant::now(),
        });
        let delay = self.0.delay_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut response = Response::builder().status(status);
        if let Some(seconds) = retry_after {
            response = response.header("Retry-After", seconds);
        }
        Ok(response.body("downstream says hi"))
    }
}

impl Downstream {
    pub async fn start() -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let downstream = Self {
            addr,
            requests: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::default(),
            retry_after: Arc::default(),
        };
        let recorder = Recorder(downstream.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(recorder));
        downstream
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Adds `Retry-After: <value>` to every answer (None: no header).
    pub fn retry_after(&self, value: Option<&str>) {
        *self.retry_after.lock().unwrap() = value.map(str::to_string);
    }

    pub fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A running gateway on port 0 and its config file.
pub struct TestApp {
    pub addr: SocketAddr,
    #[allow(dead_code)] // used by the reload tests
    pub config_path: PathBuf,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
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
}

impl TestApp {
    /// The body of `GET path`, as text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// GETs `path` and parses the answer as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// POSTs the sample event to the chatwoot route, validly signed now.
    pub async fn post_event(&self) -> reqwest::Response {
        let headers = chatwoot_headers(SECRET, now_secs(), EVENT);
        self.post(CHATWOOT_PATH, &headers, EVENT).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A config with one chatwoot route at CHATWOOT_PATH forwarding to `downstream`.
pub fn chatwoot_config(downstream: &str, extra_route_keys: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

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

pub async fn spawn_app(config: &str) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("routes.toml");
    std::fs::write(&config_path, config).unwrap();
    let app = Application::build(config_path.clone(), hookgate::config::Vars::default())
        .await
        .expect("the app builds");
    let addr = app.addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        config_path,
        client: reqwest::Client::new(),
        shutdown,
        _dir: dir,
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Chatwoot's headers for `body` signed with `secret` at unix time `ts`,
/// computed here independently of the gateway's code.
pub fn chatwoot_headers(secret: &str, ts: u64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let signature = hex::encode(mac.finalize().into_bytes());
    vec![
        ("X-Chatwoot-Signature", format!("sha256={signature}")),
        ("X-Chatwoot-Timestamp", ts.to_string()),
        (
            "X-Chatwoot-Delivery",
            "7f1c2d9e-5b8a-4c3e-9f0a-1b2c3d4e5f60".to_string(),
        ),
    ]
}

pub const EVENT: &[u8] = br#"{"event":"message_created","id":42,"content":"hello"}"#;

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
