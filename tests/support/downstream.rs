//! A downstream on port 0 that records every request and answers as told.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::{HeaderMap, StatusCode};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Request, Response};

/// One request as the downstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path it was sent to.
    pub path: String,
    /// Its query string, if it had one.
    pub query: Option<String>,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

/// A downstream that records every request and answers as told.
#[derive(Clone)]
pub struct Downstream {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    retry_after: Arc<Mutex<Option<String>>>,
    answer: Arc<Mutex<String>>,
}

struct Recorder(Downstream);

impl Endpoint for Recorder {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let body = request.take_body().into_vec().await.unwrap_or_default();
        // The answer (and its delay) is decided before the request is
        // recorded: a test that changes it once it sees a request changes
        // only the next answers.
        let status = StatusCode::from_u16(self.0.status.load(Ordering::SeqCst)).unwrap();
        let retry_after = self.0.retry_after.lock().unwrap().clone();
        let answer = self.0.answer.lock().unwrap().clone();
        let delay = self.0.delay_ms.load(Ordering::SeqCst);
        self.0.requests.lock().unwrap().push(Recorded {
            path: request.uri().path().to_string(),
            query: request.uri().query().map(str::to_string),
            headers: request.headers().clone(),
            body,
            at: Instant::now(),
        });
        // A slow downstream is what the tests that set a delay are about.
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut response = Response::builder().status(status);
        if let Some(seconds) = retry_after {
            response = response.header("Retry-After", seconds);
        }
        Ok(response.body(answer))
    }
}

impl Downstream {
    /// Starts one on 127.0.0.1, port 0, answering 200 at once.
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
            answer: Arc::new(Mutex::new("downstream says hi".into())),
        };
        let recorder = Recorder(downstream.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(recorder));
        downstream
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers every next request with `status`.
    pub fn answer_with(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Answers every next request with `body`.
    pub fn answer_body(&self, body: &str) {
        *self.answer.lock().unwrap() = body.to_string();
    }

    /// Adds `Retry-After: <value>` to every answer (None: no header).
    pub fn retry_after(&self, value: Option<&str>) {
        *self.retry_after.lock().unwrap() = value.map(str::to_string);
    }

    /// Answers every next request only after `delay`.
    pub fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}
