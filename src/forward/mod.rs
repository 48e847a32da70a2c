//! The downstream call: one pooled client per worker, the header rules, the outcome.
//!
//! The client is hyper-util's, not reqwest's: on the benchmark (bench/) it
//! made the gateway markedly faster, see bench/README.md. It follows no
//! redirect and uses no proxy from the environment.
//!
//! - `headers`: the header rules of a forward.
//! - `outbound`: [`Outbound`], an event with its headers through those rules,
//!   what the queue stores and delivery sends.

mod headers;
mod outbound;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use poem::http::header::RETRY_AFTER;
use poem::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};

pub use headers::{EVENT_ID, Peer, REQUEST_ID, outgoing_headers};
pub use outbound::Outbound;

use crate::metrics::RouteMetrics;
use crate::routes::{Destination, Route};
use crate::signature::VerifiedBody;
use crate::telemetry::ClientSpan;

/// How much of a failing downstream's body is kept for the log.
const ERROR_BODY_EXCERPT: usize = 1024;
/// A downstream answer body is read to its end (so the connection can be
/// reused) up to this size; beyond it the connection is dropped instead.
const MAX_ANSWER_BODY: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a forward did not end in a 2xx.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The downstream answered, but not with a 2xx.
    #[error("downstream answered {status}")]
    Status {
        /// Its status.
        status: StatusCode,
        /// The start of its body, for the log.
        body: String,
        /// Its `Retry-After`, honoured by queued delivery on 429 and 503.
        retry_after: Option<HeaderValue>,
    },
    /// No answer within the route's timeout.
    #[error("downstream timed out after {0:?}")]
    Timeout(Duration),
    /// The connection could not be made or broke.
    #[error("downstream unreachable: {0}")]
    Unreachable(#[source] hyper_util::client::legacy::Error),
}

impl ForwardError {
    /// What went wrong, in a word (for a span: never the downstream's answer).
    pub fn kind(&self) -> &'static str {
        match self {
            ForwardError::Status { .. } => "status",
            ForwardError::Timeout(_) => "timeout",
            ForwardError::Unreachable(_) => "unreachable",
        }
    }

    /// The downstream's status, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ForwardError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Feeds a downstream call's outcome into the route's metrics and failure streak.
pub fn record(metrics: &RouteMetrics, route: &Route, forwarded: &Result<Delivered, ForwardError>) {
    match forwarded {
        Ok(delivered) => metrics.delivered(delivered.duration),
        Err(error) => {
            let status = error.status().map(|s| s.as_u16());
            metrics.failed(status, error.to_string(), route.alert_after);
        }
    }
}

