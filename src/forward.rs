//! The downstream call: one pooled client, the header rules, the outcome.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use poem::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;

use crate::routes::Route;
use crate::signature::VerifiedBody;

/// How much of a failing downstream's body is kept for the log.
const ERROR_BODY_EXCERPT: usize = 1024;

/// Headers that describe one hop, not the event (RFC 9110 §7.6.1), plus the
/// ones the client computes itself.
static HOP_BY_HOP: [HeaderName; 11] = [
    header::CONNECTION,
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// The `X-Request-Id` header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static HOOKGATE_ROUTE: HeaderName = HeaderName::from_static("x-hookgate-route");

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
    },
    /// No answer within the route's timeout.
    #[error("downstream timed out after {0:?}")]
    Timeout(Duration),
    /// The connection could not be made or broke.
    #[error("downstream unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
}

/// A 2xx from the downstream.
#[derive(Debug)]
pub struct Delivered {
    /// Its status.
    pub status: StatusCode,
    /// How long the call took.
    pub duration: Duration,
}

/// Who sent the request to the gateway, for the `X-Forwarded-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address, when known.
    pub ip: Option<IpAddr>,
    /// Whether the gateway's own listener spoke TLS.
    pub tls: bool,
}

/// The shared HTTP client. It lives as long as the process, across reloads,
/// so its connection pool does too.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: reqwest::Client,
}

impl Forwarder {
    /// A client that never follows redirects: a webhook is posted exactly where configured.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { client })
    }

    /// POSTs `body` to the route's downstream with the forwarded headers.
    pub async fn forward(
        &self,
        route: &Route,
        incoming: &HeaderMap,
        peer: Peer,
        request_id: &HeaderValue,
        body: &VerifiedBody,
    ) -> Result<Delivered, ForwardError> {
        let headers = outgoing_headers(incoming, peer, request_id, &route.route_header);
        let started = Instant::now();
        let response = self
            .client
            .post(route.downstream.clone())
            .headers(headers)
            .timeout(route.timeout)
            .body(body.bytes().clone())
            .send()
            .await
            .map_err(|e| classify(e, route.timeout))?;
        let status = response.status();
        if !status.is_success() {
            let body = excerpt(response).await;
            return Err(ForwardError::Status { status, body });
        }
        Ok(Delivered {
            status,
            duration: started.elapsed(),
        })
    }
}

fn classify(error: reqwest::Error, timeout: Duration) -> ForwardError {
    if error.is_timeout() {
        ForwardError::Timeout(timeout)
    } else {
        ForwardError::Unreachable(error)
    }
}

/// The first [`ERROR_BODY_EXCERPT`] bytes of a body, lossily as text.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < ERROR_BODY_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(ERROR_BODY_EXCERPT);
    String::from_utf8_lossy(&kept).into_owned()
}

/// The source's end-to-end headers, less hop-by-hop ones, plus the gateway's own.
pub fn outgoing_headers(
    incoming: &HeaderMap,
    peer: Peer,
    request_id: &HeaderValue,
    route: &HeaderValue,
) -> HeaderMap {
    let named_by_connection = connection_tokens(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming {
        let hop = HOP_BY_HOP.contains(name) || named_by_connection.contains(name);
        if !hop && *name != FORWARDED_FOR {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(value) = forwarded_for(incoming, peer.ip) {
        out.insert(FORWARDED_FOR.clone(), value);
    }
    if !out.contains_key(&FORWARDED_PROTO) {
        let proto = if peer.tls { "https" } else { "http" };
        out.insert(FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    }
    out.insert(REQUEST_ID.clone(), request_id.clone());
    out.insert(HOOKGATE_ROUTE.clone(), route.clone());
    out
}

/// Header names listed in `Connection`, which are hop-by-hop too.
fn connection_tokens(incoming: &HeaderMap) -> Vec<HeaderName> {
    incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::try_from(token.trim()).ok())
        .collect()
}

/// The incoming chain, if any, with the peer's address appended.
fn forwarded_for(incoming: &HeaderMap, ip: Option<IpAddr>) -> Option<HeaderValue> {
    let previous: Vec<&str> = incoming
        .get_all(&FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut chain = previous.join(", ");
    if let Some(ip) = ip {
        if !chain.is_empty() {
            chain.push_str(", ");
        }
        chain.push_str(&ip.to_string());
    }
    HeaderValue::try_from(chain).ok().filter(|v| !v.is_empty())
}