/// Ends a downstream call's `span` (if traced) with the call's outcome;
/// `attempt` is a queued event's attempt number.
pub fn finish_span(
    span: Option<ClientSpan>,
    attempt: Option<u32>,
    forwarded: &Result<Delivered, ForwardError>,
) {
    let Some(span) = span else { return };
    match forwarded {
        Ok(delivered) => span.finish(attempt, Some(delivered.status), None),
        Err(error) => span.finish(attempt, error.status(), Some(error.kind())),
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the TLS root certificates: {0}")]
pub struct ClientError(#[source] std::io::Error);

/// A 2xx from the downstream.
#[derive(Debug)]
pub struct Delivered {
    /// Its status.
    pub status: StatusCode,
    /// How long the call took.
    pub duration: Duration,
    /// The first KiB of its answer.
    pub answer: Bytes,
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP client with its connection pool. Each worker runtime owns one, so
/// a request and its downstream connection stay on one thread; it lives
/// across reloads.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: HttpsClient,
}

/// The TLS settings every client shares, the system's root certificates
/// among them: read and parsed once per process, not once per client (a
/// client per worker thread, one for delivery).
fn tls_config() -> Result<rustls::ClientConfig, ClientError> {
    static SHARED: OnceLock<rustls::ClientConfig> = OnceLock::new();
    if let Some(config) = SHARED.get() {
        return Ok(config.clone());
    }
    let config = rustls::ClientConfig::builder()
        .with_native_roots()
        .map_err(ClientError)?
        .with_no_client_auth();
    // Two threads may both have read the roots; one config is kept.
    Ok(SHARED.get_or_init(|| config).clone())
}

impl Forwarder {
    /// A client for http and https downstreams (the system's root certificates).
    pub fn new() -> Result<Self, ClientError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        // A clone shares the parsed roots (the verifier is behind an `Arc`).
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self { client })
    }

    /// POSTs `body`, the event `event_id` of `route`, to `destination`
    /// with the forwarded headers; with `span`, its `traceparent` instead of
    /// the source's.
    #[allow(clippy::too_many_arguments)] // one call site, each a distinct fact of the request
    pub async fn forward(
        &self,
        route: &Route,
        destination: &Destination,
        incoming: &HeaderMap,
        peer: Peer,
        request_id: &HeaderValue,
        event_id: &HeaderValue,
        body: &VerifiedBody,
        span: Option<&ClientSpan>,
    ) -> Result<Delivered, ForwardError> {
        let mut headers = outgoing_headers(incoming, peer, request_id, &route.route_header);
        headers.insert(EVENT_ID.clone(), event_id.clone());
        if let Some(span) = span {
            span.inject(&mut headers);
        }
        let id = event_id.to_str().unwrap_or_default();
        self.post(destination, id, headers, body.bytes().clone())
            .await
    }

    /// POSTs `outbound`, the stored event `event_id`, to `destination` (its
    /// live settings: URL, timeout, headers, signing key) as it is: its
    /// headers went through the rules when it was made. With `span`, its
    /// `traceparent` is sent.
    pub async fn send(
        &self,
        destination: &Destination,
        event_id: &str,
        outbound: &Outbound,
        span: Option<&ClientSpan>,
    ) -> Result<Delivered, ForwardError> {
        debug_assert_eq!(
            outbound.lane(),
            destination.lane,
            "an event sent to another destination"
        );
        let body = outbound.body().bytes().clone();
        let mut headers = outbound.headers().clone();
        if let Some(span) = span {
            span.inject(&mut headers);
        }
        self.post(destination, event_id, headers, body).await
    }

    async fn post(
        &self,
        destination: &Destination,
        event_id: &str,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Delivered, ForwardError> {
        for (name, value) in &destination.headers {
            headers.insert(name.clone(), value.clone());
        }
        // Signed at each attempt: a retry hours later still carries a fresh
        // timestamp, and a key changed by a reload applies at once.
        if let Some(signer) = &destination.sign {
            for (name, value) in signer.headers(event_id, &body, SystemTime::now()) {
                let value = HeaderValue::try_from(value).expect("ids and base64 are header-safe");
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let timeout = destination.timeout;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = destination.uri.clone();
        *request.headers_mut() = headers;
        let started = Instant::now();
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(ForwardError::Unreachable)?;
            let status = response.status();
            let retry_after = response.headers().get(RETRY_AFTER).cloned();
            let answer = Limited::new(response.into_body(), MAX_ANSWER_BODY)
                .collect()
                .await;
            let answer = answer.map(|b| b.to_bytes()).unwrap_or_default();
            Ok::<_, ForwardError>((status, retry_after, answer))
        };
        let (status, retry_after, answer) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| ForwardError::Timeout(timeout))??;
        if !status.is_success() {
            let shown = &answer[..answer.len().min(ERROR_BODY_EXCERPT)];
            let body = String::from_utf8_lossy(shown).into_owned();
            return Err(ForwardError::Status {
                status,
                body,
                retry_after,
            });
        }
        Ok(Delivered {
            status,
            duration: started.elapsed(),
            answer: answer.slice(..answer.len().min(ERROR_BODY_EXCERPT)),
        })
    }
}
